"""Repository metadata through the official ``huggingface_hub`` client.

Model info resolves the revision to a commit; the tree at that commit gives every
file's size, git blob id and, for LFS files, the sha256 the download is checked against. Hub errors become one-line
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
from imageworks.providers.huggingface.refs import ModelRef

log = logging.getLogger("imageworks.huggingface")
T = TypeVar("T")
RETRY_STATUSES = {429, 500, 502, 503, 504}
RETRY_DELAYS = (1.0, 2.0, 4.0)


@attrs.frozen
class RepoFile:
    """One file of a repository revision.

    ``sha256`` is the LFS digest (LFS files only); ``blob_id`` the git blob id (sha1 of
    ``blob <size>\\0<bytes>``) the Hub publishes for every file, when known.
    """

    path: str
    size: int
    sha256: str | None = None
    blob_id: str | None = None


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
    try:
        return min(float(value), 30.0) if value else default
    except ValueError:
        return default


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
    """Metadata of ``ref`` (sizes and digests of every file) without downloading.

    The revision is resolved to a commit first (model info), and everything else is read
    at that commit, so a branch that moves meanwhile cannot mix revisions. File sizes,
    git blob ids and LFS sha256 come from the tree API, which every Hub implementation
    serves (huggingface.co, olah, Artifactory); ``siblings`` in model info may carry
    names only on mirrors. A file the tree leaves without a size is asked for with
    ``HEAD``.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=endpoint, token=token or False)
    # Always name the revision: some mirrors (olah) answer 401 for model info without one.
    revision = ref.revision or "main"
    try:
        info: Any = with_retries(lambda: api.model_info(ref.repo_id, revision=revision, timeout=30), f"metadata of {ref.display}")
        commit = info.sha or revision
        tree: list[Any] = with_retries(
            lambda: list(api.list_repo_tree(ref.repo_id, revision=commit, recursive=True)), f"file list of {ref.display}"
        )
    except (HfHubHTTPError, ValueError) as error:
        raise explain(error, ref) from error
    files = [_from_tree(entry) for entry in tree if hasattr(entry, "blob_id")]  # RepoFolder has none
    listed = {f.path for f in files}
    files += [RepoFile(path=s.rfilename, size=-1) for s in (info.siblings or []) if s.rfilename not in listed]
    files = [f if f.size >= 0 else _from_head(endpoint, token, ref, commit, f.path) for f in files]
    return RepoSnapshot(
        repo_id=ref.repo_id,
        revision=ref.revision,
        commit=commit,
        files=tuple(sorted(files, key=lambda f: f.path)),
        gated=bool(info.gated),
    )


def _from_tree(entry: Any) -> RepoFile:
    lfs = getattr(entry, "lfs", None)
    size = lfs.size if lfs is not None else entry.size
    return RepoFile(
        path=entry.path,
        size=int(size) if size is not None else -1,
        sha256=lfs.sha256 if lfs is not None else None,
        blob_id=entry.blob_id,
    )


def _from_head(endpoint: str, token: str | None, ref: ModelRef, commit: str, path: str) -> RepoFile:
    """Size (and, for LFS files, sha256) of one file from ``HEAD .../resolve/<commit>/<path>``."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    url = hf_hub_url(ref.repo_id, path, revision=commit, endpoint=endpoint)
    try:
        meta = with_retries(lambda: get_hf_file_metadata(url, token=token or False, timeout=30), f"size of {path}")
    except (HfHubHTTPError, ValueError) as error:
        raise explain(error, ref) from error
    if meta.size is None:
        raise ImageworksError(f"the Hub does not say how large {path} of {ref.display} is", "try another HF_ENDPOINT")
    etag = (meta.etag or "").strip('"')
    sha256 = etag if len(etag) == 64 else None  # LFS files: the ETag is the content's sha256
    return RepoFile(path=path, size=int(meta.size), sha256=sha256, blob_id=etag if len(etag) == 40 else None)


def resolve_url(endpoint: str, snapshot: RepoSnapshot, path: str) -> str:
    """The download URL of ``path`` pinned to the snapshot's commit."""
    from urllib.parse import quote

    return f"{endpoint.rstrip('/')}/{snapshot.repo_id}/resolve/{snapshot.commit}/{quote(path)}"
