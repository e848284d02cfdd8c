"""Repository metadata from the Hub, through our own small client (:mod:`.hub_api`).

Model info resolves the revision to a commit; the tree at that commit gives every
file's size, git blob id and, for LFS files, the sha256 the download is checked against.
Hub errors become one-line :class:`ImageworksError` messages that say what to do; 429 and
5xx are retried with backoff, dropped connections and timeouts too (:mod:`.hub_api`).
``HF_ENDPOINT`` (mirrors) and the user's token (``HF_TOKEN`` or ``hf auth login``,
:mod:`.hub_token`) are honoured; the token only ever travels in a header, to the
endpoint's origin.

The answer is untrusted: it is size- and time-capped while it arrives
(:mod:`.http_limits`), its shape checked by the client, and the commit id, names, sizes
and digests checked here, before any of them reaches a URL, a file name or the aria2
input file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import attrs

from imageworks.core.errors import ImageworksError, SourceOfflineError
from imageworks.providers.huggingface import hub_api, hub_errors
from imageworks.providers.huggingface.http_limits import UndecodableAnswerError
from imageworks.providers.huggingface.hub_api import BLOB_ID, COMMIT, SHA256, HubClient, TreeFile
from imageworks.providers.huggingface.offline import offline_mode
from imageworks.providers.huggingface.refs import ModelRef


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


def explain(error: hub_errors.HubHTTPError, ref: ModelRef) -> ImageworksError:
    """A Hub error as one actionable line."""
    name = ref.display
    if isinstance(error, hub_errors.GatedRepoError):
        return ImageworksError(
            f"{name} is gated", "accept its terms on the Hub, then set HF_TOKEN (or run `hf auth login`)"
        )
    if isinstance(error, hub_errors.RevisionNotFoundError):
        return ImageworksError(f"{ref.repo_id} has no branch, tag or commit {ref.revision!r}")
    if isinstance(error, hub_errors.RepoNotFoundError):
        return ImageworksError(
            f"model {name} not found", "check the spelling; private or gated repos need HF_TOKEN"
        )
    if isinstance(error, hub_errors.DisabledRepoError):
        return ImageworksError(f"{name} is disabled on the Hub")
    if error.status in {401, 403}:
        return ImageworksError(f"access to {name} refused (HTTP {error.status})", "set HF_TOKEN to a token that may read it")
    if error.status in hub_api.RETRY_STATUSES:
        return ImageworksError(f"the Hub kept failing for {name} (HTTP {error.status})", "try again later or set HF_ENDPOINT to a mirror")
    return ImageworksError(f"cannot read {name} from the Hub: {error}")


def fetch_snapshot(ref: ModelRef, endpoint: str, token: str | None, client: HubClient | None = None) -> RepoSnapshot:
    """Metadata of ``ref`` (sizes and digests of every file) without downloading.

    The revision is resolved to a commit first (model info), and everything else is read
    at that commit, so a branch that moves meanwhile cannot mix revisions. File sizes,
    git blob ids and LFS sha256 come from the tree API, which every Hub implementation
    serves (huggingface.co, olah, Artifactory); ``siblings`` in model info may carry
    names only on mirrors. A file the tree leaves without a size is asked for with
    ``HEAD``. ``client`` (for ``endpoint`` and ``token``) lets the caller's next requests
    reuse its connection.
    """
    if offline_mode():
        raise SourceOfflineError(
            f"HF_HUB_OFFLINE is set, so the Hub is not asked, and {ref.display} needs it",
            "a plain re-run of an installed model works offline; unset HF_HUB_OFFLINE to download",
        )
    # Always name the revision: some mirrors (olah) answer 401 for model info without one.
    revision = ref.revision or "main"
    owned = client is None
    client = HubClient(endpoint, token) if client is None else client
    try:
        with _explained(ref):
            return _snapshot(client, ref, revision)
    finally:
        if owned:
            client.close()


def _snapshot(client: HubClient, ref: ModelRef, revision: str) -> RepoSnapshot:
    info = client.model_info(ref.repo_id, revision)
    commit = _commit(info.sha, ref)
    files = [_repo_file(entry) for entry in client.list_tree(ref.repo_id, commit)]
    listed = {f.path for f in files}
    unsized = [name for name in info.siblings if name not in listed] + [f.path for f in files if f.size < 0]
    sized = {f.path: f for f in files if f.size >= 0}
    for path in unsized:
        sized[path] = _from_head(client, ref, commit, path)
    return RepoSnapshot(
        repo_id=ref.repo_id,
        revision=ref.revision,
        commit=commit,
        files=tuple(sized[path] for path in sorted(sized)),
        gated=info.gated,
    )


@contextlib.contextmanager
def _explained(ref: ModelRef) -> Iterator[None]:
    """Hub API calls with their failures as one actionable line."""
    try:
        yield
    except (hub_errors.MalformedAnswerError, UndecodableAnswerError) as error:
        raise _malformed(ref, str(error)) from error
    except hub_errors.HubHTTPError as error:
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


def _repo_file(entry: TreeFile) -> RepoFile:
    """A tree entry as a :class:`RepoFile`; ``size`` -1 when the tree left it out."""
    return RepoFile(path=entry.path, size=-1 if entry.size is None else entry.size, sha256=entry.sha256, blob_id=entry.blob_id)


def _from_head(client: HubClient, ref: ModelRef, commit: str, path: str) -> RepoFile:
    """Size (and, for LFS files, sha256) of one file from ``HEAD .../resolve/<commit>/<path>``."""
    url = resolve_url(client.endpoint, RepoSnapshot(ref.repo_id, ref.revision, commit, ()), path)
    meta = client.file_metadata(url, f"size of {path}")
    size = meta.size if meta.size is not None else _size_from_get(url, client, ref, path)
    etag = meta.etag or ""
    sha256 = etag if SHA256.fullmatch(etag) else None  # LFS files: the ETag is the content's sha256
    return RepoFile(path=path, size=size, sha256=sha256, blob_id=etag if BLOB_ID.fullmatch(etag) else None)


def _size_from_get(url: str, client: HubClient, ref: ModelRef, path: str) -> int:
    """The size a ranged ``GET`` announces (``Content-Range``, else a 200's ``Content-Length``).

    For a server whose ``HEAD`` says nothing about size. The engines then take the file as
    complete only when exactly that many bytes arrived. The token goes only to the
    endpoint's own origin, whatever the redirects say.
    """
    from imageworks.transfer.errors import TransferError
    from imageworks.transfer.http_client import HTTP_ERRORS
    from imageworks.transfer.redirects import probe

    token = client.token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = client.retrying(lambda: probe(url, headers, what=path, timeout=hub_api.API_TIMEOUT_SECONDS), f"size of {path}")
    except (*HTTP_ERRORS, TransferError) as error:
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
