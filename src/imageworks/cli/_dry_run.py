"""One dry-run convention for every command that removes or replaces registry entries.

Such a command shows its plan and writes nothing unless ``--apply`` is given; the
guide's ``--dry-run`` is still accepted (it is the default, so it changes nothing), and
passing both is a usage error. Imports (``scan``, ``import-ollama``, ...) add what they
find and write unless ``--dry-run``; ``remove`` acts only with ``--force``
(docs/cleanup.md, "One dry-run convention").
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

DRY_RUN_HELP = "Show the plan and write nothing (the default)."
APPLY_HELP = "Carry the plan out (without it, nothing is written)."
APPLY_HINT = "Pass --apply to carry it out."


def preview_unless_apply(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--dry-run`` and ``--apply``; ``command`` receives ``dry_run`` (true unless ``--apply``).

    Put it below ``@click.command`` (it adds two Click options to the function).
    """

    @functools.wraps(command)
    def wrapper(*args: Any, dry_run: bool, apply: bool, **kwargs: Any) -> Any:
        if dry_run and apply:
            raise click.UsageError("--dry-run and --apply contradict each other (the default is --dry-run)")
        return command(*args, dry_run=not apply, **kwargs)

    wrapper = click.option("--apply", is_flag=True, help=APPLY_HELP)(wrapper)
    return click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)(wrapper)
