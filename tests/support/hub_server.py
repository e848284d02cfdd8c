"""A local Hugging Face Hub on 127.0.0.1 that the official ``huggingface_hub`` client accepts.

It serves model repositories from folders on disk and speaks the parts of the Hub API the
downloader and ``huggingface_hub`` use:

* ``GET /api/models/<repo>[/revision/<rev>]`` -> model info with ``sha`` and ``siblings``
  (``?blobs=true`` adds ``size``, ``blobId`` and ``lfs: {sha256, size, pointerSize}``);
* ``POST /api/models/<repo>/paths-info/<rev>`` -> the entries of the paths asked for;
* ``GET /api/models/<repo>/tree/<rev>[/<path>]?recursive=&cursor=`` -> tree entries,
  paged with a GitHub-style ``Link: <...>; rel="next"`` header when ``page_size`` is set;
* ``HEAD``/``GET /<repo>/resolve/<rev>/<path>`` with ``Range``, ``ETag``,
  ``X-Repo-Commit``, ``X-Linked-Etag``/``X-Linked-Size`` (LFS files), ``Accept-Ranges``;
  with ``lfs_redirect=True`` LFS files answer ``302`` to a "CDN" URL on ``localhost``
  (another origin, so clients must drop the ``Authorization`` header, as with the Hub);
  with ``xet=True`` they answer as Xet-backed files do on huggingface.co today
  (``X-Xet-Hash``, a ``xet-auth`` link, a redirect to a Xet bridge URL).

Errors carry the Hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``, ``GatedRepo``) so ``huggingface_hub`` raises its own typed errors.

Faults are injected on demand per URL path (an ``fnmatch`` pattern on the unquoted path):
HTTP statuses for the next N requests, a connection reset after K body bytes, corrupted
bytes, no answer at all (``withhold``, or past ``stream_limit`` GETs of one file at once,
like a mirror that fetches each range upstream first), and a per-connection bandwidth cap. Every request is logged (method, raw path with
query, headers) so tests can check what clients sent, and the GETs of each file whose body
is being sent are counted (``peak_streams``: the most at once, per file).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, quote, unquote, urlsplit

from requests.structures import CaseInsensitiveDict

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".onnx", ".h5", ".msgpack", ".ot", ".model")
LFS_MIN_SIZE = 10 * 1024 * 1024
CHUNK = 256 * 1024

_HASH_CACHE: dict[tuple[str, int, int], tuple[str, str]] = {}
_HASH_LOCK = threading.Lock()


def _hashes(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1) of a file, cached by path, size and mtime across servers."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASH_CACHE:
            return _HASH_CACHE[key]
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(f"blob {stat.st_size}\0".encode())
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha256.update(chunk)
            blob.update(chunk)
    result = (sha256.hexdigest(), blob.hexdigest())
    with _HASH_LOCK:
        _HASH_CACHE[key] = result
    return result


@dataclass(frozen=True)
class HubFile:
    """One file of a served revision."""

    path: str
    source: Path
    size: int
    sha256: str
    blob_id: str
    lfs: bool

    @property
    def etag(self) -> str:
        """The Hub's ETag: the LFS sha256 for LFS files, the git blob id otherwise."""
        return self.sha256 if self.lfs else self.blob_id


@dataclass
class HubRevision:
    """A named revision (branch) of a repo: a commit sha and the files of a folder."""

    name: str
    commit: str
    files: dict[str, HubFile]


@dataclass
class HubRepo:
    """A served model repository; ``token`` set means gated: files need that Bearer token."""

    repo_id: str
    revisions: dict[str, HubRevision]
    token: str | None = None

    def revision(self, name: str) -> HubRevision | None:
        """Find a revision by branch name or commit sha."""
        if name in self.revisions:
            return self.revisions[name]
        return next((r for r in self.revisions.values() if r.commit == name), None)


@dataclass
class Fault:
    """An injected fault; ``remaining`` None means forever."""

    pattern: str
    kind: str  # "status" | "reset" | "corrupt" | "withhold"
    remaining: int | None
    status: int = 500
    retry_after: float | None = None
    after_bytes: int = 0
    methods: tuple[str, ...] = ("GET", "HEAD")
    code: str = "Injected"  # the X-Error-Code of a status fault
    message: str | None = None  # its X-Error-Message (default "injected <status>")


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it."""

    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive
    status: int
    body_bytes: int = 0
    started: float = 0.0  # time.monotonic() when the request arrived


def _scan_folder(folder: Path, lfs_min_size: int) -> dict[str, HubFile]:
    files = {}
    for source in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = source.relative_to(folder).as_posix()
        if relative.startswith(".git/") or relative == ".git":
            continue
        sha256, blob_id = _hashes(source)
        size = source.stat().st_size
        lfs = source.suffix in LFS_SUFFIXES or size >= lfs_min_size
        files[relative] = HubFile(relative, source, size, sha256, blob_id, lfs)
    return files


def _commit_for(repo_id: str, revision: str, files: Mapping[str, HubFile]) -> str:
    digest = hashlib.sha1(f"{repo_id}@{revision}".encode())
    for name in sorted(files):
        digest.update(f"{name}:{files[name].etag}".encode())
    return digest.hexdigest()


class HubServer:
    """A threaded loopback Hub. Use as a context manager or call ``start``/``stop``."""

    def __init__(self, *, lfs_redirect: bool = False, page_size: int | None = None, cdn: str | None = None,
                 xet: bool = False) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.lfs_redirect = lfs_redirect
        # LFS files stored with Xet, as huggingface.co answers for them today: ``X-Xet-Hash``
        # and a ``Link: <...xet-read-token...>; rel="xet-auth"`` beside ``X-Linked-Etag`` /
        # ``X-Linked-Size``, and a redirect to the Xet bridge (``/__xet__/<xet hash>`` on
        # the other origin, Range honoured) instead of the LFS CDN.
        self.xet = xet
        self.cdn = cdn  # another server answering /__cdn__/<sha256> (e.g. nginx in benchmarks)
        self.page_size = page_size
        # A mirror that announces no size before a GET: null sizes in the tree and model
        # info, HEAD without Content-Length or X-Linked-Size (sizes come from Content-Range).
        self.hide_sizes = False
        self.bandwidth: float | None = None  # bytes per second, per connection
        self.requests: list[RequestRecord] = []
        # GETs of a file whose body is being sent, by file path, and the most seen at once
        self.streams_now: dict[str, int] = {}
        self.peak_streams: dict[str, int] = {}
        # A mirror that can serve only this many GETs of one file at once (each fetched
        # upstream first): the others get no answer at all until the client gives up.
        self.stream_limit: int | None = None
        self.withheld = 0  # GETs that got no answer (a "withhold" fault or the stream limit)
        self.ignore_range = False  # answer 200 with the whole file to every GET, as olah's mirror mode does
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content ---------------------------------------------------------------------
    def add_repo(
        self,
        repo_id: str,
        revisions: Mapping[str, Path] | Path,
        *,
        token: str | None = None,
        lfs_min_size: int = LFS_MIN_SIZE,
    ) -> HubRepo:
        """Serve ``repo_id`` from folders: ``{revision name: folder}`` or one folder as ``main``."""
        if isinstance(revisions, Path):
            revisions = {"main": revisions}
        served = {}
        for name, folder in revisions.items():
            files = _scan_folder(Path(folder), lfs_min_size)
            served[name] = HubRevision(name, _commit_for(repo_id, name, files), files)
        repo = HubRepo(repo_id, served, token)
        self.repos[repo_id] = repo
        return repo

    # -- faults ----------------------------------------------------------------------
    def fail(
        self,
        pattern: str,
        status: int,
        times: int | None = 1,
        *,
        retry_after: float | None = None,
        methods: tuple[str, ...] = ("GET", "HEAD"),
        code: str = "Injected",
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (and ``Retry-After``
        when given), ``code`` as ``X-Error-Code`` and ``message`` as ``X-Error-Message``."""
        self._add(Fault(pattern, "status", times, status=status, retry_after=retry_after, methods=methods,
                        code=code, message=message))

    def reset_after(self, pattern: str, after_bytes: int, times: int | None = 1) -> None:
        """Reset the connection after ``after_bytes`` body bytes of the next ``times`` GETs."""
        self._add(Fault(pattern, "reset", times, after_bytes=after_bytes, methods=("GET",)))

    def corrupt(self, pattern: str, times: int | None = 1) -> None:
        """Flip one byte in the body of the next ``times`` matching GETs."""
        self._add(Fault(pattern, "corrupt", times, methods=("GET",)))

    def withhold(self, pattern: str, times: int | None = 1) -> None:
        """Send nothing at all (not even the status line) to the next ``times`` matching GETs, until the client leaves."""
        self._add(Fault(pattern, "withhold", times, methods=("GET",)))

    def clear_faults(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self._faults.clear()

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume and return the first active fault matching this request, if any."""
        with self._lock:
            for fault in self._faults:
                if method in fault.methods and fault.remaining != 0 and fnmatch.fnmatchcase(path, fault.pattern):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    def log(self, record: RequestRecord) -> None:
        """Append to the request log (thread-safe)."""
        with self._lock:
            self.requests.append(record)

    def stream_began(self, path: str) -> bool:
        """Count a GET of ``path`` whose body is about to be sent; False (not counted) past ``stream_limit``."""
        with self._lock:
            now = self.streams_now.get(path, 0) + 1
            if self.stream_limit is not None and now > self.stream_limit:
                return False
            self.streams_now[path] = now
            self.peak_streams[path] = max(self.peak_streams.get(path, 0), now)
            return True

    def stream_ended(self, path: str) -> None:
        """Stop counting a GET of ``path`` (its last bytes are being handed to the socket, or it failed)."""
        with self._lock:
            self.streams_now[path] -= 1

    def requests_for(self, pattern: str) -> list[RequestRecord]:
        """Logged requests whose unquoted path (without query) matches ``pattern``."""
        with self._lock:
            records = list(self.requests)
        return [r for r in records if fnmatch.fnmatchcase(unquote(urlsplit(r.path).path), pattern)]

    # -- lifecycle -------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port."""
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Endpoint to give clients (``HF_ENDPOINT``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def cdn_url(self) -> str:
        """Base of redirected LFS downloads: ``cdn`` if given, else this server under another origin."""
        return self.cdn or f"http://localhost:{self.port}"

    def resolve_url(self, repo_id: str, path: str, revision: str = "main") -> str:
        """The ``resolve`` URL of a file, quoted as ``huggingface_hub.hf_hub_url`` does."""
        return f"{self.url}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"

    def start(self) -> HubServer:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        handler = type("BoundHandler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def xet_blob(self, xet_hash: str) -> HubFile | None:
        """Find a served LFS file by its Xet hash (for the bridge route)."""
        for repo in self.repos.values():
            for revision in repo.revisions.values():
                for hub_file in revision.files.values():
                    if hub_file.lfs and xet_hash_of(hub_file) == xet_hash:
                        return hub_file
        return None

    def blob(self, sha256: str) -> HubFile | None:
        """Find a served LFS file by sha256 (for the CDN route)."""
        for repo in self.repos.values():
            for revision in repo.revisions.values():
                for hub_file in revision.files.values():
                    if hub_file.sha256 == sha256:
                        return hub_file
        return None


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the owning :class:`HubServer` (set on a subclass as ``hub``)."""

    hub: HubServer
    protocol_version = "HTTP/1.1"
    server_version = "LoopbackHub/1.0"
    # TCP_NODELAY, as nginx and the Hub's CDN set it on kept-alive connections: the
    # headers and the body go out as two writes, and with Nagle's algorithm the body
    # waited for the client's delayed ACK (40 ms) on every answer after a connection's first.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        self._dispatch("POST")

    # -- plumbing --------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        self._status = 0
        self._sent = 0
        started = time.monotonic()
        split = urlsplit(self.path)
        path = unquote(split.path)
        try:
            fault = self.hub.take_fault(method, path)
            if fault is not None and fault.kind == "withhold":
                self._withhold()
                return
            if fault is not None and fault.kind == "status":
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                self._error(fault.status, fault.code, fault.message or f"injected {fault.status}", headers)
                return
            segments = [unquote(s) for s in split.path.split("/")[1:]]
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            if segments[:2] == ["api", "models"] and len(segments) >= 4:
                self._api(method, segments[2:], query)
            elif segments[:1] == ["__cdn__"] and len(segments) == 2:
                self._cdn(method, segments[1], fault)
            elif segments[:1] == ["__xet__"] and len(segments) == 2:
                self._xet_bridge(method, segments[1], fault)
            elif len(segments) >= 5 and segments[2] == "resolve":
                self._resolve(method, segments, fault)
            else:
                self._error(404, "RepoNotFound", "Repository not found")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            headers = CaseInsensitiveDict(dict(self.headers.items()))
            self.hub.log(RequestRecord(method, self.path, headers, self._status, self._sent, started))

    def _send(self, status: int, headers: Mapping[str, str], body: bytes = b"", method: str = "GET") -> None:
        self._status = status
        self.send_response(status)
        if method == "HEAD" and self.hub.hide_sizes:
            headers = {k: v for k, v in headers.items() if k != "Content-Length"}
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers and not (method == "HEAD" and self.hub.hide_sizes):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD" and body:
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, extra: Mapping[str, str] | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        headers = {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message}
        self._send(status, {**headers, **(extra or {})}, body, self.command)

    def _json(self, payload: object, extra: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self._send(200, {"Content-Type": "application/json", **(extra or {})}, body, self.command)

    def _repo_and_revision(self, repo_id: str, revision: str) -> tuple[HubRepo, HubRevision] | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        found = repo.revision(revision)
        if found is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None
        return repo, found

    # -- API -------------------------------------------------------------------------
    def _api(self, method: str, rest: list[str], query: Mapping[str, str]) -> None:
        repo_id = "/".join(rest[:2])
        tail = rest[2:]
        if not tail or (tail[0] == "revision" and len(tail) == 2):
            found = self._repo_and_revision(repo_id, tail[1] if tail else "main")
            if found:
                self._model_info(*found, blobs=query.get("blobs", "").lower() == "true")
        elif tail[0] == "paths-info" and len(tail) == 2 and method == "POST":
            found = self._repo_and_revision(repo_id, tail[1])
            if found:
                self._paths_info(found[1])
        elif tail[0] == "tree" and len(tail) >= 2:
            found = self._repo_and_revision(repo_id, tail[1])
            if found:
                self._tree(found[1], "/".join(tail[2:]), query)
        else:
            self._error(404, "EntryNotFound", "Unknown API route")

    def _model_info(self, repo: HubRepo, revision: HubRevision, *, blobs: bool) -> None:
        siblings = []
        for hub_file in revision.files.values():
            sibling: dict[str, object] = {"rfilename": hub_file.path}
            if blobs and not self.hub.hide_sizes:
                sibling.update(size=hub_file.size, blobId=hub_file.blob_id)
                if hub_file.lfs:
                    sibling["lfs"] = {"sha256": hub_file.sha256, "size": hub_file.size, "pointerSize": 134}
            siblings.append(sibling)
        owner = repo.repo_id.split("/")[0]
        self._json(
            {
                "_id": revision.commit[:24],
                "id": repo.repo_id,
                "modelId": repo.repo_id,
                "author": owner,
                "sha": revision.commit,
                "lastModified": "2024-01-01T00:00:00.000Z",
                "createdAt": "2023-01-01T00:00:00.000Z",
                "private": False,
                "gated": "manual" if repo.token else False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
                "usedStorage": sum(f.size for f in revision.files.values()),
            }
        )

    def _paths_info(self, revision: HubRevision) -> None:
        """``POST .../paths-info/<rev>`` (form ``paths=a&paths=b`` or JSON ``{"paths": [...]}``): entries of those paths."""
        body = getattr(self, "_body", b"")
        if "json" in self.headers.get("Content-Type", ""):
            paths = list(json.loads(body or b"{}").get("paths", []))
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        entries: list[dict[str, object]] = []
        for path in paths:
            hub_file = revision.files.get(path.strip("/"))
            if hub_file is not None:
                entry: dict[str, object] = {"type": "file", "oid": hub_file.blob_id, "size": hub_file.size, "path": hub_file.path}
                if hub_file.lfs:
                    entry["lfs"] = {"oid": hub_file.sha256, "size": hub_file.size, "pointerSize": 134}
                entries.append(entry)
            elif any(name.startswith(path.strip("/") + "/") for name in revision.files):
                oid = hashlib.sha1(f"tree {path}".encode()).hexdigest()
                entries.append({"type": "directory", "oid": oid, "size": 0, "path": path.strip("/")})
        self._json(entries)

    def _tree(self, revision: HubRevision, folder: str, query: Mapping[str, str]) -> None:
        recursive = query.get("recursive", "").lower() == "true"
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        entries: dict[str, dict[str, object]] = {}
        for hub_file in revision.files.values():
            if not hub_file.path.startswith(prefix):
                continue
            parts = hub_file.path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):  # folders on the way
                if not recursive and depth > 1:
                    break
                directory = prefix + "/".join(parts[:depth])
                oid = hashlib.sha1(f"tree {directory}".encode()).hexdigest()
                entries.setdefault(directory, {"type": "directory", "oid": oid, "size": 0, "path": directory})
            if recursive or len(parts) == 1:
                entry: dict[str, object] = {
                    "type": "file",
                    "oid": hub_file.blob_id,
                    "size": None if self.hub.hide_sizes else hub_file.size,
                    "path": hub_file.path,
                }
                if hub_file.lfs and not self.hub.hide_sizes:
                    entry["lfs"] = {"oid": hub_file.sha256, "size": hub_file.size, "pointerSize": 134}
                entries[hub_file.path] = entry
        if prefix and not entries:
            self._error(404, "EntryNotFound", f"{folder} does not exist on {revision.name}")
            return
        ordered = sorted(entries.values(), key=lambda e: (e["type"] != "directory", str(e["path"])))
        start = int(query.get("cursor", "0") or 0)
        extra = {}
        if self.hub.page_size:
            end = start + self.hub.page_size
            if end < len(ordered):
                split = urlsplit(self.path)
                params = "&".join(f"{k}={quote(v)}" for k, v in {**query, "cursor": str(end)}.items())
                extra["Link"] = f'<{self.hub.url}{split.path}?{params}>; rel="next"'
            ordered = ordered[start:end]
        self._json(ordered, extra)

    # -- files -----------------------------------------------------------------------
    def _resolve(self, method: str, segments: list[str], fault: Fault | None) -> None:
        repo_id = "/".join(segments[:2])
        found = self._repo_and_revision(repo_id, segments[3])
        if not found:
            return
        repo, revision = found
        if repo.token is not None:
            auth = self.headers.get("Authorization", "")
            if not auth:
                msg = f"Access to model {repo_id} is restricted. You must be authenticated to access it."
                self._error(401, "GatedRepo", msg)
                return
            if auth != f"Bearer {repo.token}":
                msg = f"Access to model {repo_id} is restricted and you are not in the authorized list."
                self._error(403, "GatedRepo", msg)
                return
        hub_file = revision.files.get("/".join(segments[4:]))
        if hub_file is None:
            self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": revision.commit})
            return
        headers = {"X-Repo-Commit": revision.commit, "ETag": f'"{hub_file.etag}"'}
        if hub_file.lfs:
            headers["X-Linked-Etag"] = f'"{hub_file.sha256}"'
            if not self.hub.hide_sizes:
                headers["X-Linked-Size"] = str(hub_file.size)
            if self.hub.xet:
                xet_hash = xet_hash_of(hub_file)
                token_route = f"{self.hub.url}/api/models/{repo_id}/xet-read-token/{revision.commit}"
                headers.update({
                    "X-Xet-Hash": xet_hash,
                    "Link": f'<{token_route}>; rel="xet-auth", '
                            f'<{self.hub.cdn_url}/__cas__/reconstruction/{xet_hash}>; rel="xet-reconstruction-info"',
                })
                # a signed bridge URL: another host, the Xet hash in the path, an expiring query
                location = f"{self.hub.cdn_url}/__xet__/{xet_hash}?X-Xet-Signed-Range=bytes%3D0-&Expires=4102444800"
                self._send(302, {**headers, "Location": location}, b"", method)
                return
            if self.hub.lfs_redirect:
                location = f"{self.hub.cdn_url}/__cdn__/{hub_file.sha256}"
                self._send(302, {**headers, "Location": location}, b"", method)
                return
        self._file(method, hub_file, headers, fault)

    def _cdn(self, method: str, sha256: str, fault: Fault | None) -> None:
        hub_file = self.hub.blob(sha256)
        if hub_file is None:
            self._error(404, "EntryNotFound", "Blob not found")
            return
        self._file(method, hub_file, {"ETag": f'"{hub_file.sha256}"'}, fault)

    def _xet_bridge(self, method: str, xet_hash: str, fault: Fault | None) -> None:
        hub_file = self.hub.xet_blob(xet_hash)
        if hub_file is None:
            self._error(404, "EntryNotFound", "Xet object not found")
            return
        self._file(method, hub_file, {"ETag": f'"{xet_hash}"', "X-Xet-Hash": xet_hash}, fault)

    def _file(self, method: str, hub_file: HubFile, headers: dict[str, str], fault: Fault | None) -> None:
        size = hub_file.size
        start, end = 0, size - 1
        status = 200
        wanted = None if self.hub.ignore_range else self.headers.get("Range")
        if wanted and wanted.startswith("bytes=") and "," not in wanted:
            first, _, last = wanted[6:].partition("-")
            try:
                if first:
                    start, end = int(first), min(int(last), size - 1) if last else size - 1
                else:
                    start, end = max(size - int(last), 0), size - 1
            except ValueError:
                start, end = 0, size - 1
            else:
                if start >= size or start > end:
                    self._send(416, {"Content-Range": f"bytes */{size}"}, b"", method)
                    return
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1
        headers.update(
            {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(length),
                "Accept-Ranges": "bytes",
                "Last-Modified": formatdate(usegmt=True),
            }
        )
        if method == "HEAD":
            self._send(status, headers, b"", method)
            return
        if not self.hub.stream_began(hub_file.path):
            self._withhold()
            return
        counted = [True]
        try:
            self._send(status, headers, b"", method)
            self._stream(hub_file.source, start, length, fault, lambda: self._uncount(hub_file.path, counted))
        finally:
            self._uncount(hub_file.path, counted)

    def _uncount(self, path: str, counted: list[bool]) -> None:
        if counted[0]:
            counted[0] = False
            self.hub.stream_ended(path)

    def _stream(self, source: Path, start: int, length: int, fault: Fault | None,
                last: Callable[[], None] = lambda: None) -> None:
        """Send ``length`` bytes of ``source`` from ``start``; ``last()`` runs before the last chunk goes out."""
        reset_at = fault.after_bytes if fault and fault.kind == "reset" else None
        corrupt = fault is not None and fault.kind == "corrupt"
        sent = 0
        began = time.monotonic()
        with source.open("rb") as handle:
            handle.seek(start)
            for chunk in _chunks(handle, length, self.hub.bandwidth):
                if corrupt:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                    corrupt = False
                if reset_at is not None and sent + len(chunk) >= reset_at:
                    self.wfile.write(chunk[: reset_at - sent])
                    self._sent = reset_at
                    time.sleep(0.2)  # let the client read what was sent: an RST discards unread data
                    self._reset()
                    return
                if sent + len(chunk) >= length:
                    last()  # the client may start its next request once it has these bytes
                self.wfile.write(chunk)
                sent += len(chunk)
                self._sent = sent
                if self.hub.bandwidth and sent < length:
                    ahead = sent / self.hub.bandwidth - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)

    def _withhold(self) -> None:
        """Answer nothing until the client closes the connection (at most a minute)."""
        with self.hub._lock:
            self.hub.withheld += 1
        self.close_connection = True
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.connection], [], [], 0.1)
            if ready:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return  # the client gave up
                except OSError:
                    return
                time.sleep(0.1)

    def _reset(self) -> None:
        """Abort with a TCP RST, like a dropped connection."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


def xet_hash_of(hub_file: HubFile) -> str:
    """A stand-in for the file's Xet hash: 64 hex digits, derived from but unlike its sha256."""
    return hashlib.sha256(f"xet:{hub_file.sha256}".encode()).hexdigest()


def _chunks(handle, length: int, bandwidth: float | None) -> Iterator[bytes]:
    size = CHUNK if not bandwidth else max(4096, min(CHUNK, int(bandwidth / 20)))
    remaining = length
    while remaining > 0:
        chunk = handle.read(min(size, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk
