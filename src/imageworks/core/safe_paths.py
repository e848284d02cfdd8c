"""Checks that keep paths built from outside data inside the folder they belong to.

Text from a store or a server (an Ollama manifest's digest, the blob path a server
names, a path recorded in the registry) becomes a file system path only after one of
these checks. Every check compares resolved paths, so ``..`` components and symlinks
are judged by where they really lead, not by how they are spelled. A failed check is
an :class:`~imageworks.core.errors.UnsafePathError`.
"""

from __future__ import annotations

import re
from pathlib import Path

from imageworks.core.errors import UnsafePathError

_SHA256_DIGEST = re.compile(r"sha256:([0-9a-fA-F]{64})")


def require_sha256_digest(text: object) -> str:
    """``text`` as ``sha256:<64 lower-case hex digits>``; raise :class:`UnsafePathError` otherwise.

    Upper-case hex digits are accepted and normalised to lower case: Ollama's own check
    ignores case, its blob files are named in lower case, and a hex digit can never
    spell a path. Nothing else passes: no other algorithm or separator, no whitespace,
    no path characters.
    """
    match = _SHA256_DIGEST.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        shown = repr(text[:80]) if isinstance(text, str) else type(text).__name__
        raise UnsafePathError(f"{shown} is not a sha256 digest (expected sha256:<64 hex digits>)")
    return f"sha256:{match.group(1).lower()}"


def is_within(path: Path, root: Path, *, allow_root: bool = False) -> bool:
    """Whether ``path`` lies strictly inside ``root`` (or is it, with ``allow_root``), both resolved.

    A path that cannot be resolved (a symlink loop) lies nowhere.
    """
    try:
        real, real_root = Path(path).resolve(), Path(root).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return False
    if real == real_root:
        return allow_root
    return real.is_relative_to(real_root)


def contained(path: Path, root: Path, *, allow_root: bool = False) -> Path:
    """``path`` with every link resolved, when it lies strictly inside ``root`` (resolved too).

    Raise :class:`UnsafePathError` when it leads anywhere else.
    """
    if not is_within(path, root, allow_root=allow_root):
        raise UnsafePathError(f"{path} leads outside {root}")
    return Path(path).resolve()


def link_location(path: Path) -> Path:
    """Where the entry ``path`` itself sits: its folders resolved, its last component kept.

    For a symlink this is the link, not its target, so a check on it judges what
    unlinking ``path`` would touch.
    """
    path = Path(path)
    if path.name in {"", ".", ".."}:
        return path.resolve()
    return path.parent.resolve() / path.name
