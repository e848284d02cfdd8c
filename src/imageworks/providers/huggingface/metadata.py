"""Repository metadata through the official ``huggingface_hub`` client.

One call (``model_info(files_metadata=True)``) gives every file's size and, for LFS
files, the sha256 the download is checked against. Hub errors become one-line
:class:`ImageworksError` messages that say what to do; 429 and 5xx are retried with
backoff. ``HF_ENDPOINT`` (mirrors) and the user's token (``HF_TOKEN`` or
``hf auth login``) are honoured; the token only ever travels in a header.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from imageworks.core.errors import ImageworksError
from imageworks.core.http import parse_retry_after
from imageworks.providers.huggingface.refs import ModelRef

log = logging.getLogger("imageworks.huggingface")
T = TypeVar("T")
RETRY_STATUSES = {429, 500, 502, 503, 504}
RETRY_DELAYS = (1.0, 2.0, 4.0)
MAX_RETRY_AFTER = 30.0


@attrs.frozen
class RepoFile:
    """One file of a repository revision (``sha256`` only for LFS files)."""

    path: str
    size: int
    sha256: str | None = None


@attrs.frozen
class RepoSnapshot:
    """A repository at one commit: what it holds and who may read it."""

    repo_id: str
    revision: str | None
    commit: str
    files: tuple[RepoFile, ...]
    gated: bool = False

    @property
    def total_size(self) -> int:
        """Bytes of every file."""
        return sum(f.size for f in self.files)

    def file(self, path: str) -> RepoFile | None:
        """The file at ``path``, if the repo has it."""
        return next((f for f in self.files if f.path == path), None)


def hf_token() -> str | None:
    """The user's token: ``HF_TOKEN``, else the one stored by ``hf auth login``."""
    from huggingface_hub import get_token

    return get_token()


def _status(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _retry_after(error: Exception, default: float) -> float:
    response = getattr(error, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    return parse_retry_after(value, default, MAX_RETRY_AFTER)


def with_retries(call: Callable[[], T], what: str) -> T:
    """Run ``call``, retrying 429/5xx and dropped connections with backoff."""
    from huggingface_hub.errors import HfHubHTTPError

    for attempt, delay in enumerate((*RETRY_DELAYS, None)):
        try:
            return call()
        except HfHubHTTPError as error:
            status = _status(error)
            if status not in RETRY_STATUSES or delay is None:
                raise
            wait = _retry_after(error, delay)
            log.warning("%s: HTTP %s, retry %d in %.1fs", what, status, attempt + 1, wait)
            time.sleep(wait)
        except OSError as error:  # connection reset/refused: httpx errors are OSErrors here
            if delay is None:
                raise ImageworksError(f"{what}: connection failed ({error})", "check HF_ENDPOINT and the network") from error
            log.warning("%s: %s, retry %d in %.1fs", what, error, attempt + 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def explain(error: Exception, ref: ModelRef) -> ImageworksError:
    """A Hub error as one actionable line."""
    from huggingface_hub import errors

    name = ref.display
    if isinstance(error, errors.GatedRepoError):
        return ImageworksError(
            f"{name} is gated", "accept its terms on the Hub, then set HF_TOKEN (or run `hf auth login`)"
        )
    if isinstance(error, errors.RevisionNotFoundError):
        return ImageworksError(f"{ref.repo_id} has no branch, tag or commit {ref.revision!r}")
    if isinstance(error, errors.RepositoryNotFoundError):
        return ImageworksError(
            f"model {name} not found", "check the spelling; private or gated repos need HF_TOKEN"
        )
    status = _status(error)
    if status in {401, 403}:
        return ImageworksError(f"access to {name} refused (HTTP {status})", "set HF_TOKEN to a token that may read it")
    if status in RETRY_STATUSES:
        return ImageworksError(f"the Hub kept failing for {name} (HTTP {status})", "try again later or set HF_ENDPOINT to a mirror")
    return ImageworksError(f"cannot read {name} from the Hub: {str(error).splitlines()[0]}")


def fetch_snapshot(ref: ModelRef, endpoint: str, token: str | None) -> RepoSnapshot:
    """Metadata of ``ref`` (sizes and LFS digests of every file) without downloading."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=endpoint, token=token or False)
    try:
        info: Any = with_retries(
            lambda: api.model_info(ref.repo_id, revision=ref.revision, files_metadata=True, timeout=30),
            f"metadata of {ref.display}",
        )
    except (HfHubHTTPError, ValueError) as error:
        raise explain(error, ref) from error
    files = tuple(
        RepoFile(path=s.rfilename, size=int(s.lfs.size if s.lfs else (s.size or 0)), sha256=s.lfs.sha256 if s.lfs else None)
        for s in (info.siblings or [])
    )
    return RepoSnapshot(
        repo_id=ref.repo_id,
        revision=ref.revision,
        commit=info.sha or ref.revision or "main",
        files=files,
        gated=bool(info.gated),
    )


def resolve_url(endpoint: str, snapshot: RepoSnapshot, path: str) -> str:
    """The download URL of ``path`` pinned to the snapshot's commit."""
    from urllib.parse import quote

    return f"{endpoint.rstrip('/')}/{snapshot.repo_id}/resolve/{snapshot.commit}/{quote(path)}"
