"""Finding model folders under a base directory without tripping over the file system.

A model folder is ``<base>/<owner>/<repo>`` (or ``<repo>@<branch>``), or a first-level
folder that itself holds model files. Symlinked folders are followed once (a loop is
reported, not walked forever) and unreadable folders are reported and skipped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import attrs

log = logging.getLogger("imageworks.scan")
WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".onnx", ".npz")
MARKER_FILES = frozenset({"config.json", "model_index.json", "params.json"})


@attrs.define(frozen=True)
class ModelFolder:
    """A candidate model: its Hub-style id (``owner/repo[@branch]``) and folder."""

    model_id: str
    path: Path


def _subfolders(folder: Path, problems: list[str]) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            found = []
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=True) and not entry.name.startswith("."):
                        found.append(Path(entry.path))
                except OSError as error:
                    problems.append(f"{entry.path}: {error.strerror or error}")
            return sorted(found)
    except OSError as error:
        problems.append(f"{folder}: {error.strerror or error}")
        return []


def holds_model(folder: Path, look_inside: bool = True) -> bool:
    """Whether ``folder`` has weights or a model config (or, with ``look_inside``, weights
    one level down, as in ``original/`` or diffusers' ``unet/``)."""
    try:
        with os.scandir(folder) as entries:
            children = list(entries)
    except OSError:
        return False
    for entry in children:
        if entry.name in MARKER_FILES or entry.name.endswith(WEIGHT_SUFFIXES):
            return True
    if not look_inside:
        return False
    for entry in children:
        try:
            if entry.is_dir() and not entry.name.startswith("."):
                with os.scandir(entry.path) as inner:
                    if any(e.name.endswith(WEIGHT_SUFFIXES) for e in inner):
                        return True
        except OSError:
            continue
    return False


def find_model_folders(base: Path, problems: list[str] | None = None) -> Iterator[ModelFolder]:
    """Yield model folders under ``base``; unreadable folders and loops go to ``problems``."""
    problems = problems if problems is not None else []
    base_real = base.resolve()
    seen: set[Path] = set()

    def fresh(folder: Path) -> bool:
        real = folder.resolve()
        if real in seen or real == base_real or real in base_real.parents:
            problems.append(f"{folder}: symlink loop or a folder already scanned, skipped")
            return False
        seen.add(real)
        return True

    for first in _subfolders(base, problems):
        if not fresh(first):
            continue
        if holds_model(first, look_inside=False):  # an ownerless model: <base>/<repo>
            yield ModelFolder(model_id=first.name, path=first)
            continue
        for second in _subfolders(first, problems):
            if fresh(second) and holds_model(second):
                yield ModelFolder(model_id=f"{first.name}/{second.name}", path=second)
    for problem in problems:
        log.warning("scan: %s", problem)
