"""The variant table's host and memory columns, from one ``list --json`` row.

The host columns say where a variant is installed: ``host`` is the install at the row's
top level (this host's own when it holds one, as ``list`` reads every entry), ``hosts``
every host holding an install (the top-level one and ``installs``), and ``on this host``
whether this host sees the row's install (:meth:`imageworks.core.hosts.HostView.sees`,
the rule ``list`` keeps to without ``--all-hosts``). An install of no host (shared
storage, a logical entry, one recorded before hosts were) is ``(every host)``, as in the
CLI's Host column.

The memory columns are the row's ``memory`` estimate (docs/memory.md): the weights'
bytes, the whole server's total as its engine starts it by default (``total_bytes``:
weights + KV + compute + output), what an extra 1k tokens of f16 KV cache costs, and
with ``--gpu-mem`` the largest f16 context that fits (0 when the weights alone do not),
the figure of ``list``'s Max context column; ``header problem`` says why a variant has no
estimate (a damaged or hostile header file).
"""

from __future__ import annotations

from typing import Any

from imageworks.core.hosts import HostView
from imageworks.core.model import RegistryEntry

EVERY_HOST = "(every host)"
#: The first cache type of every format (core.memory): the one ``list --gpu-mem`` fits.
KV_CACHE = "f16"


def host_columns(row: dict[str, Any], view: HostView) -> dict[str, Any]:
    """``host``, ``hosts`` and ``on this host`` of a ``list --json`` row."""
    installs = [row, *(row.get("installs") or [])]
    holders = sorted({str(i.get("host") or EVERY_HOST) for i in installs if i.get("download_path")})
    top = RegistryEntry(name=str(row.get("name")), host=row.get("host"), download_path=row.get("download_path"))
    return {
        "host": row.get("host") or EVERY_HOST,
        "hosts": ", ".join(holders),
        "on this host": view.sees(top),
    }


def memory_columns(row: dict[str, Any]) -> dict[str, Any]:
    """Weights, KV cache per 1k tokens and largest context of a ``list --json`` row's
    ``memory`` (empty cells where the CLI estimated nothing), and its ``memory_problem``."""
    memory = row.get("memory") or {}
    kv = (memory.get("kv_cache") or {}).get(KV_CACHE) or {}
    fit: dict[str, Any] = next((f for f in memory.get("fit") or [] if f.get("cache_type") == KV_CACHE), {})
    return {
        "weights": memory.get("weight_bytes"),
        "server total": memory.get("total_bytes"),
        f"KV {KV_CACHE} / extra 1k tokens": kv.get("bytes_per_1k_tokens"),
        "max context (tokens)": fit.get("max_context"),
        "header problem": row.get("memory_problem"),
    }
