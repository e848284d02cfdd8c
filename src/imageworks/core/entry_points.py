"""The entry points of a group, without importing ``importlib.metadata`` at every start.

Importing ``importlib.metadata`` (email, zipfile, csv...) costs more than any other step
of ``--help``. The answer is kept in a small file keyed, as stevedore keys its cache, by
the interpreter and the mtime of every ``sys.path`` entry and of every ``*.dist-info``/
``*.egg-info`` ``entry_points.txt`` on it, so installing, upgrading or removing a package
changes the key at once; on a miss ``importlib.metadata`` reads the group. (stevedore's
own cache is not used: it hashes mtimes as 32-bit floats, blind to an in-place rewrite
within about two minutes, and memoizes a group for the life of the process.)
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import zlib


def group_entry_points(group: str) -> list[tuple[str, str]]:
    """``(name, value)`` of every entry point of ``group``, from the cache when it is current."""
    folder = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "imageworks")
    if not os.path.isabs(folder):  # no home to keep it in: never a "~" folder in the working directory
        return _read(group)
    key = _fingerprint()
    where = zlib.crc32(repr([sys.executable, sys.prefix, *sys.path]).encode())  # one file per interpreter and path
    path = os.path.join(folder, f"entry-points-{group}-{where:08x}.json")
    try:
        with open(path, encoding="utf-8") as handle:
            cached = json.load(handle)
        if cached["key"] == key:
            return [(str(name), str(value)) for name, value in cached["entry_points"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = _read(group)
    try:  # a cache that cannot be written only costs the next start the same read
        os.makedirs(folder, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    except OSError:
        return found
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"key": key, "entry_points": found}, handle)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return found


def _read(group: str) -> list[tuple[str, str]]:
    import importlib.metadata

    return sorted({(ep.name, ep.value) for ep in importlib.metadata.entry_points(group=group)})


def _fingerprint() -> list[list[object]]:
    """What the installed packages' entry points depend on: the paths and their mtimes."""
    key: list[list[object]] = [[sys.executable], [sys.prefix]]
    for entry in sys.path:
        key.append([entry, _mtime(entry)])
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry))
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                metadata = os.path.join(entry, name, "entry_points.txt")
                key.append([metadata, _mtime(metadata)])
    return key


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return -1.0
