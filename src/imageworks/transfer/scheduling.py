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
import threading

from imageworks.transfer.partial import PartialFile


class Piece:
    """Bytes ``[pos, end)`` of a file assigned to one worker; ``end`` may shrink when split."""

    def __init__(self, file: PartialFile, start: int, end: int) -> None:
        self.file, self.pos, self.end = file, start, end

    def key(self) -> tuple[int, int]:
        """Sort key: file order, then offset."""
        return self.file.order, self.pos


class Scheduler:
    """Hands out pieces of unassigned bytes in file order, then halves of the largest range in flight."""

    def __init__(self, files: list[PartialFile], min_split: int, piece_size: int) -> None:
        self.lock = threading.Lock()
        self.pending = [Piece(f, a, b) for f in files for a, b in f.missing()]
        self.active: list[Piece] = []
        self.min_split = min_split
        self.piece_size = max(piece_size, min_split)

    def take(self) -> Piece | None:
        """The next piece for a stream, or None when nothing is worth taking."""
        with self.lock:
            if self.pending:
                first = self.pending[0]
                if first.end - first.pos >= self.piece_size + self.min_split:
                    taken = Piece(first.file, first.pos, first.pos + self.piece_size)
                    first.pos = taken.end
                else:
                    taken = self.pending.pop(0)
            else:
                splittable = [r for r in self.active if not r.file.whole]
                victim = max(splittable, key=lambda r: r.end - r.pos, default=None)
                if victim is None or victim.end - victim.pos < 2 * self.min_split:
                    return None
                middle = victim.pos + (victim.end - victim.pos) // 2
                taken, victim.end = Piece(victim.file, middle, victim.end), middle
            self.active.append(taken)
            return taken

    def resize(self, piece_size: int) -> None:
        """Hand out pieces of ``piece_size`` bytes from now on."""
        with self.lock:
            self.piece_size = max(piece_size, self.min_split)

    def give_back(self, part: Piece) -> None:
        """A stream is done with ``part``; what it did not receive goes back in order."""
        with self.lock:
            self.active.remove(part)
            if part.pos < part.end:
                bisect.insort(self.pending, Piece(part.file, part.pos, part.end), key=Piece.key)

    def has_work(self) -> bool:
        """Whether a new stream would find something to take."""
        with self.lock:
            return bool(self.pending) or any(
                r.end - r.pos >= 2 * self.min_split and not r.file.whole for r in self.active
            )

    def take_over(self, part: Piece) -> bool:
        """Give ``part`` the whole of its file (the server ignores ``Range`` and sent all of it).

        Every other range of that file is dropped: pending ones are forgotten and those in
        flight end where they are. Returns False when another stream already reads the
        whole file, and then ``part`` is dropped instead.
        """
        with self.lock:
            file = part.file
            if file.whole:
                part.end = part.pos
                return False
            file.whole = True
            self.pending = [r for r in self.pending if r.file is not file]
            for other in self.active:
                if other.file is file and other is not part:
                    other.end = other.pos
            part.pos, part.end = 0, file.size
            return True
