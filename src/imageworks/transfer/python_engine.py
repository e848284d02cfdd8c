"""Pure-Python transfers on the standard library's ``http.client``: HTTP Range streams, resume, retries, sha256.

The engine is three parts, each in its own module:

* :mod:`~imageworks.transfer.partial` -- a file in flight: its preallocated partial file,
  the ranges already written (kept in a sidecar so a killed run resumes), and the thread
  that hashes the written prefix while the rest arrives;
* :mod:`~imageworks.transfer.scheduling` -- which bytes each stream fetches next: pieces
  in file order, then halves of the largest range in flight;
* :mod:`~imageworks.transfer.run` -- the run loop: stream workers, redirects, retries,
  stall detection, progress and how many streams run
  (:class:`~imageworks.transfer.adaptive.ConnectionGovernor`).

Each stream holds one kept-alive connection of :mod:`~imageworks.transfer.http_client`,
not ``requests``: importing ``requests`` (and ``urllib3``) costs more than the whole
transfer of a small repository (``docs/dependencies.md``).

This module plans the job (safe names, free space), runs it, and runs it once more for
files whose digest did not match. With ``job.refetch`` files already in place are fetched
again and replaced only once the new copy verifies.
"""

from __future__ import annotations

from imageworks.core.transfers import ProgressCallback, TransferJob, VerifiedFile
from imageworks.transfer.errors import ChecksumMismatchError, TransferError
from imageworks.transfer.run import Run
from imageworks.transfer.safety import already_complete, check_free_space, partial_bytes, plan


class PythonEngine:
    """Downloads over HTTP(S): several Range streams, resumable, retried, verified."""

    name = "python"

    def __init__(
        self,
        *,
        chunk_size: int = 1024 * 1024,  # each stream's receive buffer: at most this much per socket read
        min_split: int = 1024 * 1024,  # a range in flight is halved for an idle stream down to this
        piece_size: int = 32 * 1024 * 1024,  # the largest Range request while unassigned bytes remain
        min_piece: int = 4 * 1024 * 1024,  # the smallest, and the first ones (adaptive only)
        piece_rtts: int = 40,  # a piece lasts this many request latencies: the idle gap stays under 3%
        attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 30.0,
        adaptive: bool = True,
        initial_streams: int = 4,
    ) -> None:
        self.chunk_size = chunk_size
        self.min_split = min_split
        self.piece_size = piece_size
        self.min_piece = min(min_piece, piece_size)
        self.piece_rtts = piece_rtts
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.adaptive = adaptive
        self.initial_streams = initial_streams

    def fetch(self, job: TransferJob, progress: ProgressCallback | None = None) -> list[VerifiedFile]:
        """Fetch every file of ``job`` into ``job.target_dir``; see the module docstring."""
        planned = plan(job)
        # refetch (``download --force``): fetch every file anew into its partial file; the
        # copy in place is replaced only once the new one verifies
        todo = planned if job.refetch else [item for item in planned if not already_complete(item)]
        check_free_space(job.target_dir, sum(max(i.remote.size - partial_bytes(i.partial), 0) for i in todo))
        try:
            job.target_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TransferError(f"cannot create {job.target_dir}: {error.strerror or error}") from None
        for attempt in (1, 2):
            bad = Run(self, job, todo, len(planned) - len(todo), progress).run()
            if not bad:
                break
            if attempt == 2:
                item, actual = bad[0]
                raise ChecksumMismatchError(item.remote.relative_path, item.remote.expected_digest or "", actual)
            todo = [item for item, _ in bad]
        return [VerifiedFile(i.remote.relative_path, i.final, i.remote.size, i.remote.sha256) for i in planned]


__all__ = ["PythonEngine"]
