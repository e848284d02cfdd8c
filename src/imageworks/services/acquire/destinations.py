"""Where each kind of weight file goes by default, and why (issue 28: defaults that fit the machine).

Asked of the router plugins exactly as a download asks them, so ``config`` and the
first-run note say what a download will do.
"""

from __future__ import annotations

from imageworks.core.config import Config
from imageworks.core.model import Route, RouteRequest
from imageworks.core.plugins import PluginHost
from imageworks.core.routing import resolve_route

#: (kind, format asked about, what the answer is shown as).
KINDS = (("gguf", "gguf", "GGUF files"), ("weights", "safetensors", "other weights (safetensors, AWQ, GPTQ, ...)"))


def destinations(config: Config, plugins: PluginHost) -> list[tuple[str, str, Route]]:
    """(kind, how it is shown, its route) for each of :data:`KINDS`."""
    return [(kind, shown, resolve_route(RouteRequest(model_id="", format_type=fmt), config, plugins))
            for kind, fmt, shown in KINDS]


def first_run_note(config: Config, plugins: PluginHost) -> str:
    """What a first download says: where each kind of file goes, why, and where the registry is."""
    where = "; ".join(f"{shown} go to {route.root} ({route.label}: {route.reason})"
                      for _kind, shown, route in destinations(config, plugins))
    return (f"Note: first run: {where}; the registry will be kept in {config.registry_dir}. "
            "`imageworks-download config` shows this again; `--location` or the settings change it.")
