#!/usr/bin/env bash
# Start the web server (gunicorn, static files by whitenoise) and the task
# worker under the supervisor (manage.py supervise): either is restarted when
# it dies; Ctrl-C or TERM stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIND=${MLFRAMEWORK_BIND:-127.0.0.1:8000}
# What this shell creates is private too, as what Python creates (mlframework/__init__.py).
umask 077
mkdir -p var/logs
# Dispatches are fired by the cron daemon. Where no init system started it
# (containers, machines without systemd), start it: it stays up after this
# script, as the scheduler the crontab lines need.
if ! pgrep -x cron >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then cron && echo "cron daemon started"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo cron && echo "cron daemon started"
  else
    echo "WARNING: the cron daemon is not running, so dispatches will not run;" \
      "start it (sudo service cron start) and the Monitor will show it up." >&2
  fi
fi
exec .venv/bin/python manage.py supervise --bind "$BIND"
