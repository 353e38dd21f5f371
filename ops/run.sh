#!/usr/bin/env bash
# Start the web server (gunicorn, static files by whitenoise) and the task
# worker together; Ctrl-C or TERM stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIND=${MLFRAMEWORK_BIND:-127.0.0.1:8000}
mkdir -p var/logs
pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT
.venv/bin/python manage.py db_worker --queue-name '*' --interval 1 &
pids+=($!)
# showroom.gunicorn preloads the aliased model versions in each worker.
.venv/bin/gunicorn mlframework.wsgi:application -c python:showroom.gunicorn \
  --bind "$BIND" --workers 2 \
  --threads 4 --timeout 120 --access-logfile - &
pids+=($!)
echo "mlframework is running on http://$BIND/ (Ctrl-C stops it)"
wait -n "${pids[@]}"
