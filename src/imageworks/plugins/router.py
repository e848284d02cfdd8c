"""Built-in router: GGUF to the LM Studio store, tensor formats to the weights root.

The LM Studio store is the guide's ``windows_lmstudio`` root where it is configured or
exists (WSL); elsewhere LM Studio's own models folder (label ``lmstudio``) when LM Studio
is installed, else the weights root (``Config.gguf_location`` says which, and why).

Implements ``imageworks_route_location`` (guide section 5.4). A ``--location`` value
is a label from ``Config.locations`` or, when it looks like a path, the root itself,
used verbatim (only ``~`` is expanded). An unknown label gets no answer here, so
:func:`imageworks.core.routing.resolve_route` can report it.
"""

from __future__ import annotations

from pathlib import Path

from imageworks.core.config import Config
from imageworks.core.hookspecs import hookimpl
from imageworks.core.model import Route, RouteRequest

GGUF_LABEL = "windows_lmstudio"
TENSOR_LABEL = "linux_wsl"
CUSTOM_LABEL = "custom"


def looks_like_path(location: str) -> bool:
    """A location with a separator, or starting with ``~`` or ``.``, is a path, not a label."""
    return "/" in location or "\\" in location or location.startswith(("~", "."))


@hookimpl(trylast=True)
def imageworks_route_location(request: RouteRequest, config: Config) -> Route | None:
    """Route by ``request.location`` when given, else by format (GGUF vs tensors)."""
    locations = config.locations
    if request.location:
        if request.location in locations:
            return Route(label=request.location, root=str(locations[request.location]),
                         reason=f"--location {request.location}")
        if not looks_like_path(request.location):
            return None
        root = Path(request.location).expanduser()
        label = next((name for name, path in locations.items() if path == root.absolute()), CUSTOM_LABEL)
        return Route(label=label, root=str(root), reason=f"--location path {request.location}")
    if (request.format_type or "").lower() == "gguf":
        label = config.gguf_location if config.gguf_location in locations else GGUF_LABEL
        why = config.sources.get("gguf_location")
        return Route(label=label, root=str(locations[label]),
                     reason="GGUF goes to the LM Studio / llama.cpp store" + (f" ({why})" if why else ""))
    shown = request.format_type or "unknown format"
    return Route(label=TENSOR_LABEL, root=str(locations[TENSOR_LABEL]),
                 reason=f"{shown} is a tensor format: weights root")
