"""Which bytes each stream fetches next: pieces in file order, then halves of the largest in flight.

Workers take pieces of at most a piece size in file order (one Range request each, on a
kept-alive connection) and, when none are left, split the largest range still in flight
(as aria2c does), so one file can be fetched by several streams and all of them stay busy
to the last byte. Handing pieces out in file order keeps each file's written prefix, which
its hasher follows, close behind the streams. A server that ignores ``Range`` gets one
stream per file that reads it from byte 0 (:meth:`Scheduler.take_over`).
"""

from __future__ import annotations

import bisect
import socket
import threading
import time

from imageworks.transfer.partial import PartialFile


class Piece:
    """Bytes ``[pos, end)`` of a file assigned to one worker; ``end`` may shrink when split."""

    def __init__(self, file: PartialFile, start: int, end: int) -> None:
        self.file, self.pos, self.end = file, start, end
        # the stream's progress clock (kept by the run): when it last received a little
        # (``heard``), what it got since (``got``), the socket of its answer, and whether the
        # run cut it off as stuck
        self.heard = time.monotonic()
        self.got = 0
        self.sock: socket.socket | None = None
        self.cut = False
        self.reads_whole = False  # it reads its whole file from byte 0 (the server ignores Range)

    def key(self) -> tuple[int, int]:
        """Sort key: file order, then offset."""
        return self.file.order, self.pos


class Scheduler:
    """Hands out pieces of unassigned bytes in file order, then halves of the largest range in flight.

    No file is read by more than ``per_file`` streams at once (the configured
    ``max_connections``, as aria2c's ``-x``): a piece of a file that has that many is not
    handed out, and its ranges in flight are not split, so streams left idle by files
    that finished do not pile onto the last big one.
    """

    def __init__(self, files: list[PartialFile], min_split: int, piece_size: int, per_file: int | None = None) -> None:
        self.lock = threading.Lock()
        self.pending = [Piece(f, a, b) for f in files for a, b in f.missing()]
        self.active: list[Piece] = []
        self.min_split = min_split
        self.piece_size = max(piece_size, min_split)
        self.per_file = max(1, per_file) if per_file is not None else None
        self.streams: dict[int, int] = {}  # id(file) -> pieces of it in flight

    def take(self) -> Piece | None:
        """The next piece for a stream, or None when nothing is worth taking."""
        with self.lock:
            taken = self._from_pending()
            if taken is None:
                victim = self._victim()
                if victim is None:
                    return None
                middle = victim.pos + (victim.end - victim.pos) // 2
                taken, victim.end = Piece(victim.file, middle, victim.end), middle
            self.active.append(taken)
            self.streams[id(taken.file)] = self.streams.get(id(taken.file), 0) + 1
            return taken

    def _open_to_another(self, file: PartialFile) -> bool:
        """Whether ``file`` may get one more stream (call with ``lock`` held)."""
        return self.per_file is None or self.streams.get(id(file), 0) < self.per_file

    def _first_pending(self) -> int | None:
        """Index of the first pending range of a file open to another stream (``lock`` held)."""
        return next((i for i, r in enumerate(self.pending) if self._open_to_another(r.file)), None)

    def _from_pending(self) -> Piece | None:
        """A piece of the first pending range a stream may take (``lock`` held)."""
        index = self._first_pending()
        if index is None:
            return None
        first = self.pending[index]
        if first.end - first.pos >= self.piece_size + self.min_split:
            taken = Piece(first.file, first.pos, first.pos + self.piece_size)
            first.pos = taken.end
            return taken
        return self.pending.pop(index)

    def _victim(self) -> Piece | None:
        """The largest range in flight worth halving for another stream (``lock`` held)."""
        splittable = [r for r in self.active if not r.file.whole and self._open_to_another(r.file)]
        victim = max(splittable, key=lambda r: r.end - r.pos, default=None)
        if victim is None or victim.end - victim.pos < 2 * self.min_split:
            return None
        return victim

    def resize(self, piece_size: int) -> None:
        """Hand out pieces of ``piece_size`` bytes from now on."""
        with self.lock:
            self.piece_size = max(piece_size, self.min_split)

    def give_back(self, part: Piece) -> None:
        """A stream is done with ``part``; what it did not receive goes back in order."""
        with self.lock:
            self.active.remove(part)
            self.streams[id(part.file)] -= 1
            if part.reads_whole and part.pos < part.end:
                part.file.whole = False  # the next stream that gets the whole file reads it again from 0
            if part.pos < part.end:
                bisect.insort(self.pending, Piece(part.file, part.pos, part.end), key=Piece.key)

    def has_work(self) -> bool:
        """Whether a new stream would find something to take."""
        with self.lock:
            return self._first_pending() is not None or self._victim() is not None

    def take_over(self, part: Piece) -> bool:
        """Give ``part`` the whole of its file (the server ignores ``Range`` and sent all of it).

        Every other range of that file is dropped: pending ones are forgotten and those in
        flight end where they are. Returns False when another stream already reads the
        whole file, and then ``part`` is dropped instead. The stream that reads the whole
        file and asks again (after a dropped connection) starts again from byte 0; if it
        leaves, :meth:`give_back` lets the next stream that is sent the whole file take over.
        """
        with self.lock:
            file = part.file
            if file.whole and not part.reads_whole:
                part.end = part.pos
                return False
            file.whole = part.reads_whole = True
            self.pending = [r for r in self.pending if r.file is not file]
            for other in self.active:
                if other.file is file and other is not part:
                    other.end = other.pos
            part.pos, part.end = 0, file.size
            return True
