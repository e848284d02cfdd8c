"""Run ``imageworks-download ARGS`` in this process and SIGKILL it just before its Nth ``os.replace``.

Every step of a fold or a share that others can see ends in a rename (a new link, a
journal save, a manifest, a registry commit), so killing just before the Nth rename
kills at each such point in turn. Usage: ``python die_at.py N ARGS...``; prints the
number of renames made to stderr when it was not killed.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from imageworks.cli.main import run

target = int(sys.argv[1])
renames = 0
real_replace = os.replace


def replace(*args: Any, **kwargs: Any) -> None:
    global renames
    renames += 1
    if renames == target:
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(*args, **kwargs)


os.replace = replace
code = run("download", sys.argv[2:])
print(f"renames={renames}", file=sys.stderr)
sys.exit(code)
