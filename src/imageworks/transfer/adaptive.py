"""How many parallel streams to use: add streams only while they add throughput.

No fixed setting wins everywhere. On an unthrottled link (loopback, a fast LAN) one
stream is CPU-bound and extra streams only compete for the same cores; behind a CDN that
caps each connection (say 25 MB/s), throughput grows almost linearly with streams. So
the governor starts with a few streams, measures for a short window, and multiplies the
count by ``step`` while each step raises throughput by at least ``gain``; the first step
that does not pay is undone and the count is then kept. Steps of 4 reach 16 streams
from 4 in one measurement (about 0.2 s on a near link), so a capped link is filled fast.

Streams that only cost CPU are not opened: when the caller says the transfer is already
CPU-bound (``behind``: the engine's sha256 lags the bytes received), a step that would
add streams settles instead, since more streams could only slow the hash down further.

New streams need a round trip (and TCP's slow start) before they carry their share, so
on a far link the measurements wait and last longer: the warm-up is at least two and
the window at least four request latencies (``latency``, kept up to date by the engine).

When streams stall (a mirror that fetches every range upstream before it answers, or a
server that slows as streams are added), the engine calls :meth:`ConnectionGovernor.back_off`
with fewer streams; from then on the count only goes down.
"""

from __future__ import annotations

import attrs


@attrs.define
class ConnectionGovernor:
    """Feed it ``observe(now, total_bytes)`` regularly; read ``level`` for the stream count."""

    max_level: int
    gain: float = 1.2
    step: int = 4  # multiply the stream count by this while it pays: 1 -> 4 -> 16
    warmup: float = 0.05  # seconds ignored after a change, while new streams ramp up
    window: float = 0.15  # seconds measured at each level
    latency: float = 0.0  # seconds from a request to its first byte; lengthens warm-up and window
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

    def observe(self, now: float, total_bytes: int, *, behind: bool = False) -> int:
        """Record progress at time ``now`` (monotonic seconds); return the stream count to use.

        ``behind``: the receiver is CPU-bound (its verification lags), so do not add streams.
        """
        if self.settled:
            return self.level
        if self._changed_at is None:
            self._changed_at = now
        if self._mark is None:
            if now - self._changed_at >= max(self.warmup, 2 * self.latency):
                self._mark = (now, total_bytes)
            return self.level
        started, bytes_then = self._mark
        if now - started < max(self.window, 4 * self.latency):
            return self.level
        rate = (total_bytes - bytes_then) / (now - started)
        if rate >= self._best_rate * self.gain and self.level < self.max_level and not behind:
            self._best_rate, self._best_level = rate, self.level
            self._step(now, min(self.level * self.step, self.max_level))
        elif rate >= self._best_rate * self.gain:  # at the cap, or CPU-bound, and still gaining: keep it
            self.settled = True
        else:
            self._step(now, self._best_level)
            self.settled = True
        return self.level

    def back_off(self, streams: int) -> int:
        """Run at most ``streams`` streams from now on (more only stalled); the count no longer grows."""
        self.level = self.max_level = max(1, min(self.level, streams))
        self.settled = True
        return self.level

    def _step(self, now: float, level: int) -> None:
        self.level = level
        self._mark = None
        self._changed_at = now
