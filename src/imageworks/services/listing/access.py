"""``last_accessed`` (guide 14): when a tool last used an entry.

Using an entry means verifying it (``verify``, ``imageworks-model-registry verify``,
with or without ``--lock``) or asking for it to serve it (the Python API's
``ModelDownloader.model_path`` and ``verify_model``). Listing is not using. The stamp
goes to the discovered layer, in one transaction for many entries; a registry that
cannot be written does not stop the tool that was only reading (the failure is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from imageworks.core.errors import ImageworksError
from imageworks.core.registry import Registry
from imageworks.services.timestamps import utc_now

log = logging.getLogger("imageworks.registry")


def record_access(registry: Registry, names: Iterable[str]) -> None:
    """Set ``last_accessed`` of the entries ``names`` to now; never raises for a write failure."""
    wanted = sorted(set(names))
    if not wanted or registry.is_scratch:
        return
    now = utc_now()
    try:
        with registry.batch():
            for name in wanted:
                registry.update(name, lambda _: {"last_accessed": now})
    except ImageworksError as error:
        log.warning("last_accessed not recorded for %s: %s", ", ".join(wanted), error)
