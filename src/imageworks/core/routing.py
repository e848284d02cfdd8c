"""Where a model goes: ask the router plugins, then build a safe target folder.

:func:`resolve_route` asks the plugin host (``imageworks_route_location``, first answer
wins) and turns "no answer" into a clear :class:`ConfigError`. :func:`target_directory`
builds ``<root>/<owner>/<repo>[@branch]`` and refuses any id that could escape the root.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from imageworks.core.config import Config
from imageworks.core.errors import ConfigError, UnsafePathError
from imageworks.core.model import Route, RouteRequest

if TYPE_CHECKING:
    from imageworks.core.plugins import PluginHost


def resolve_route(request: RouteRequest, config: Config, plugins: PluginHost) -> Route:
    """The route for ``request``; raises :class:`ConfigError` for an unknown location label."""
    route = plugins.route(request, config)
    if route is not None:
        return route
    known = ", ".join(sorted(config.locations))
    if request.location:
        raise ConfigError(
            f"unknown location {request.location!r}",
            f"use one of: {known}, or a path such as ./models or /data/models",
        )
    raise ConfigError("no router plugin answered", "check `imageworks-download plugins` for a failed router")


def _safe_part(part: str, what: str, whole: str) -> str:
    if not part or part in {".", ".."} or "\\" in part or "\x00" in part or ":" in part:
        raise UnsafePathError(f"refusing {what} {whole!r}: {part!r} is not a safe folder name")
    return part


def target_directory(root: str | Path, model_id: str, branch: str | None = None) -> Path:
    """``<root>/<owner>/<repo>[@branch]`` for a Hub id; raises :class:`UnsafePathError`.

    Ids with ``..``, empty or absolute parts, backslashes or more than two parts are
    refused. A branch with ``/`` (``refs/pr/1``) becomes ``refs-pr-1`` so the model
    stays one folder deep.
    """
    if not model_id or model_id.startswith("/") or "\\" in model_id:
        raise UnsafePathError(f"refusing model id {model_id!r}: it must look like owner/repo")
    parts = model_id.split("/")
    if len(parts) > 2:
        raise UnsafePathError(f"refusing model id {model_id!r}: it must look like owner/repo")
    safe = [_safe_part(p, "model id", model_id) for p in parts]
    if branch:
        flat = branch.replace("/", "-")
        _safe_part(flat, "branch", branch)
        if ".." in branch.split("/"):
            raise UnsafePathError(f"refusing branch {branch!r}")
        safe[-1] = f"{safe[-1]}@{flat}"
    return Path(root).joinpath(*safe)
