"""A small Hugging Face Hub API client on the standard library, in place of ``huggingface_hub``'s.

It does what ``download`` and ``analyze`` asked ``huggingface_hub`` for, the same way,
for a fraction of the import (``docs/dependencies.md``): model info at a revision
(``HfApi.model_info``), the recursive tree at a commit with the Hub's ``Link: <...>;
rel="next"`` pages (``HfApi.list_repo_tree``), a ``HEAD`` of a ``resolve`` URL
(``get_hf_file_metadata``: ``X-Linked-Size``, ``X-Linked-Etag``, ``X-Repo-Commit``) and a
small file's bytes. The tests run it beside ``HfApi`` against the same servers and
require the same answers and the same error classes (``tests/download/test_hub_api.py``).

* Errors as ``hf_raise_for_status`` sorts them (:mod:`.hub_errors`): the Hub's
  ``X-Error-Code`` (``RepoNotFound``, ``GatedRepo``, ``RevisionNotFound``,
  ``EntryNotFound``), a disabled repo, an HTTPS 401 on a repo URL as "not found",
  anything else as ``HubHTTPError``.
* 429 and 5xx retried after ``Retry-After`` (or our backoff), dropped connections and
  timeouts retried; a host that does not resolve fails at once (``HubUnreachableError``).
* Every answer bounded in size and time (:mod:`.http_limits`), its JSON in depth (the
  parser stops at the interpreter's recursion limit) and in shape (``MalformedAnswerError``).
* The token goes in a header, and only to the endpoint's origin: a redirect or a next
  page elsewhere gets none (a page elsewhere is refused: the list must come from the Hub).
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote, unquote, urlsplit

from imageworks.core.errors import ImageworksError, SourceOfflineError, first_line
from imageworks.core.http import parse_retry_after
from imageworks.providers.huggingface.http_limits import ACCEPTED_ENCODINGS, MAX_API_ANSWER_BYTES, read_answer
from imageworks.providers.huggingface.hub_errors import HubUnreachableError, MalformedAnswerError, error_for
from imageworks.providers.huggingface.offline import offline_mode, unresolved_name
from imageworks.transfer.http_client import HTTP_ERRORS, REDIRECTS, Connection, next_hop, origin

log = logging.getLogger("imageworks.huggingface")
T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_DELAYS = (1.0, 2.0, 4.0)
MAX_RETRY_AFTER = 30.0
API_TIMEOUT_SECONDS = 30.0  # per connect and per read; the whole answer is capped by http_limits
MAX_HOPS = 10
MAX_PAGES = 10_000  # of the file list: 10 million files at the Hub's 1,000 a page
COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # git sha1 or sha256 object id
SHA256 = re.compile(r"[0-9a-f]{64}")
BLOB_ID = re.compile(r"[0-9a-f]{40}")  # git blob id (sha1)
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

# The client's records are named tuples, not attrs classes: this module is on the no-op
# re-run's path, and a named tuple is built in a fifth of the time (0.06 ms against 0.35 ms).


class ModelInfo(NamedTuple):
    """What model info says: ``sha`` as sent (the caller checks it), sibling names, gating."""

    sha: object
    siblings: tuple[str, ...]
    gated: bool


class TreeFile(NamedTuple):
    """One file of the tree: ``size`` None when the tree leaves it out; ``sha256`` for LFS files."""

    path: str
    size: int | None
    blob_id: str | None
    sha256: str | None


class FileMetadata(NamedTuple):
    """A ``HEAD`` of ``resolve`` as ``huggingface_hub.get_hf_file_metadata`` reads it."""

    commit: str | None
    etag: str | None
    size: int | None
    location: str


class Answer(NamedTuple):
    """A whole answer: status, headers, decoded body and the URL that gave it."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes
    url: str


class HubClient:
    """Requests to one Hub endpoint over one kept-alive connection (one thread at a time).

    ``retries=False``: one attempt per request (the no-op re-run's quick question);
    ``timeout``: seconds per connect and per read (default :data:`API_TIMEOUT_SECONDS`).
    """

    def __init__(self, endpoint: str, token: str | None, *, retries: bool = True, timeout: float | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._home = origin(self.endpoint)
        self._token = token
        self._retries = retries
        wait = API_TIMEOUT_SECONDS if timeout is None else timeout
        self._connection = Connection(wait, wait)
        self._connecting = False

    @property
    def token(self) -> str | None:
        """The token this client sends to the endpoint's origin."""
        return self._token

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API ---------------------------------------------------------------------
    def model_info(self, repo_id: str, revision: str) -> ModelInfo:
        """``GET /api/models/<repo>/revision/<rev>``."""
        url = f"{self.endpoint}/api/models/{repo_id}/revision/{quote(revision, safe='')}"
        data = _json(self.get(url, f"metadata of {repo_id}"))
        if not isinstance(data, dict):
            raise MalformedAnswerError(f"wrong shape (model info is {type(data).__name__}, not an object)")
        siblings = data.get("siblings")
        if siblings is not None and not isinstance(siblings, list):
            raise MalformedAnswerError(f"wrong shape (siblings is {type(siblings).__name__}, not a list)")
        names = tuple(_sibling(entry) for entry in siblings or ())
        return ModelInfo(sha=data.get("sha"), siblings=names, gated=bool(data.get("gated")))

    def list_tree(self, repo_id: str, revision: str) -> list[TreeFile]:
        """Every file of the recursive tree at ``revision``, following its pages on the endpoint's origin."""
        url = f"{self.endpoint}/api/models/{repo_id}/tree/{quote(revision, safe='')}?recursive=true&expand=false"
        files: list[TreeFile] = []
        seen: set[str] = set()
        budget = MAX_API_ANSWER_BYTES
        while len(seen) < MAX_PAGES:
            seen.add(url)
            answer = self.get(url, f"file list of {repo_id}", max_bytes=budget)
            budget -= len(answer.body)
            page = _json(answer)
            if not isinstance(page, list):
                raise MalformedAnswerError(f"wrong shape (the file list is {type(page).__name__}, not a list)")
            files += [_tree_file(entry) for entry in page if _is_file(entry)]
            following = next_link(answer.headers.get("Link", ""))
            if following is None:
                return files
            url = next_hop(answer.url, following)
            if origin(url) != self._home:
                raise MalformedAnswerError(f"the file list's next page is on another origin ({urlsplit(url).hostname})")
            if url in seen:
                raise MalformedAnswerError("the file list's pages loop")
        raise MalformedAnswerError(f"the file list runs past {MAX_PAGES} pages")

    def file_metadata(self, url: str, what: str) -> FileMetadata:
        """``HEAD`` of a ``resolve`` URL; redirects followed only on the endpoint's origin."""
        answer = self.request("HEAD", url, what, leave_origin=False)
        redirect = answer.status in REDIRECTS
        size = answer.headers.get("X-Linked-Size") or (None if redirect else answer.headers.get("Content-Length"))
        etag = answer.headers.get("X-Linked-Etag") or answer.headers.get("ETag")
        return FileMetadata(
            commit=answer.headers.get("X-Repo-Commit"),
            etag=etag.removeprefix("W/").strip('"') if etag is not None else None,
            size=int(size) if size is not None and size.strip().isdigit() else None,
            location=next_hop(answer.url, answer.headers["Location"]) if redirect and answer.headers.get("Location") else answer.url,
        )

    def get(self, url: str, what: str, max_bytes: int = MAX_API_ANSWER_BYTES) -> Answer:
        """``GET`` ``url`` to a successful answer, redirects followed (the token stays on the endpoint's origin)."""
        return self.request("GET", url, what, leave_origin=True, max_bytes=max_bytes)

    # -- one request: redirects, retries, errors -------------------------------------
    def request(self, method: str, url: str, what: str, *, leave_origin: bool, max_bytes: int = MAX_API_ANSWER_BYTES) -> Answer:
        """``method`` ``url`` with redirects and retries; raises :class:`HubHTTPError` for an error status.

        A redirect to another origin is followed only with ``leave_origin`` (without the
        token); otherwise that redirect is the answer.
        """
        current = url
        for _hop in range(MAX_HOPS + 1):
            answer = self.retrying(functools.partial(self._once, method, current, max_bytes), what)
            location = answer.headers.get("Location")
            if answer.status not in REDIRECTS or not location:
                raise_for_status(answer)
                return answer
            target = next_hop(current, location)
            if urlsplit(target).scheme.lower() not in ("http", "https"):
                raise ImageworksError(f"the Hub redirected {what} to a non-HTTP address", "check HF_ENDPOINT")
            if origin(target) != self._home and not leave_origin:
                return answer
            current = target
        raise ImageworksError(f"the Hub redirected {what} more than {MAX_HOPS} times", "check HF_ENDPOINT")

    def retrying(self, attempt: Callable[[], T], what: str) -> T:
        """``attempt()``, again after a dropped connection or timeout, and after 429/5xx when it gives an :class:`Answer`.

        Raises :class:`HubUnreachableError` when no attempt got through.
        """
        delays = RETRY_DELAYS if self._retries else ()
        for number, delay in enumerate((*delays, None), start=1):
            try:
                answer = attempt()
            except HTTP_ERRORS as error:
                if delay is None or unresolved_name(error) is not None:
                    raise self._unreachable(what, error) from error  # a name that does not resolve will not in a second
                log.warning("%s: %s, retry %d in %.1fs", what, first_line(error), number, delay)
                time.sleep(delay)
                continue
            if isinstance(answer, Answer) and answer.status in RETRY_STATUSES and delay is not None:
                wait = parse_retry_after(answer.headers.get("Retry-After"), delay, MAX_RETRY_AFTER)
                log.warning("%s: HTTP %s, retry %d in %.1fs", what, answer.status, number, wait)
                time.sleep(wait)
                continue
            return answer
        raise AssertionError("unreachable")

    def _once(self, method: str, url: str, max_bytes: int) -> Answer:
        if offline_mode():
            raise SourceOfflineError("HF_HUB_OFFLINE is set, so the Hub is not asked", "unset HF_HUB_OFFLINE to ask it")
        headers = {"Accept-Encoding": ACCEPTED_ENCODINGS if method == "GET" else "identity"}
        if self._token and origin(url) == self._home:
            headers["Authorization"] = f"Bearer {self._token}"
        reused = self._connection.sock is not None
        try:
            return self._exchange(method, url, headers, max_bytes)
        except _STALE:
            if not reused:
                raise
            return self._exchange(method, url, headers, max_bytes)  # the server closed an idle connection

    def _exchange(self, method: str, url: str, headers: dict[str, str], max_bytes: int) -> Answer:
        self._connecting = True
        self._connection.open(url)
        self._connecting = False
        try:
            answer = self._connection.request(method, url, headers)
            body = answer.read() if method == "HEAD" else read_answer(answer, unquote(urlsplit(url).path), max_bytes)
        except BaseException:
            self._connection.close()
            raise
        return Answer(answer.status, answer.headers, body, url)

    def _unreachable(self, what: str, error: BaseException) -> HubUnreachableError:
        host = urlsplit(self.endpoint).hostname
        unresolved = unresolved_name(error)
        if unresolved is not None:
            return HubUnreachableError(
                f"{what}: cannot resolve the Hub's host {host} ({unresolved.strerror or unresolved})",
                "check the network and HF_ENDPOINT; HF_HUB_OFFLINE=1 re-runs installed models without the Hub",
                cause=error, connecting=True,
            )
        if isinstance(error, TimeoutError):
            happened = "the Hub did not answer in time"
        elif isinstance(error, http.client.HTTPException):
            happened = f"the Hub broke the HTTP exchange ({first_line(error)})"
        else:
            happened = f"connection failed ({first_line(error)})"
        return HubUnreachableError(
            f"{what}: {happened}", "check HF_ENDPOINT and the network, then try again", cause=error, connecting=self._connecting
        )


def raise_for_status(answer: Answer) -> None:
    """Raise the error class ``huggingface_hub.utils.hf_raise_for_status`` would for ``answer``."""
    error = error_for(answer.status, answer.url, answer.headers)
    if error is not None:
        raise error


def next_link(header: str) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (GitHub's pagination, as ``httpx`` reads it)."""
    for link in re.split(r", *<", header):
        target, _, params = link.partition(";")
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "rel" and "next" in value.strip(" '\"").split():
                return target.strip("<> '\"") or None
    return None


def _json(answer: Answer) -> Any:
    try:
        return json.loads(answer.body)
    except RecursionError:
        raise MalformedAnswerError("JSON nested too deeply") from None
    except UnicodeDecodeError as error:
        raise MalformedAnswerError(f"not JSON (not UTF-8 at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise MalformedAnswerError(f"not JSON ({error.msg} at char {error.pos})") from None


def _sibling(entry: object) -> str:
    name = entry.get("rfilename") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not name:
        raise MalformedAnswerError(f"wrong shape (a sibling without a file name: {entry!r:.80})")
    return name


def _is_file(entry: object) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
        raise MalformedAnswerError(f"wrong shape (a file-list entry without a type: {entry!r:.80})")
    return bool(entry["type"] == "file")


def _tree_file(entry: dict[str, Any]) -> TreeFile:
    path = entry.get("path")
    if not isinstance(path, str) or not path:
        raise MalformedAnswerError(f"a file without a name ({path!r:.80})")
    lfs = entry.get("lfs")
    if lfs is not None and not isinstance(lfs, dict):
        raise MalformedAnswerError(f"wrong shape ({path!r} has lfs {lfs!r:.40})")
    size = lfs.get("size") if lfs is not None else entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise MalformedAnswerError(f"{path!r} has an invalid size {size!r:.40}")
    sha256 = lfs.get("oid") if lfs is not None else None
    if sha256 is not None and not (isinstance(sha256, str) and SHA256.fullmatch(sha256)):
        raise MalformedAnswerError(f"{path!r} has an invalid sha256 {sha256!r:.80}")
    oid = entry.get("oid")
    return TreeFile(path=path, size=size, blob_id=oid if isinstance(oid, str) and BLOB_ID.fullmatch(oid) else None, sha256=sha256)
