"""Repository metadata through the official ``huggingface_hub`` client.

Model info resolves the revision to a commit; the tree at that commit gives every
file's size, git blob id and, for LFS files, the sha256 the download is checked against. Hub errors become one-line
:class:`ImageworksError` messages that say what to do; 429 and 5xx are retried with
backoff, dropped connections and timeouts too. ``HF_ENDPOINT`` (mirrors) and the user's
token (``HF_TOKEN`` or ``hf auth login``) are honoured; the token only ever travels in a
header.

The answer is untrusted: it is size- and time-capped while it arrives
(:mod:`.http_limits`), and the commit id, names, sizes and digests are checked here,
before any of them reaches a URL, a file name or the aria2 input file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs

from imageworks.core.errors import ImageworksError, SourceOfflineError
from imageworks.core.http import parse_retry_after
from imageworks.providers.huggingface.offline import offline_mode, unresolved_name
from imageworks.providers.huggingface.refs import ModelRef

log = logging.getLogger("imageworks.huggingface")
T = TypeVar("T")
RETRY_STATUSES = {429, 500, 502, 503, 504}
RETRY_DELAYS = (1.0, 2.0, 4.0)
MAX_RETRY_AFTER = 30.0
API_TIMEOUT_SECONDS = 30.0  # per connect/read; the whole answer is capped by http_limits
COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # git sha1 or sha256 object id
SHA256 = re.compile(r"[0-9a-f]{64}")
BLOB_ID = re.compile(r"[0-9a-f]{40}")  # git blob id (sha1)


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
    return parse_retry_after(value, default, MAX_RETRY_AFTER)


def _transport_failure(what: str, error: Exception) -> ImageworksError:
    import httpx2

    unresolved = unresolved_name(error)
    if unresolved is not None:
        return ImageworksError(
            f"{what}: cannot resolve the Hub's host{_host_of(error)} ({unresolved.strerror or unresolved})",
            "check the network and HF_ENDPOINT; HF_HUB_OFFLINE=1 re-runs installed models without the Hub",
        )
    if isinstance(error, httpx2.TimeoutException):
        happened = "the Hub did not answer in time"
    elif isinstance(error, httpx2.RemoteProtocolError):
        happened = f"the Hub broke the HTTP exchange ({_first_line(error)})"
    else:
        happened = f"connection failed ({_first_line(error)})"
    return ImageworksError(f"{what}: {happened}", "check HF_ENDPOINT and the network, then try again")


def _host_of(error: Exception) -> str:
    """`` <host>`` of the request that failed, when the error knows it, else ``""``."""
    try:
        return f" {error.request.url.host}"  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError for an error without a request
        return ""


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0] or type(error).__name__


def with_retries(call: Callable[[], T], what: str) -> T:
    """Run ``call``, retrying 429/5xx, dropped connections and timeouts with backoff."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

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
        except (httpx2.TransportError, OSError) as error:  # httpx2's errors are not OSErrors
            if delay is None or unresolved_name(error) is not None or isinstance(error, OfflineModeIsEnabled):
                raise _transport_failure(what, error) from error  # a name that does not resolve will not in a second
            log.warning("%s: %s, retry %d in %.1fs", what, _first_line(error), attempt + 1, delay)
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
    return ImageworksError(f"cannot read {name} from the Hub: {_first_line(error)}")


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

    if offline_mode():
        raise SourceOfflineError(
            f"HF_HUB_OFFLINE is set, so the Hub is not asked, and {ref.display} needs it",
            "a plain re-run of an installed model works offline; unset HF_HUB_OFFLINE to download",
        )
    api = HfApi(endpoint=endpoint, token=token or False)
    # Always name the revision: some mirrors (olah) answer 401 for model info without one.
    revision = ref.revision or "main"
    with _explained(ref):
        info: Any = with_retries(
            lambda: api.model_info(ref.repo_id, revision=revision, timeout=API_TIMEOUT_SECONDS), f"metadata of {ref.display}"
        )
        commit = _commit(info.sha, ref)
        tree: list[Any] = with_retries(
            lambda: list(api.list_repo_tree(ref.repo_id, revision=commit, recursive=True)), f"file list of {ref.display}"
        )
        files = [_from_tree(entry, ref) for entry in tree if hasattr(entry, "blob_id")]  # RepoFolder has none
        listed = {f.path for f in files}
        unsized = [_name(s.rfilename, ref) for s in (info.siblings or []) if s.rfilename not in listed]
        unsized += [f.path for f in files if f.size < 0]
        sized = {f.path: f for f in files if f.size >= 0}
        for path in unsized:
            sized[path] = _from_head(endpoint, token, ref, commit, path)
    return RepoSnapshot(
        repo_id=ref.repo_id,
        revision=ref.revision,
        commit=commit,
        files=tuple(sized[path] for path in sorted(sized)),
        gated=bool(info.gated),
    )


@contextlib.contextmanager
def _explained(ref: ModelRef) -> Iterator[None]:
    """Hub API calls with their answers bounded, and their failures as one actionable line."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    from imageworks.providers.huggingface.http_limits import bounded_api_answers

    name = ref.display
    try:
        with bounded_api_answers():
            yield
    except json.JSONDecodeError as error:
        raise _malformed(ref, f"not JSON ({error.msg} at char {error.pos})") from error
    except RecursionError as error:  # huggingface_hub parses with json.loads: it stops at ~1,000 levels, no crash
        raise _malformed(ref, "JSON nested too deeply") from error
    except (TypeError, KeyError, AttributeError) as error:  # ModelInfo(**answer) on a wrong shape
        raise _malformed(ref, f"wrong shape ({type(error).__name__}: {_first_line(error)})") from error
    except httpx2.DecodingError as error:
        raise _malformed(ref, f"undecodable body ({_first_line(error)})") from error
    except httpx2.TooManyRedirects as error:
        raise ImageworksError(f"the Hub redirected the metadata of {name} too many times", "check HF_ENDPOINT") from error
    except (HfHubHTTPError, ValueError) as error:
        raise explain(error, ref) from error


def _malformed(ref: ModelRef, detail: str) -> ImageworksError:
    return ImageworksError(f"the Hub's metadata for {ref.display} is malformed: {detail}", "check HF_ENDPOINT")


def _commit(sha: object, ref: ModelRef) -> str:
    # The commit goes into every resolve URL and the aria2 input file: only a real object id may.
    if not isinstance(sha, str) or not COMMIT.fullmatch(sha):
        shown = f"{sha!r}"[:80] if sha is not None else "none"
        raise ImageworksError(
            f"the Hub answered with an invalid commit id for {ref.display}: {shown}",
            "a commit id is 40 or 64 lowercase hex digits; check HF_ENDPOINT",
        )
    return sha


def _name(path: object, ref: ModelRef) -> str:
    if not isinstance(path, str) or not path:
        raise _malformed(ref, f"a file without a name ({path!r:.80})")
    return path


def _from_tree(entry: Any, ref: ModelRef) -> RepoFile:
    """A tree entry as a :class:`RepoFile`; ``size`` -1 when the tree left it out."""
    path = _name(entry.path, ref)
    lfs = getattr(entry, "lfs", None)
    size = lfs.size if lfs is not None else entry.size
    if size is None:
        size = -1
    elif isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise _malformed(ref, f"{path!r} has an invalid size {size!r:.40}")
    sha256 = lfs.sha256 if lfs is not None else None
    if sha256 is not None and not (isinstance(sha256, str) and SHA256.fullmatch(sha256)):
        raise _malformed(ref, f"{path!r} has an invalid sha256 {sha256!r:.80}")
    blob_id = entry.blob_id if isinstance(entry.blob_id, str) and BLOB_ID.fullmatch(entry.blob_id) else None
    return RepoFile(path=path, size=size, sha256=sha256, blob_id=blob_id)


def _from_head(endpoint: str, token: str | None, ref: ModelRef, commit: str, path: str) -> RepoFile:
    """Size (and, for LFS files, sha256) of one file from ``HEAD .../resolve/<commit>/<path>``."""
    from huggingface_hub import get_hf_file_metadata

    url = resolve_url(endpoint, RepoSnapshot(ref.repo_id, ref.revision, commit, ()), path)
    meta = with_retries(lambda: get_hf_file_metadata(url, token=token or False, timeout=API_TIMEOUT_SECONDS), f"size of {path}")
    size = meta.size if meta.size is not None else _size_from_get(url, token, ref, path)
    etag = (meta.etag or "").strip('"')
    sha256 = etag if SHA256.fullmatch(etag) else None  # LFS files: the ETag is the content's sha256
    return RepoFile(path=path, size=int(size), sha256=sha256, blob_id=etag if BLOB_ID.fullmatch(etag) else None)


def _size_from_get(url: str, token: str | None, ref: ModelRef, path: str) -> int:
    """The size a ranged ``GET`` announces (``Content-Range``, else a 200's ``Content-Length``).

    For a server whose ``HEAD`` says nothing about size. The engines then take the file as
    complete only when exactly that many bytes arrived. The token goes only to the
    endpoint's own origin, whatever the redirects say.
    """
    import requests

    from imageworks.transfer.errors import TransferError
    from imageworks.transfer.redirects import probe

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = with_retries(lambda: probe(url, headers, what=path, timeout=API_TIMEOUT_SECONDS), f"size of {path}")
    except (requests.RequestException, TransferError) as error:
        raise ImageworksError(f"cannot learn the size of {path} of {ref.display}: {error}") from error
    if answer.total is None or not 200 <= answer.status < 300:
        raise ImageworksError(
            f"the Hub does not say how large {path} of {ref.display} is (HTTP {answer.status}, no Content-Range)",
            "try another HF_ENDPOINT",
        )
    return answer.total


def resolve_url(endpoint: str, snapshot: RepoSnapshot, path: str) -> str:
    """The download URL of ``path`` pinned to the snapshot's commit (every segment quoted)."""
    from urllib.parse import quote

    return f"{endpoint.rstrip('/')}/{quote(snapshot.repo_id)}/resolve/{quote(snapshot.commit, safe='')}/{quote(path)}"
