"""The process of one background job: run a CLI command, then write its exit status.

``python -m imageworks.gui.job_process EXIT_FILE PROGRAM ARGS...`` runs ``ARGS`` through
:func:`imageworks.cli.main.run`, the console scripts' own code path (structured log
included), and writes the exit status to ``EXIT_FILE`` (through a temporary file, so a
reader never sees half of it). A process ended by a signal writes nothing: the job
registry (:mod:`imageworks.gui.jobs`) then knows it was cancelled or killed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str]) -> int:
    """Run the job described by ``argv`` (``EXIT_FILE PROGRAM ARGS...``); return its exit status."""
    from imageworks.cli.main import PROGRAMS, run

    exit_file, program, *args = argv
    if program not in PROGRAMS:
        print(f"Error: unknown program {program!r}", file=sys.stderr)
        return 1
    code = run(program, args)
    temporary = Path(f"{exit_file}.tmp")
    temporary.write_text(str(code), encoding="utf-8")
    os.replace(temporary, exit_file)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
