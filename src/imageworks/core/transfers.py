"""Value types shared by the transfer engines: what to fetch, where, and how it went."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import attrs


@attrs.frozen
class RemoteFile:
    """One file to fetch: its URL, where it goes under the target folder, and what to expect.

    ``sha256`` is the Hub's LFS digest when known; ``git_blob_id`` the git blob id the Hub
    publishes for every file. A file is checked by the first of the two it has, else by size.
    """

    url: str
    relative_path: str
    size: int
    sha256: str | None = None
    git_blob_id: str | None = None

    @property
    def expected_digest(self) -> str | None:
        """The digest the file is checked against: sha256, else the git blob id."""
        return self.sha256 or self.git_blob_id


def _remote_files(files: Iterable[RemoteFile]) -> tuple[RemoteFile, ...]:
    """``converter=tuple``, typed: mypy's attrs plugin cannot solve the generic ``tuple``."""
    return tuple(files)


@attrs.frozen
class TransferJob:
    """Files to fetch into ``target_dir``.

    ``token`` is sent only as an ``Authorization: Bearer`` header; it is left out of
    ``repr`` so it cannot reach a log through this object.
    """

    files: Sequence[RemoteFile] = attrs.field(converter=_remote_files)
    target_dir: Path = attrs.field(converter=Path)
    token: str | None = attrs.field(default=None, repr=False)
    max_connections: int = 16
    max_parallel_files: int = 4
    # A transfer that receives (almost) nothing for this many seconds fails with a clear
    # error instead of hanging on a server that drips bytes (config ``stall_timeout``).
    stall_timeout: float = 60.0
    # Fetch every file again even when a verified copy is in place (``download --force``):
    # the new bytes go to the partial file and replace the copy only once verified, so a
    # failed refetch leaves the installed file as it was.
    refetch: bool = False
    headers: Mapping[str, str] = attrs.field(factory=dict)

    def request_headers(self) -> dict[str, str]:
        """Headers for every request, including the bearer token when there is one."""
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


@attrs.frozen
class TransferProgress:
    """A progress snapshot; ``bytes_done`` counts bytes already on disk from earlier runs too."""

    bytes_done: int
    bytes_total: int
    speed: float  # bytes per second, recent
    files_done: int
    files_total: int
    connections: int = 0
    resumed_bytes: int = 0


ProgressCallback = Callable[[TransferProgress], None]


@attrs.frozen
class VerifiedFile:
    """A file in place under the target folder, with its size and (when known) sha256 checked."""

    relative_path: str
    path: Path
    size: int
    sha256: str | None


class Engine(Protocol):
    """Moves the bytes of a :class:`TransferJob` and returns them verified, in job order."""

    name: str

    def fetch(self, job: TransferJob, progress: ProgressCallback | None = None) -> list[VerifiedFile]:
        """Fetch every file of ``job``; raise an ``ImageworksError`` with a one-line message on failure."""
        ...
