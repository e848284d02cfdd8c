"""What every :class:`~imageworks.core.interfaces.Source` method is handed: the user's
request and what the source may use. Apart from the rest of :mod:`imageworks.core.plans`
(which re-exports both), so that the no-op re-run builds only these two classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from imageworks.core.config import Config
    from imageworks.core.plugins import PluginHost
    from imageworks.core.registry import Registry
    from imageworks.core.reports import ProgressBar

Chooser = Callable[[str, list[str], str], str]
"""Asks the user to pick one of ``choices``: ``(question, choices, default) -> choice``."""


def string_tuple(values: Iterable[str]) -> tuple[str, ...]:
    """``converter=tuple`` for a field of strings, typed: mypy's attrs plugin cannot solve the generic ``tuple``."""
    return tuple(values)


@attrs.frozen(kw_only=True)
class AcquireRequest:
    """The user's flags for one ``download`` (guide 6.1, 7.1); sources read what applies."""

    format_hint: str | None = None
    location: str | None = None
    include_optional: bool = False
    weights: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    support_repo: str | None = None
    sha256: str | None = None
    force: bool = False
    non_interactive: bool = True
    engine: str | None = None  # "python" or "aria2"; None: config's transfer_engine


@attrs.frozen(kw_only=True)
class SourceContext:
    """What a source may use while planning and acquiring: config, plugins, registry.

    ``choose`` is set on an interactive terminal (``None`` means: never ask, take the
    preferred choice); ``progress_bar`` shows long work (``None``: show nothing);
    ``read_headers`` False tells :meth:`~imageworks.core.interfaces.Source.analyze` to
    skip the weight-header reads of the memory estimate (``analyze --no-memory``).
    """

    config: Config
    plugins: PluginHost
    registry: Registry
    choose: Chooser | None = None
    progress_bar: ProgressBar | None = None
    read_headers: bool = True
