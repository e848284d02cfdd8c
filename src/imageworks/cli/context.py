"""What every command can reach: the merged config and, opened on demand, the registry."""

from __future__ import annotations

import attrs

from imageworks.core.config import Config
from imageworks.core.registry import Registry


@attrs.define
class AppContext:
    """Passed to commands as ``click``'s ``obj``."""

    config: Config
    _registry: Registry | None = None

    @property
    def registry(self) -> Registry:
        """The registry of ``config``, opened on first use."""
        if self._registry is None:
            self._registry = Registry.open(self.config)
        return self._registry
