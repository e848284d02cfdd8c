"""Which files under a download path make a model, and the sha256 of a file.

:mod:`imageworks.services.inventory` builds a path's inventory (sizes, digests, one
checksum) from these. Transfer leftovers (``*.aria2``, ``*.incomplete``, ``*.part``) and tool folders
(``.cache``, ``.git``) are not part of a model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from imageworks.core.regular_files import open_regular

SKIPPED_DIRS = frozenset({".cache", ".git", ".huggingface", "__pycache__"})
# transfer leftovers: partial files and their resume state (the Python engine's sidecar and its scratch copy)
SKIPPED_SUFFIXES = (".aria2", ".incomplete", ".part", ".imageworks-partial", ".imageworks-partial.json",
                    ".imageworks-partial.json.tmp", ".lock")
HASH_CHUNK = 8 * 1024 * 1024

ProgressCallback = Callable[[int], None]


def list_files(root: Path, max_depth: int | None = None) -> list[str]:
    """Relative POSIX paths of the model files under ``root`` (or ``[name]`` for a file),
    descending at most ``max_depth`` folders when given."""
    if root.is_file():
        return [root.name]
    found: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and (max_depth is None or depth < max_depth))
        for name in files:
            if name.endswith(SKIPPED_SUFFIXES):
                continue
            full = Path(folder, name)
            if full.is_file():  # follows file symlinks (HF cache snapshots), skips dangling ones
                found.append(full.relative_to(root).as_posix())
    return sorted(found)


def sha256_file(path: Path, progress: ProgressCallback | None = None) -> str:
    """sha256 of a file, read in large chunks; ``progress`` gets the bytes of each chunk."""
    digest = hashlib.sha256()
    with open_regular(path, buffering=0) as handle:  # a FIFO swapped in after listing must not hang us
        buffer = bytearray(min(HASH_CHUNK, os.fstat(handle.fileno()).st_size + 1))  # no 8 MiB of zeroed pages for a small file
        view = memoryview(buffer)
        while count := handle.readinto(buffer):
            digest.update(view[:count])
            if progress:
                progress(count)
    return digest.hexdigest()
