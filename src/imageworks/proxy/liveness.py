"""Which backends answer: a cheap, cached probe behind ``/v1/models``'s ``live`` field.

A backend is live when ``GET <base_url>/models`` gets any HTTP answer within
:data:`PROBE_TIMEOUT` (a 401 from a server wanting a key still means a server listens).
Answers are kept :data:`PROBE_TTL` seconds per URL, and the probes of one listing run
at once, so ``/v1/models`` stays fast however many servers are down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import httpx

PROBE_TIMEOUT = 0.5
PROBE_TTL = 5.0


class Liveness:
    """Probe results per API root, each kept :data:`PROBE_TTL` seconds."""

    def __init__(self, ttl: float = PROBE_TTL, timeout: float = PROBE_TIMEOUT) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._known: dict[str, tuple[float, bool]] = {}

    async def check(self, client: httpx.AsyncClient, roots: Iterable[str]) -> dict[str, bool]:
        """``{root: live}`` for each API root, probing only those not probed lately."""
        now = time.monotonic()
        wanted = set(roots)
        stale = [root for root in wanted if root not in self._known or now - self._known[root][0] > self.ttl]
        results = await asyncio.gather(*(self._probe(client, root) for root in stale))
        for root, live in zip(stale, results, strict=True):
            self._known[root] = (time.monotonic(), live)
        if len(self._known) > 4 * max(len(wanted), 16):  # forget URLs the registry no longer names
            self._known = {root: self._known[root] for root in wanted}
        return {root: self._known[root][1] for root in wanted}

    async def _probe(self, client: httpx.AsyncClient, root: str) -> bool:
        try:
            async with asyncio.timeout(2 * self.timeout), client.stream("GET", f"{root}/models", timeout=self.timeout):
                return True
        except (httpx.HTTPError, TimeoutError):
            return False
