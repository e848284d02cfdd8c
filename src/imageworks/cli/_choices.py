"""Options with a closed set of values: check them before a command acts.

A format, location label or backend that nothing knows is a typo, not a filter that
matches nothing: it gets one ``Error:`` line naming the closest known values (exit 1).
The known values are the built-in ones plus what the configuration and the registry
hold, so a plugin's format or a configured label passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import click

from imageworks.core.config import Config
from imageworks.core.detection import CONTAINERS, METHOD_FORMATS
from imageworks.core.errors import ImageworksError
from imageworks.core.model import RegistryEntry

# The formats users name (guide 4.2): what detection records, and the float and container
# names `download --format` accepts to pick weights.
KNOWN_FORMATS = frozenset(
    {"gguf", *METHOD_FORMATS, *CONTAINERS, "fp8", "fp16", "bf16", "fp32", "compressed-tensors", "bin", "onnx"}
)
_ROLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")

__all__ = ["KNOWN_FORMATS", "check_backend", "check_format", "check_location", "check_role"]


def _unknown(kind: str, value: str, known: Iterable[str]) -> ImageworksError:
    import difflib  # only to word an error

    ordered = sorted(set(known))
    close = difflib.get_close_matches(value.lower(), ordered, n=3, cutoff=0.5)
    hint = ("closest: " + ", ".join(close) + "; " if close else "") + "known: " + ", ".join(ordered)
    return ImageworksError(f"unknown {kind} {value!r}", hint)


def check_backend(value: str | None, entries: Iterable[RegistryEntry]) -> str | None:
    """``value`` if it names a backend the tool or the registry knows (``None`` passes), else
    raise: the rule of ``reset-discovered`` (:func:`imageworks.services.maintain.cleanup.check_backend`),
    imported when a backend is named, so building ``--help`` loads no maintenance service."""
    if value is None:
        return None
    from imageworks.services.maintain.cleanup import check_backend as known_backend

    return known_backend(value, list(entries))


def check_format(value: str | None, entries: Iterable[RegistryEntry]) -> str | None:
    """``value`` if it names a format the tool or the registry knows (``None`` passes), else raise."""
    if value is None:
        return None
    known = set(KNOWN_FORMATS) | {e.download_format.lower() for e in entries if e.download_format}
    if value.strip().lower() in known:
        return value.strip()
    raise _unknown("format", value, known)


def check_location(value: str | None, config: Config, entries: Iterable[RegistryEntry] = ()) -> str | None:
    """``value`` if it is a configured location label, ``ollama`` (the label of an Ollama
    store outside them) or one the registry records, else raise."""
    if value is None:
        return None
    known = {"ollama"} | {label.lower() for label in config.locations} | {
        e.download_location.lower() for e in entries if e.download_location
    }
    if value.strip().lower() in known:
        return value.strip()
    raise _unknown("location label", value, known)


def check_role(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """Click callback for ``--role``: each a non-empty name (letters, digits, ``_.:-``)."""
    for value in values:
        if not _ROLE.match(value):
            raise click.BadParameter(
                f"{value!r} is not a role name (a letter or digit, then letters, digits, '_', '.', ':' or '-')"
            )
    return values
