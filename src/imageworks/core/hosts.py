"""Which host holds an install, and what this host can see (one registry, many GPU hosts).

With a shared registry (the ``postgres`` backend) every host records its installs in
the same place. An install on a host's own disk records that host's name in ``host``
(``IMAGEWORKS_HOST``, else the system's host name); an install under one of
``shared_roots`` (storage every host mounts at the same path: NFS, JuiceFS) records no
host, because every host sees that one copy, as it does logical entries (``ollama://``)
and entries recorded before hosts were (a single-machine registry). ``list`` and
``verify`` keep to what this host sees: entries of no host, of this host, or whose path
lies under a shared root (recognised even when recorded with a host).
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from imageworks.core.config import Config
from imageworks.core.model import RegistryEntry


@attrs.define(kw_only=True, frozen=True)
class HostView:
    """This host's name and the shared roots, from the configuration."""

    host: str
    shared_roots: tuple[Path, ...] = ()

    @classmethod
    def of(cls, config: Config) -> HostView:
        """The view of the host ``config`` was loaded on."""
        return cls(host=config.host, shared_roots=config.shared_roots)

    def on_shared_storage(self, path: str | None) -> bool:
        """Whether ``path`` lies under one of the shared roots."""
        if not path or "://" in path:
            return False
        target = os.path.normpath(path)
        return any(target == str(root) or target.startswith(str(root).rstrip("/") + "/") for root in self.shared_roots)

    def host_for(self, path: str) -> str | None:
        """What to record in ``host`` for an install at ``path``: this host, or None for a
        logical path or one on shared storage."""
        if "://" in path or self.on_shared_storage(path):
            return None
        return self.host or None

    def sees(self, entry: RegistryEntry) -> bool:
        """Whether this host can see ``entry``'s install."""
        return entry.host is None or entry.host == self.host or self.on_shared_storage(entry.download_path)
