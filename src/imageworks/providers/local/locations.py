"""Which configured location a path lies in."""

from __future__ import annotations

from pathlib import Path

from imageworks.core.config import Config


def location_label_for(path: Path, config: Config) -> str | None:
    """The label of the deepest configured root containing ``path`` (None if outside all)."""
    real = path.resolve()
    best: tuple[int, str] | None = None
    for label, root in config.locations.items():
        root_real = root.resolve()
        if real == root_real or root_real in real.parents:
            depth = len(root_real.parts)
            if best is None or depth > best[0]:
                best = (depth, label)
    return best[1] if best else None
