#!/usr/bin/env python
"""What cron calls: `scripts/retrain.py <policy id>` = `manage.py retrain run <id>`."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: scripts/retrain.py <retrain policy id>")
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlframework.settings")
    # After the usage check: a bad invocation from cron fails without Django.
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", "retrain", "run", sys.argv[1]])


if __name__ == "__main__":
    main()
