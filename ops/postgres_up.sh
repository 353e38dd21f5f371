#!/bin/bash
# Start a throwaway PostgreSQL (no systemd) under $BASE, TCP on 127.0.0.1:$PORT
# plus a unix socket in $BASE/run; database appdb, user app / $PASSWORD.
# The server refuses to run as root, so it runs as the packaged postgres user.
set -euo pipefail
BASE=${BASE:-/tmp/ci/postgres}; PORT=${PORT:-15432}; PASSWORD=${PASSWORD:-apppass}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { runuser -u postgres -- "$@"; }
if as_pg "$BIN/pg_isready" -q -h "$BASE/run" -p "$PORT" 2>/dev/null; then
  echo "PostgreSQL already up under $BASE"; exit 0
fi
mkdir -p "$BASE/run"; chown -R postgres:postgres "$BASE"; chmod 0700 "$BASE"
[ -f "$BASE/data/PG_VERSION" ] || as_pg "$BIN/initdb" -D "$BASE/data" -U postgres \
  --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
  > "$BASE/initdb.log" 2>&1
as_pg "$BIN/pg_ctl" -D "$BASE/data" -l "$BASE/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $BASE/run -c fsync=off" start >/dev/null
as_pg "$BIN/psql" -q -h "$BASE/run" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN
    CREATE ROLE app LOGIN CREATEDB PASSWORD '$PASSWORD';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE appdb OWNER app' WHERE NOT EXISTS
  (SELECT FROM pg_database WHERE datname = 'appdb') \gexec
SQL
echo "PostgreSQL up: 127.0.0.1:$PORT, socket $BASE/run"
