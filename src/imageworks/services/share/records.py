"""The links of a variant, as the registry records them (``shared_links`` on the entry).

One record per new name of a file: the app, the path that holds the bytes for it (an
Ollama blob, an LM Studio file, a Hugging Face cache blob), the paths the app opens, the
variant file it shares, how (hardlink, reflink, symlink), the digest and size, and the
host (a link is a path on one machine). The field is unknown to older versions, which
keep it as it is (the registry preserves unknown fields; in a merge the discovered
layer wins).
"""

from __future__ import annotations

from typing import Any

from imageworks.core.model import RegistryEntry

FIELD = "shared_links"


def links_of(entry: RegistryEntry, host: str | None = None) -> list[dict[str, Any]]:
    """The entry's link records (only ``host``'s when given; records without a host count for all)."""
    raw = entry.extra.get(FIELD)
    if not isinstance(raw, list):
        return []
    found = [r for r in raw if isinstance(r, dict) and isinstance(r.get("path"), str) and isinstance(r.get("app"), str)]
    return [r for r in found if host is None or r.get("host") in (None, "", host)]


def merged(entry: RegistryEntry, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entry's records with ``new`` added (a record for the same path and host is replaced)."""
    keys = {(r["path"], r.get("host")) for r in new}
    kept = [r for r in links_of(entry) if (r["path"], r.get("host")) not in keys]
    return sorted([*kept, *new], key=lambda r: (str(r.get("host") or ""), r["app"], r["path"]))


def without(entry: RegistryEntry, paths: set[str], host: str | None) -> list[dict[str, Any]]:
    """The entry's records less those of ``paths`` on ``host``."""
    return [r for r in links_of(entry) if not (r["path"] in paths and r.get("host") in (None, "", host))]
