"""How many parallel streams to use: add streams only while they add throughput.

No fixed setting wins everywhere. On an unthrottled link (loopback, a fast LAN) one
stream is CPU-bound and extra streams only compete for the same cores; behind a CDN that
caps each connection (say 25 MB/s), throughput grows almost linearly with streams. So
the governor starts with one stream (or one per file that may run at once), measures for
a quarter second, and multiplies the count by ``step`` while each step raises throughput
by at least ``gain``; the first step that does not pay is undone and the count is then
kept. Steps of 4 reach 16 streams in two measurements, so a capped link is filled fast.
"""

from __future__ import annotations

import attrs


@attrs.define
class ConnectionGovernor:
    """Feed it ``observe(now, total_bytes)`` regularly; read ``level`` for the stream count."""

    max_level: int
    gain: float = 1.2
    step: int = 4  # multiply the stream count by this while it pays: 1 -> 4 -> 16
    warmup: float = 0.1  # seconds ignored after a change, while new streams ramp up
    window: float = 0.25  # seconds measured at each level
    level: int = 1
    settled: bool = False
    _best_rate: float = 0.0
    _best_level: int = 1
    _mark: tuple[float, int] | None = None  # (time, bytes) where the current window starts
    _changed_at: float | None = None

    def __attrs_post_init__(self) -> None:
        self.max_level = max(1, self.max_level)
        self.level = self._best_level = min(max(1, self.level), self.max_level)
        self.settled = self.level == self.max_level

    def observe(self, now: float, total_bytes: int) -> int:
        """Record progress at time ``now`` (monotonic seconds); return the stream count to use."""
        if self.settled:
            return self.level
        if self._changed_at is None:
            self._changed_at = now
        if self._mark is None:
            if now - self._changed_at >= self.warmup:
                self._mark = (now, total_bytes)
            return self.level
        started, bytes_then = self._mark
        if now - started < self.window:
            return self.level
        rate = (total_bytes - bytes_then) / (now - started)
        if rate >= self._best_rate * self.gain and self.level < self.max_level:
            self._best_rate, self._best_level = rate, self.level
            self._step(now, min(self.level * self.step, self.max_level))
        elif rate >= self._best_rate * self.gain:  # at the cap and still gaining: keep it
            self.settled = True
        else:
            self._step(now, self._best_level)
            self.settled = True
        return self.level

    def _step(self, now: float, level: int) -> None:
        self.level = level
        self._mark = None
        self._changed_at = now
