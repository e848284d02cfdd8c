"""Import the local Ollama models into the registry (guide 6.3, 7.4).

A thin wrapper over ``imageworks-download import-ollama`` (and so over
:func:`imageworks.providers.ollama.importer.import_ollama`)::

    uv run python scripts/import_ollama_models.py --dry-run
    uv run python scripts/import_ollama_models.py --backend ollama --location linux_wsl --deprecate-placeholders

Flags: ``--dry-run``, ``--backend NAME``, ``--location LABEL``,
``--deprecate-placeholders``, plus ``--no-api`` and ``--json``.
"""

from __future__ import annotations

import sys

from imageworks.cli.main import run


def main(argv: list[str] | None = None) -> int:
    """Run the import with ``argv`` (default: the command line); return the exit status."""
    return run("download", ["import-ollama", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
