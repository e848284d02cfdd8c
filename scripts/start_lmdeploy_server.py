"""Start LMDeploy for a registry variant (guide 10): ``imageworks-download serve-lmdeploy`` as a script.

Builds ``lmdeploy serve api_server`` from the registry (folder, ``--model-name``,
``--model-format``, ``--session-len``), warns about a missing chat template or
generation config, refuses a variant that is not installed or is locked and drifted,
then runs it and waits for ``/v1/models``::

    uv run python scripts/start_lmdeploy_server.py VARIANT --print
    uv run python scripts/start_lmdeploy_server.py VARIANT --port 23334 -- --backend pytorch

Every flag of ``serve-lmdeploy`` works (``--help`` lists them).
"""

from __future__ import annotations

import sys

from imageworks.cli.main import run


def main(argv: list[str] | None = None) -> int:
    """Run ``serve-lmdeploy`` with ``argv`` (default: the command line); return the exit status."""
    return run("download", ["serve-lmdeploy", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
