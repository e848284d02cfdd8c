"""Both transfer engines against the loopback Hub: bytes, faults, safety, secrets."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from imageworks.core.errors import UnsafePathError
from imageworks.transfer import (
    Aria2Engine,
    AuthenticationRequiredError,
    ChecksumMismatchError,
    Engine,
    NotEnoughSpaceError,
    PythonEngine,
    RemoteFile,
    TransferError,
    TransferJob,
    TransferProgress,
)
from imageworks.transfer import aria2 as aria2_module
from tests.support.fixtures import TINY_REPO
from tests.support.hub_server import HubServer

ENGINES: dict[str, Callable[[], Engine]] = {
    "python": lambda: PythonEngine(backoff=0.01, min_split=512 * 1024),
    "aria2": lambda: Aria2Engine(backoff=0.05, min_split_size="1M"),
}


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "aria2" and shutil.which("aria2c") is None:
        pytest.skip("aria2c is not installed (apt-get install aria2)")
    return ENGINES[request.param]()


def remote_files(hub: HubServer, repo_id: str = TINY_REPO) -> list[RemoteFile]:
    """The job the downloader builds from model info: LFS files carry their sha256."""
    revision = hub.repos[repo_id].revisions["main"]
    return [
        RemoteFile(hub.resolve_url(repo_id, f.path), f.path, f.size, f.sha256 if f.lfs else None)
        for f in revision.files.values()
    ]


def assert_same_tree(source: Path, target: Path) -> None:
    for original in source.rglob("*"):
        if original.is_file():
            assert (target / original.relative_to(source)).read_bytes() == original.read_bytes(), original


def leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.rglob("*") if "imageworks-partial" in p.name)


def test_bytes_identical_and_other_files_kept(
    engine: Engine, hub_server: HubServer, tiny_repo: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    updates: list[TransferProgress] = []
    job = TransferJob(remote_files(hub_server), target, max_connections=4)
    verified = engine.fetch(job, updates.append)
    assert_same_tree(tiny_repo, target)
    assert (target / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert leftovers(target) == []
    weights = next(v for v in verified if v.relative_path == "model.safetensors")
    assert weights.sha256 == hashlib.sha256((tiny_repo / "model.safetensors").read_bytes()).hexdigest()
    assert updates and updates[-1].bytes_done == updates[-1].bytes_total == sum(f.size for f in job.files)
    # a second run finds everything verified in place and fetches nothing
    before = len(hub_server.requests)
    engine.fetch(job)
    assert len(hub_server.requests) == before


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_then_success(
    engine: Engine, hub_server: HubServer, tiny_repo: Path, tmp_path: Path, status: int
) -> None:
    hub_server.fail("*/model.safetensors", status, times=2, retry_after=0 if status == 429 else None, methods=("GET",))
    engine.fetch(TransferJob(remote_files(hub_server), tmp_path / "out"))
    assert_same_tree(tiny_repo, tmp_path / "out")
    statuses = [r.status for r in hub_server.requests_for("*/model.safetensors")]
    assert statuses.count(status) == 2


def test_connection_reset_mid_file(engine: Engine, hub_server: HubServer, tiny_repo: Path, tmp_path: Path) -> None:
    hub_server.reset_after("*/model.safetensors", 1_000_000, times=2)
    weights = [f for f in remote_files(hub_server) if f.relative_path == "model.safetensors"]
    engine.fetch(TransferJob(weights, tmp_path / "out", max_connections=1, max_parallel_files=1))
    assert (tmp_path / "out/model.safetensors").read_bytes() == (tiny_repo / "model.safetensors").read_bytes()
    first, *retries = hub_server.requests_for("*/model.safetensors")
    assert first.body_bytes == 1_000_000 and len(retries) >= 2
    starts = [int(r.headers["Range"].removeprefix("bytes=").split("-")[0]) for r in retries]
    assert all(start > 0 for start in starts), [
        (r.headers.get("Range"), r.body_bytes, r.status) for r in [first, *retries]
    ]  # resumed after each reset instead of starting over


def test_corrupt_once_is_retried(engine: Engine, hub_server: HubServer, tiny_repo: Path, tmp_path: Path) -> None:
    hub_server.corrupt("*/model.safetensors", times=1)
    engine.fetch(TransferJob(remote_files(hub_server), tmp_path / "out"))
    assert_same_tree(tiny_repo, tmp_path / "out")


def test_corrupt_twice_fails_clearly(engine: Engine, hub_server: HubServer, tiny_repo: Path, tmp_path: Path) -> None:
    hub_server.corrupt("*/model.safetensors", times=None)
    target = tmp_path / "out"
    with pytest.raises(ChecksumMismatchError) as caught:
        engine.fetch(TransferJob(remote_files(hub_server), target, max_connections=1))
    message = str(caught.value)
    assert "model.safetensors" in message and "sha256" in message and "\n" not in message
    assert not (target / "model.safetensors").exists()
    assert leftovers(target) == []


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("hf_wrong", 403)])
def test_gated_repo_says_set_hf_token(
    engine: Engine, hub_server: HubServer, tiny_repo: Path, tmp_path: Path, token: str | None, status: int
) -> None:
    hub_server.add_repo("acme/gated", tiny_repo, token="hf_right")
    with pytest.raises(AuthenticationRequiredError) as caught:
        engine.fetch(TransferJob(remote_files(hub_server, "acme/gated"), tmp_path / "out", token=token))
    assert caught.value.status == status
    assert "HF_TOKEN" in str(caught.value) and "\n" not in str(caught.value)
    engine.fetch(TransferJob(remote_files(hub_server, "acme/gated"), tmp_path / "ok", token="hf_right"))
    assert_same_tree(tiny_repo, tmp_path / "ok")
    assert all("hf_right" not in r.path for r in hub_server.requests)


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil", "/etc/passwd", "dir\\evil.bin", "C:evil", "a//b", ""])
def test_hostile_names_refused_before_writing(
    engine: Engine, hub_server: HubServer, tiny_repo: Path, tmp_path: Path, name: str
) -> None:
    files = [*remote_files(hub_server), RemoteFile(hub_server.resolve_url(TINY_REPO, "config.json"), name, 10)]
    target = tmp_path / "out"
    with pytest.raises(UnsafePathError):
        engine.fetch(TransferJob(files, target))
    assert not target.exists()
    assert hub_server.requests == []


def test_not_enough_space_refused_before_any_byte(
    engine: Engine, hub_server: HubServer, tiny_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=1024))
    target = tmp_path / "out"
    with pytest.raises(NotEnoughSpaceError) as caught:
        engine.fetch(TransferJob(remote_files(hub_server), target))
    assert "free space" in str(caught.value) and "nothing was written" in str(caught.value)
    assert not target.exists()
    assert hub_server.requests == []


def test_missing_aria2c_says_no_aria2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TransferError, match="--no-aria2"):
        Aria2Engine().fetch(TransferJob([], tmp_path / "out"))


def test_token_never_on_aria2_command_line_nor_on_disk(
    hub_server: HubServer, tiny_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("aria2c") is None:
        pytest.skip("aria2c is not installed")
    token = "hf_SeCrEt_" + "x" * 20
    hub_server.add_repo("acme/gated", tiny_repo, token=token)
    seen: list[bytes] = []
    real_popen = aria2_module.subprocess.Popen

    def spying_popen(argv: list[str], **kwargs: object) -> object:
        process = real_popen(argv, **kwargs)
        seen.append(" ".join(argv).encode())
        seen.append(Path(f"/proc/{process.pid}/cmdline").read_bytes())
        return process

    monkeypatch.setattr(aria2_module.subprocess, "Popen", spying_popen)
    temp_before = set(Path(tempfile.gettempdir()).glob("imageworks-aria2-*"))
    target = tmp_path / "out"
    Aria2Engine().fetch(TransferJob(remote_files(hub_server, "acme/gated"), target, token=token))
    assert_same_tree(tiny_repo, target)
    assert seen and all(token.encode() not in argv and b"Bearer" not in argv for argv in seen)
    # none of ours left behind (other processes on the machine may add or remove their own)
    assert not set(Path(tempfile.gettempdir()).glob("imageworks-aria2-*")) - temp_before
    for path in [*target.rglob("*"), *tmp_path.rglob("*")]:
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    assert any(r.headers.get("Authorization") == f"Bearer {token}" for r in hub_server.requests)


def test_token_not_sent_to_the_cdn(engine: Engine, tiny_repo: Path, tmp_path: Path) -> None:
    with HubServer(lfs_redirect=True) as hub:
        hub.add_repo("acme/gated", tiny_repo, token="hf_right")
        engine.fetch(TransferJob(remote_files(hub, "acme/gated"), tmp_path / "out", token="hf_right"))
        cdn = hub.requests_for("/__cdn__/*")
        resolve = hub.requests_for("/acme/gated/resolve/*")
    assert_same_tree(tiny_repo, tmp_path / "out")
    assert cdn and all("Authorization" not in r.headers for r in cdn)
    assert resolve and all(r.headers.get("Authorization") == "Bearer hf_right" for r in resolve)


def test_small_files_are_checked_by_their_git_blob_id(engine: Engine, hub_server: HubServer, tiny_repo: Path,
                                                      tmp_path: Path) -> None:
    revision = hub_server.repos[TINY_REPO].revisions["main"]
    job = [
        RemoteFile(hub_server.resolve_url(TINY_REPO, f.path), f.path, f.size, f.sha256 if f.lfs else None,
                   git_blob_id=None if f.lfs else f.blob_id)
        for f in revision.files.values()
    ]
    hub_server.corrupt("*/config.json", times=1)
    engine.fetch(TransferJob(job, tmp_path / "once"))
    assert_same_tree(tiny_repo, tmp_path / "once")
    hub_server.corrupt("*/config.json", times=None)
    with pytest.raises(ChecksumMismatchError) as caught:
        engine.fetch(TransferJob(job, tmp_path / "always"))
    assert "config.json" in str(caught.value) and "git blob id" in str(caught.value)
    assert not (tmp_path / "always" / "config.json").exists()
