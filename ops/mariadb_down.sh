#!/bin/bash
# From shared/recipes: a throwaway MariaDB for the tests (127.0.0.1 only).
BASE=${BASE:-/tmp/ci/mariadb}
PID=$(cat "$BASE/run/mysqld.pid" 2>/dev/null) || exit 0
kill -TERM "$PID"; for i in $(seq 1 60); do kill -0 "$PID" 2>/dev/null || exit 0; sleep 0.5; done; exit 1
