#!/bin/bash
# From shared/recipes: a throwaway MariaDB for the tests (127.0.0.1 only).
# Start a throwaway MariaDB (no systemd) under $BASE, TCP on 127.0.0.1:$PORT + unix socket.
set -euo pipefail
BASE=${BASE:-/tmp/ci/mariadb}; PORT=${PORT:-13306}
if mariadb-admin --no-defaults --socket="$BASE/run/mysqld.sock" -uroot ping >/dev/null 2>&1; then
  echo "MariaDB already up under $BASE"; exit 0
fi
mkdir -p "$BASE/data" "$BASE/run"; chown -R mysql:mysql "$BASE"
[ -d "$BASE/data/mysql" ] || mariadb-install-db --no-defaults --user=mysql --datadir="$BASE/data" \
      --auth-root-authentication-method=socket --skip-test-db > "$BASE/install-db.log" 2>&1
mariadbd --no-defaults --user=mysql --datadir="$BASE/data" --socket="$BASE/run/mysqld.sock" \
  --pid-file="$BASE/run/mysqld.pid" --bind-address=127.0.0.1 --port="$PORT" --skip-name-resolve \
  --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
  --log-error="$BASE/error.log" > "$BASE/stdout.log" 2>&1 &
for i in $(seq 1 120); do   # readiness: ping over the socket, up to 60 s
  mariadb-admin --no-defaults --socket="$BASE/run/mysqld.sock" -uroot ping >/dev/null 2>&1 && break
  sleep 0.5; [ "$i" = 120 ] && { cat "$BASE/error.log"; exit 1; }
done
mariadb --no-defaults --socket="$BASE/run/mysqld.sock" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS appdb CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'app'@'127.0.0.1' IDENTIFIED BY 'apppass';
CREATE USER IF NOT EXISTS 'app'@'localhost' IDENTIFIED BY 'apppass';
GRANT ALL ON appdb.* TO 'app'@'127.0.0.1'; GRANT ALL ON appdb.* TO 'app'@'localhost';
GRANT ALL ON \`test\_%\`.* TO 'app'@'127.0.0.1'; GRANT ALL ON \`test\_%\`.* TO 'app'@'localhost';
SQL
echo "MariaDB up: pid $(cat "$BASE/run/mysqld.pid"), 127.0.0.1:$PORT, socket $BASE/run/mysqld.sock"
