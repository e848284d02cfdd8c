"""What the inventory commands need to know about a variant's links.

``verify`` asks :func:`check_links` whether each recorded link still resolves to the
same content (the same inode as the variant's file, else the recorded digest);
``list --details`` shows :func:`visible_in`; ``remove`` asks :func:`removal_notes` what
stays and :func:`symlinked_apps` what would break.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from imageworks.core.disk_inventory import sha256_file
from imageworks.core.model import RegistryEntry
from imageworks.services.share import records
from imageworks.services.share.linking import same_file
from imageworks.services.share.sources import variant_folder


def _source(entry: RegistryEntry, link: dict[str, Any]) -> Path | None:
    name = link.get("source")
    return variant_folder(entry) / name if isinstance(name, str) and not entry.is_logical else None


def check_links(entry: RegistryEntry, host: str, quick: bool = False) -> list[str]:
    """Problems with the entry's links on ``host``: gone, or holding other bytes than the variant's."""
    problems = []
    for link in records.links_of(entry, host):
        path = Path(link["path"])
        if not path.exists():
            problems.append(f"{link['app']} link {path} is gone (or leads nowhere)")
            continue
        source = _source(entry, link)
        if source is not None and source.exists() and same_file(path, source):
            continue
        expected, size = link.get("sha256"), link.get("size")
        try:
            actual_size = path.stat().st_size
        except OSError as error:
            problems.append(f"{link['app']} link {path} is unreadable: {error.strerror}")
            continue
        if isinstance(size, int) and actual_size != size:
            problems.append(f"{link['app']} link {path} holds {actual_size} bytes, {size} recorded")
        elif not quick and isinstance(expected, str) and sha256_file(path) != expected:
            problems.append(f"{link['app']} link {path} holds other bytes than {link.get('source')}")
    return problems


def visible_in(entry: RegistryEntry, host: str) -> list[str]:
    """One line per app that sees the variant: ``ollama hf.co/o/r:Q4_K_M (hardlink)``."""
    seen: dict[tuple[str, str], set[str]] = {}
    for link in records.links_of(entry, host):
        key = (str(link["app"]), str(link.get("name") or link["path"]))
        seen.setdefault(key, set()).add(str(link.get("method") or "?"))
    return [f"{app} {name} ({', '.join(sorted(methods))})" for (app, name), methods in sorted(seen.items())]


def symlinked_apps(entry: RegistryEntry, host: str) -> list[str]:
    """Links that read the variant's files through a symbolic link: deleting the files breaks them."""
    return [f"{link['app']} ({link['path']})" for link in records.links_of(entry, host)
            if link.get("method") == "symlink" and os.path.lexists(link["path"])]


def removal_notes(entry: RegistryEntry, host: str) -> list[str]:
    """What stays after this variant's files go: the other apps' names keep the bytes."""
    lines = []
    for link in records.links_of(entry, host):
        path = Path(link["path"])
        if link.get("method") in ("hardlink", "reflink") and path.exists():
            lines.append(f"{link['app']} keeps {path} ({link.get('size', '?')} bytes stay on disk)")
    return lines
