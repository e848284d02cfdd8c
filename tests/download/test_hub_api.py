"""Our Hub client beside the official one: the same answers and the same errors from the same servers.

``huggingface_hub`` (``HfApi.model_info``, ``list_repo_tree``, ``get_hf_file_metadata``,
``hf_raise_for_status``) is the reference: for every server here (the loopback Hub in
each of its modes, and olah, a real mirror we did not write) the commit, the file list,
sizes, LFS sha256 and git blob ids our client reads must be the ones it reads, and every
failure must fall in the same error class. Then what only ours promises: the token on
the endpoint's origin only, and pages that leave it refused.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url
from huggingface_hub import errors as hf_errors
from huggingface_hub.hf_api import RepoFile as HfRepoFile
from huggingface_hub.utils import hf_raise_for_status

from imageworks.providers.huggingface import hub_api, hub_errors
from imageworks.providers.huggingface.hub_api import Answer, HubClient
from imageworks.providers.huggingface.metadata import fetch_snapshot
from imageworks.providers.huggingface.refs import ModelRef
from tests.support.fixtures import MINILM_REPO, TINY_REPO, write_tiny_repo
from tests.support.hub_server import HubServer
from tests.support.olah_mirror import OlahServer, build_git_mirror

GATED = "acme/gated"
SECRET = "hf_gated_secret"
#: huggingface_hub's error class -> ours
KIND: dict[type[Exception], type[Exception]] = {
    hf_errors.RepositoryNotFoundError: hub_errors.RepoNotFoundError,
    hf_errors.GatedRepoError: hub_errors.GatedRepoError,
    hf_errors.RevisionNotFoundError: hub_errors.RevisionNotFoundError,
    hf_errors.RemoteEntryNotFoundError: hub_errors.EntryNotFoundError,
    hf_errors.DisabledRepoError: hub_errors.DisabledRepoError,
    hf_errors.BadRequestError: hub_errors.HubHTTPError,
    hf_errors.HfHubHTTPError: hub_errors.HubHTTPError,
}
Files = dict[str, tuple[int | None, str | None, str | None]]  # path -> (size, LFS sha256, blob id)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the two clients, reduced to the facts a download needs ---------------------------
def theirs(endpoint: str, repo: str, revision: str, token: str | None = None) -> dict[str, Any]:
    """Model info, the recursive tree at its commit and a HEAD of every file, by ``huggingface_hub``."""
    api = HfApi(endpoint=endpoint, token=token or False)
    info = api.model_info(repo, revision=revision)
    files: Files = {}
    for entry in api.list_repo_tree(repo, revision=info.sha, recursive=True):
        if isinstance(entry, HfRepoFile):
            files[entry.path] = (entry.lfs.size if entry.lfs else entry.size, entry.lfs.sha256 if entry.lfs else None,
                                 entry.blob_id)
    heads = {}
    for name in sorted(files):
        meta = get_hf_file_metadata(hf_hub_url(repo, name, revision=info.sha, endpoint=endpoint), token=token or False)
        heads[name] = (meta.commit_hash, meta.etag, meta.size)
    siblings = sorted(s.rfilename for s in info.siblings or [])
    return {"sha": info.sha, "gated": bool(info.gated), "siblings": siblings, "files": files, "heads": heads}


def ours(endpoint: str, repo: str, revision: str, token: str | None = None) -> dict[str, Any]:
    """The same facts by our client."""
    with HubClient(endpoint, token) as client:
        info = client.model_info(repo, revision)
        assert isinstance(info.sha, str)
        files: Files = {f.path: (f.size, f.sha256, f.blob_id) for f in client.list_tree(repo, info.sha)}
        heads = {}
        for name in sorted(files):
            meta = client.file_metadata(hf_hub_url(repo, name, revision=info.sha, endpoint=endpoint), name)
            heads[name] = (meta.commit, meta.etag, meta.size)
    return {"sha": info.sha, "gated": info.gated, "siblings": sorted(info.siblings), "files": files, "heads": heads}


def reference_snapshot(endpoint: str, repo: str, revision: str, token: str | None = None) -> dict[str, Any]:
    """What ``fetch_snapshot`` must find, computed with ``huggingface_hub`` the way it did before our client."""
    found = theirs(endpoint, repo, revision, token)
    files: Files = {path: entry for path, entry in found["files"].items() if entry[0] is not None}
    for path in set(found["siblings"]) - set(files) | {p for p, e in found["files"].items() if e[0] is None}:
        _commit, etag, size = found["heads"].get(path) or (None, None, None)
        etag = etag or ""
        files[path] = (size, etag if len(etag) == 64 else None, etag if len(etag) == 40 else None)
    return {"commit": found["sha"], "gated": found["gated"], "files": files}


def our_snapshot(endpoint: str, repo: str, revision: str, token: str | None = None) -> dict[str, Any]:
    snapshot = fetch_snapshot(ModelRef(repo_id=repo, revision=revision), endpoint, token)
    return {"commit": snapshot.commit, "gated": snapshot.gated,
            "files": {f.path: (f.size, f.sha256, f.blob_id) for f in snapshot.files}}


def logged(hub: HubServer, pattern: str, done: Any) -> int:
    """How many requests match ``pattern`` once ``done(records)`` holds (the server logs a request after answering it)."""
    deadline = time.monotonic() + 30
    while not done(hub.requests_for(pattern)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert done(hub.requests_for(pattern))
    return len(hub.requests_for(pattern))


def error_pair(call_ours: Any, call_theirs: Any) -> tuple[Exception, Exception]:
    """The errors both clients raise for the same request (each must raise one)."""
    with pytest.raises(hub_errors.HubHTTPError) as ours_raised:
        call_ours()
    with pytest.raises(hf_errors.HfHubHTTPError) as theirs_raised:
        call_theirs()
    return ours_raised.value, theirs_raised.value


def assert_same_class(ours_error: Exception, theirs_error: Exception) -> None:
    assert type(ours_error) is KIND[type(theirs_error)], (ours_error, theirs_error)
    assert isinstance(ours_error, hub_errors.HubHTTPError)
    assert theirs_error.response is not None and ours_error.status == theirs_error.response.status_code


# -- the loopback Hub in each of its modes --------------------------------------------
MODES = {
    "plain": {},
    "paged": {"page_size": 2},  # the tree in pages of two entries, Link: rel="next"
    "lfs-redirect": {"lfs_redirect": True},  # LFS files 302 to another origin, as huggingface.co to its CDN
    "xet": {"xet": True},  # LFS files as Xet-backed files answer on huggingface.co today
}


@pytest.fixture
def served(tmp_path: Path, minilm_dir: Path, request: pytest.FixtureRequest) -> Iterator[tuple[HubServer, Path]]:
    """A loopback Hub in the mode named by the test's parameter, serving MiniLM, a two-branch repo and a gated one."""
    with HubServer(**MODES[request.param]) as hub:
        hub.add_repo(MINILM_REPO, minilm_dir)
        hub.add_repo(TINY_REPO, {"main": write_tiny_repo(tmp_path / "main", seed=1),
                                 "dev": write_tiny_repo(tmp_path / "dev", weights_size=12 << 20, seed=2)})
        hub.add_repo(GATED, write_tiny_repo(tmp_path / "gated", seed=3), token=SECRET)
        yield hub, minilm_dir


@pytest.mark.parametrize("served", list(MODES), indirect=True)
@pytest.mark.parametrize(("repo", "revision", "token"), [
    (MINILM_REPO, "main", None), (TINY_REPO, "main", None), (TINY_REPO, "dev", None), (GATED, "main", SECRET),
])
def test_our_client_reads_what_hfapi_reads(served: tuple[HubServer, Path], repo: str, revision: str,
                                          token: str | None) -> None:
    hub, _ = served
    expected = theirs(hub.url, repo, revision, token)
    assert ours(hub.url, repo, revision, token) == expected
    assert expected["sha"] == hub.repos[repo].revisions[revision].commit and expected["files"]
    assert our_snapshot(hub.url, repo, revision, token) == reference_snapshot(hub.url, repo, revision, token)
    if hub.page_size:  # both clients followed the Link header past the first page
        assert logged(hub, f"/api/models/{repo}/tree/*", lambda seen: sum("cursor=" in r.path for r in seen) >= 2 * 2)


@pytest.mark.parametrize("served", ["plain"], indirect=True)
def test_sizes_and_digests_are_the_files_own(served: tuple[HubServer, Path]) -> None:
    hub, minilm = served
    found = our_snapshot(hub.url, MINILM_REPO, "main")["files"]
    on_disk = {p.relative_to(minilm).as_posix(): p for p in minilm.rglob("*") if p.is_file()}
    assert set(found) == set(on_disk)
    for name, (size, lfs_sha256, blob_id) in found.items():
        data = on_disk[name].read_bytes()
        assert size == len(data)
        assert blob_id == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        assert lfs_sha256 == (hashlib.sha256(data).hexdigest() if name.endswith(".safetensors") else None)


def test_a_mirror_that_hides_sizes_is_read_alike(tmp_path: Path) -> None:
    """Null sizes in the tree and a HEAD without any: both clients see no size, and the snapshot asks a ranged GET."""
    folder = write_tiny_repo(tmp_path / "tiny")
    with HubServer() as hub:
        hub.add_repo(TINY_REPO, folder)
        hub.hide_sizes = True
        assert ours(hub.url, TINY_REPO, "main") == theirs(hub.url, TINY_REPO, "main")
        assert all(size is None for size, _, _ in ours(hub.url, TINY_REPO, "main")["files"].values())
        found = our_snapshot(hub.url, TINY_REPO, "main")["files"]
    assert {name: size for name, (size, _, _) in found.items()} == {
        p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


# -- errors -----------------------------------------------------------------------------
@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    monkeypatch.setattr(hub_api, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    monkeypatch.setattr(hub_api, "MAX_RETRY_AFTER", 0.0)
    with HubServer() as server:
        server.add_repo(TINY_REPO, write_tiny_repo(tmp_path / "tiny"))
        server.add_repo(GATED, write_tiny_repo(tmp_path / "gated", seed=3), token=SECRET)
        yield server


@pytest.mark.parametrize(("repo", "revision"), [("acme/missing", "main"), (TINY_REPO, "no-such-branch")])
def test_a_missing_repo_or_revision_is_the_same_error(hub: HubServer, repo: str, revision: str) -> None:
    info = error_pair(lambda: HubClient(hub.url, None).model_info(repo, revision),
                      lambda: HfApi(endpoint=hub.url, token=False).model_info(repo, revision=revision))
    assert_same_class(*info)
    tree = error_pair(lambda: HubClient(hub.url, None).list_tree(repo, revision),
                      lambda: list(HfApi(endpoint=hub.url, token=False).list_repo_tree(repo, revision=revision, recursive=True)))
    assert_same_class(*tree)
    assert type(info[0]) is (hub_errors.RepoNotFoundError if repo == "acme/missing" else hub_errors.RevisionNotFoundError)


@pytest.mark.parametrize(("repo", "name", "token", "expected"), [
    (TINY_REPO, "no-such-file.json", None, hub_errors.EntryNotFoundError),
    (GATED, "config.json", None, hub_errors.GatedRepoError),  # 401: no token
    (GATED, "config.json", "hf_wrong", hub_errors.GatedRepoError),  # 403: a token not on the list
])
def test_a_head_that_fails_is_the_same_error(hub: HubServer, repo: str, name: str, token: str | None,
                                             expected: type[Exception]) -> None:
    url = hub.resolve_url(repo, name)
    pair = error_pair(lambda: HubClient(hub.url, token).file_metadata(url, name),
                      lambda: get_hf_file_metadata(url, token=token or False))
    assert_same_class(*pair)
    assert type(pair[0]) is expected


@pytest.mark.parametrize(("status", "code", "message", "expected"), [
    (404, "RepoNotFound", "Repository not found", hub_errors.RepoNotFoundError),
    (401, "RepoNotFound", "Repository not found", hub_errors.RepoNotFoundError),
    (403, "GatedRepo", "gated", hub_errors.GatedRepoError),
    (404, "RevisionNotFound", "Invalid rev id: x", hub_errors.RevisionNotFoundError),
    (404, "EntryNotFound", "Entry not found", hub_errors.EntryNotFoundError),
    (403, "Injected", "Access to this resource is disabled.", hub_errors.DisabledRepoError),
    (401, "Injected", "Invalid credentials in Authorization header", hub_errors.HubHTTPError),
    (401, "Injected", "who are you", hub_errors.HubHTTPError),  # HTTP: not read as "not found" (HTTPS is, below)
    (403, "Injected", "forbidden", hub_errors.HubHTTPError),
    (400, "Injected", "bad", hub_errors.HubHTTPError),
    (404, "Injected", "nothing here", hub_errors.HubHTTPError),
    (429, "Injected", "slow down", hub_errors.HubHTTPError),
    (500, "Injected", "broken", hub_errors.HubHTTPError),
    (503, "Injected", "away", hub_errors.HubHTTPError),
])
def test_every_error_status_falls_in_the_same_class(hub: HubServer, status: int, code: str, message: str,
                                                    expected: type[Exception]) -> None:
    hub.fail("/api/models/*", status, times=None, code=code, message=message)
    pair = error_pair(lambda: HubClient(hub.url, None).model_info(TINY_REPO, "main"),
                      lambda: HfApi(endpoint=hub.url, token=False).model_info(TINY_REPO, revision="main"))
    assert_same_class(*pair)
    assert type(pair[0]) is expected
    if status in hub_api.RETRY_STATUSES:  # ours retried three times before giving up, theirs asked once
        assert logged(hub, "/api/models/*", lambda seen: len(seen) >= 4 + 1) == 4 + 1


@pytest.mark.parametrize(("url", "message"), [
    ("https://hub.example/api/models/acme/x/revision/main", "who are you"),
    ("https://hub.example/acme/x/resolve/main/config.json", None),
    ("https://hub.example/api/models/acme/x/revision/main", "Invalid credentials in Authorization header"),
    ("https://hub.example/api/whoami-v2", "who are you"),
])
def test_an_https_401_is_sorted_as_hf_raise_for_status_sorts_it(url: str, message: str | None) -> None:
    """A 401 without a code on an HTTPS repo URL means "not found, or not yours" to the Hub (no socket needed)."""
    headers = {"X-Error-Message": message} if message else {}
    response = httpx2.Response(401, headers=headers, request=httpx2.Request("GET", url))
    with pytest.raises(hf_errors.HfHubHTTPError) as theirs_raised:
        hf_raise_for_status(response)
    message = http.client.HTTPMessage()
    for name, value in headers.items():
        message[name] = value
    with pytest.raises(hub_errors.HubHTTPError) as ours_raised:
        hub_api.raise_for_status(Answer(401, message, b"", url))
    assert_same_class(ours_raised.value, theirs_raised.value)


# -- olah, a mirror we did not write ---------------------------------------------------
@pytest.fixture(scope="module")
def olah(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Iterator[OlahServer]:
    if shutil.which("git") is None:
        pytest.fail("git is missing: .ci/run installs it")
    base = tmp_path_factory.mktemp("olah-api")
    build_git_mirror(minilm_dir, base / "mirrors", MINILM_REPO)
    build_git_mirror(write_tiny_repo(base / "tiny", weights_size=11 << 20), base / "mirrors", TINY_REPO)
    server = OlahServer(base / "mirrors", base / "server").start(MINILM_REPO)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("repo", [MINILM_REPO, TINY_REPO])
def test_our_client_reads_olah_as_hfapi_does(olah: OlahServer, repo: str, minilm_dir: Path) -> None:
    expected = theirs(olah.url, repo, "main")
    assert ours(olah.url, repo, "main") == expected
    snapshot = our_snapshot(olah.url, repo, "main")
    assert snapshot == reference_snapshot(olah.url, repo, "main")
    if repo == MINILM_REPO:
        weights = snapshot["files"]["model.safetensors"]
        assert weights[:2] == ((minilm_dir / "model.safetensors").stat().st_size, sha256(minilm_dir / "model.safetensors"))


@pytest.mark.parametrize(("repo", "revision", "name"), [
    ("acme/missing", "main", None), (TINY_REPO, "no-such-branch", None), (TINY_REPO, "main", "no-such-file.json"),
])
def test_olah_errors_fall_in_the_same_class(olah: OlahServer, repo: str, revision: str, name: str | None) -> None:
    if name is None:
        pair = error_pair(lambda: HubClient(olah.url, None).model_info(repo, revision),
                          lambda: HfApi(endpoint=olah.url, token=False).model_info(repo, revision=revision))
    else:
        url = hf_hub_url(repo, name, revision=revision, endpoint=olah.url)
        pair = error_pair(lambda: HubClient(olah.url, None).file_metadata(url, name),
                          lambda: get_hf_file_metadata(url, token=False))
    assert_same_class(*pair)


# -- what only ours promises: the token stays home -------------------------------------
class _Elsewhere(http.server.ThreadingHTTPServer):
    """Another origin: answers every GET with an empty JSON list and logs the headers it saw."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.seen.append(dict(self.headers.items()))
                body = json.dumps([]).encode() if "/tree/" in self.path else json.dumps({"sha": "0" * 40}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.server_address[1]}"  # another origin than 127.0.0.1


@pytest.fixture
def elsewhere() -> Iterator[_Elsewhere]:
    server = _Elsewhere()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class _PointingHub(http.server.ThreadingHTTPServer):
    """A Hub whose API answers point elsewhere: a redirect, or a next page, to ``target``."""

    daemon_threads = True

    def __init__(self, target: str, how: str) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.seen.append((self.path, dict(self.headers.items())))
                if how == "redirect":
                    headers = {"Location": f"{target}{self.path}"}
                    self.send_response(307)
                    body = b""
                else:
                    page = "same" if "cursor=1" not in self.path else "done"
                    link = {"same": f'</api/models/acme/x/tree/{"0" * 40}?recursive=true&cursor=1>; rel="next"',
                            "done": f'<{target}/api/models/acme/x/tree/{"0" * 40}?cursor=2>; rel="next"'}[page]
                    if how == "loop":  # the next page is the first again
                        link = f'</api/models/acme/x/tree/{"0" * 40}?recursive=true&expand=false>; rel="next"'
                    headers = {"Link": link, "Content-Type": "application/json"}
                    body = json.dumps([{"type": "file", "path": f"{page}.json", "size": 2, "oid": "1" * 40}]).encode()
                    self.send_response(200)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.mark.parametrize("how", ["redirect", "next page"])
def test_the_token_never_leaves_the_endpoints_origin(elsewhere: _Elsewhere, how: str) -> None:
    hub = _PointingHub(elsewhere.url, "redirect" if how == "redirect" else "pages")
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        with HubClient(hub.url, "hf_secret") as client:
            if how == "redirect":
                assert client.model_info("acme/x", "main").sha == "0" * 40  # followed, without the token
            else:
                with pytest.raises(hub_errors.MalformedAnswerError, match="another origin"):
                    client.list_tree("acme/x", "0" * 40)
    finally:
        hub.shutdown()
        hub.server_close()
    assert hub.seen and all(headers.get("Authorization") == "Bearer hf_secret" for _, headers in hub.seen)
    if how == "redirect":
        assert len(elsewhere.seen) == 1 and "Authorization" not in elsewhere.seen[0]
    else:
        assert len(hub.seen) == 2 and "cursor=1" in hub.seen[1][0]  # the same-origin page was followed, with the token
        assert elsewhere.seen == []  # the foreign one never asked


def test_a_next_page_that_loops_is_refused() -> None:
    hub = _PointingHub("http://unused.invalid", "loop")
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        with HubClient(hub.url, None) as client, pytest.raises(hub_errors.MalformedAnswerError, match="pages loop"):
            client.list_tree("acme/x", "0" * 40)
    finally:
        hub.shutdown()
        hub.server_close()
    assert len(hub.seen) == 1


def test_the_next_link_is_read_as_httpx_reads_it() -> None:
    assert hub_api.next_link('<https://h/a?cursor=2>; rel="next", <https://h/a?cursor=9>; rel="last"') == "https://h/a?cursor=2"
    assert hub_api.next_link('<https://h/a>; rel="prev"') is None
    assert hub_api.next_link("garbage, <<>>;;rel=") is None
