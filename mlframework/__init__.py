"""mlframework: train tabular models, try them, and dispatch them on a schedule."""

from mlframework.lib.sqlite_tuning import disable_memory_statistics

# Before anything opens SQLite (see sqlite_tuning): every Django process of the
# platform imports this package first, through its settings.
disable_memory_statistics()
