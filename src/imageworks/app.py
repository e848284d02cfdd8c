"""The composition root for library use: this process's plugins, config and registry.

The core never finds plugins on its own; front ends hand it a
:class:`~imageworks.core.plugins.PluginHost`. The CLI builds one per run
(``cli/context.py``); the guide's Python API and scripts use these helpers, which wire
the process-wide host (built on first use) to the merged configuration.
"""

from __future__ import annotations

from imageworks.core.config import Config, load_config
from imageworks.core.detection import FormatDetector
from imageworks.core.plugins import PluginHost, get_plugins
from imageworks.core.registry import Registry


def plugins() -> PluginHost:
    """The process-wide plugin host."""
    return get_plugins()


def open_registry(config: Config | None = None) -> Registry:
    """The registry of ``config`` (default: the merged configuration), with this process's plugins."""
    return Registry.open(config or load_config(), get_plugins())


def format_detector() -> FormatDetector:
    """A :class:`FormatDetector` over every registered detector."""
    return FormatDetector(get_plugins().detectors())
