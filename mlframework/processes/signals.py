from django.dispatch import Signal

# Sent after every sweep of the workers (mlframework.processes.services.sweep),
# with `stopped`: the workers no longer running whose tasks may be orphaned.
# Apps that track their own tasks (registry's training jobs) connect to it.
swept = Signal()
