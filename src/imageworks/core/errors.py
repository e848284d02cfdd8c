"""Errors the user can act on.

Every failure a user can cause or fix is an :class:`ImageworksError`: front ends print
``str(error)`` as one line and exit with status 1. Anything else is a bug and gets a
traceback only under ``IMAGEWORKS_DEBUG=1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imageworks.core.model import RegistryEntry


class ImageworksError(Exception):
    """A failure with a one-line message that says what happened and what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} ({hint})")


class SourceOfflineError(ImageworksError):
    """A source could not be asked (switched off, or its host unreachable).

    ``installed`` is the entry a plain re-run found installed and intact, whose
    currency could not be checked: ``download`` then reports it and succeeds.
    """

    def __init__(self, message: str, hint: str | None = None, *, installed: RegistryEntry | None = None) -> None:
        self.installed = installed
        super().__init__(message, hint)


class VariantNotFoundError(ImageworksError):
    """No registry entry has the requested name."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = (
            "closest: " + ", ".join(suggestions)
            if suggestions
            else "run `imageworks-download list --include-logical` to see every name"
        )
        super().__init__(f"no model variant named {name!r}", hint)


class RegistryCorruptError(ImageworksError):
    """A registry file could not be parsed; it is left exactly as it was."""

    def __init__(self, path: Path, line: int | None, column: int | None, detail: str) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = f"{path}:{line}:{column}" if line is not None else str(path)
        super().__init__(
            f"registry file {where} is damaged: {detail}",
            "fix or restore the file (backups are kept under the registry's backups/ folder); it was not modified",
        )


class UnsafePathError(ImageworksError):
    """A path would escape the directory it must stay inside."""


class ConfigError(ImageworksError):
    """A configuration value is invalid."""


class UnreadableFileError(ImageworksError, OSError):
    """A file that must be a small regular file is not: a FIFO, a device, a folder, or too large.

    It is an :class:`OSError` too, so code that treats an unreadable file as missing
    evidence keeps doing so.
    """


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message, or its class name when it has none (for one-line reasons)."""
    return (str(error).splitlines() or [type(error).__name__])[0] or type(error).__name__
