"""What a source's import reports, in a shape every front end prints the same way.

``scan``, ``import-ollama`` and the loader's composite commands ask a source to
:meth:`~imageworks.core.interfaces.Source.import_models`; what comes back satisfies
:class:`ImportOutcome`: warnings for stderr, a table (one row per model and what was
done to it), a summary line, and a plain JSON form for ``--json``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

ProgressBar = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
"""``bar(label, total)`` opens a progress display; the callable it yields advances it by n."""


@runtime_checkable
class ImportOutcome(Protocol):
    """The result of bringing a source's models into the registry (or a dry run of it)."""

    @property
    def warnings(self) -> Sequence[str]:
        """Problems met on the way that did not stop the import."""
        ...

    def headers(self) -> list[str]:
        """Column names of :meth:`rows`."""
        ...

    def rows(self) -> list[list[str]]:
        """One row per model: what it is and what the import did (or would do)."""
        ...

    def summary(self) -> str:
        """One line: how many of each action (and whether it was a dry run)."""
        ...

    def to_json(self) -> Any:
        """The plain JSON form printed by ``--json``."""
        ...
