#!/bin/bash
# Stop the throwaway PostgreSQL that postgres_up.sh started under $BASE.
BASE=${BASE:-/tmp/ci/postgres}
[ -f "$BASE/data/postmaster.pid" ] || exit 0
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
runuser -u postgres -- "$BIN/pg_ctl" -D "$BASE/data" -m fast -w -t 60 stop >/dev/null
