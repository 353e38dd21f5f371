#!/usr/bin/env python3
"""Print the Monitor summary for shells and cron; exit non-zero on failure.

A thin entrypoint for `manage.py monitor` (arguments pass through), e.g. in
the crontab: ``*/5 * * * * cd /srv/mlframework && .venv/bin/python
scripts/monitor.py``. It runs under the project's .venv when started with
another interpreter.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

if __name__ == "__main__":
    if (
        VENV_PYTHON.exists()
        and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve()
    ):
        argv = [str(VENV_PYTHON), __file__, *sys.argv[1:]]
        os.execv(argv[0], argv)  # noqa: S606 (our own venv's interpreter)
    sys.path.insert(0, str(ROOT))
    sys.argv = [str(ROOT / "manage.py"), "monitor", *sys.argv[1:]]
    import manage  # only importable once ROOT is on sys.path (the line above)

    manage.main()
