"""What every command can reach: the merged config, the plugins and, opened on demand, the registry."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import attrs
import click

from imageworks.core.config import Config
from imageworks.core.plugins import PluginHost

if TYPE_CHECKING:  # imported when a command opens the registry, not to build --help
    from imageworks.core.plans import SourceContext
    from imageworks.core.registry import Registry


@attrs.define
class AppContext:
    """Passed to commands as ``click``'s ``obj``."""

    config: Config
    plugins: PluginHost
    _registry: Registry | None = None

    @property
    def registry(self) -> Registry:
        """The registry of ``config``, opened on first use (one per command)."""
        if self._registry is None:
            from imageworks.core.registry import Registry

            self._registry = Registry.open(self.config, self.plugins)
        return self._registry

    def source_context(self, interactive: bool = False, progress: bool = False, read_headers: bool = True) -> SourceContext:
        """What sources get: config, plugins, registry; a prompt when ``interactive``, a
        progress display when ``progress``; header reads for ``analyze`` unless told not."""
        from imageworks.cli import _output as out
        from imageworks.core.source_inputs import SourceContext

        ask = _ask if interactive and sys.stdin.isatty() else None
        return SourceContext(
            config=self.config, plugins=self.plugins, registry=self.registry, choose=ask,
            progress_bar=out.progress if progress else None, read_headers=read_headers,
        )


def _ask(question: str, choices: list[str], default: str) -> str:
    """Ask on the terminal (stderr, so stdout stays clean for --json)."""
    answer: str = click.prompt(question, type=click.Choice(choices), default=default, err=True)
    return answer
