"""mlframework: train tabular models, try them, and dispatch them on a schedule."""

import os

from mlframework.lib.sqlite_tuning import disable_memory_statistics

# Every process of the platform (manage.py and so db_worker, gunicorn's workers
# through wsgi, the cron scripts) imports this package first, through its
# settings, before it opens any file: from here on whatever it creates under
# var/ (SQLite files and their -wal/-shm, secret key, spool, datasets, models,
# logs) is the server user's alone, 0600 files in 0700 folders.
os.umask(0o077)

# Before anything opens SQLite (see sqlite_tuning).
disable_memory_statistics()
