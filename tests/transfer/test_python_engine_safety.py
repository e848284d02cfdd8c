"""The Python engine against a hostile target folder and hostile servers: planted links,
a server that drips bytes, jobs of thousands of files under a descriptor limit, and disk
failures that must read as one line."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import attrs
import pytest

from imageworks.core.errors import UnsafePathError
from imageworks.transfer import PythonEngine, RemoteFile, TransferError, TransferJob, TransferProgress
from imageworks.transfer.nofollow import open_folder
from tests.support.hub_server import HubServer
from tests.transfer.test_engines import assert_same_tree, remote_files

MiB = 1024 * 1024
PARTIAL = ".imageworks-partial"


def weights_only(hub: HubServer) -> list[RemoteFile]:
    return [f for f in remote_files(hub) if f.relative_path == "model.safetensors"]


def matching_state(remote: RemoteFile, done: list[list[int]]) -> str:
    """A resume record the engine trusts for ``remote``."""
    return json.dumps({"version": 1, "size": remote.size, "sha256": remote.sha256, "done": done})


# -- planted links -----------------------------------------------------------------------


@pytest.mark.parametrize("state_is_link", [False, True])
def test_planted_partial_link_is_never_written_through(hub_server: HubServer, tiny_repo: Path, tmp_path: Path,
                                                       state_is_link: bool) -> None:
    (remote,) = weights_only(hub_server)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "file").write_bytes(b"precious" * 100)
    (victim / "state.json").write_text(matching_state(remote, [[0, 100]]))
    before = {p.name: p.read_bytes() for p in victim.iterdir()}
    target = tmp_path / "out"
    target.mkdir()
    (target / f"model.safetensors{PARTIAL}").symlink_to(victim / "file")
    state = target / f"model.safetensors{PARTIAL}.json"
    if state_is_link:
        state.symlink_to(victim / "state.json")
    else:
        state.write_text(matching_state(remote, [[0, 100]]))

    PythonEngine().fetch(TransferJob([remote], target))

    assert {p.name: p.read_bytes() for p in victim.iterdir()} == before
    assert (target / "model.safetensors").read_bytes() == (tiny_repo / "model.safetensors").read_bytes()
    assert sorted(p.name for p in target.iterdir()) == ["model.safetensors"]


def test_partial_hard_linked_to_another_file_is_not_written(hub_server: HubServer, tiny_repo: Path, tmp_path: Path) -> None:
    (remote,) = weights_only(hub_server)
    target = tmp_path / "out"
    target.mkdir()
    shared = tmp_path / "shared.bin"
    shared.write_bytes(b"x" * 4096)
    os.link(shared, target / f"model.safetensors{PARTIAL}")
    (target / f"model.safetensors{PARTIAL}.json").write_text(matching_state(remote, [[0, 4096]]))
    PythonEngine().fetch(TransferJob([remote], target))
    assert shared.read_bytes() == b"x" * 4096
    assert (target / "model.safetensors").read_bytes() == (tiny_repo / "model.safetensors").read_bytes()


def test_link_at_the_final_path_is_replaced_not_followed(hub_server: HubServer, tiny_repo: Path, tmp_path: Path) -> None:
    (remote,) = weights_only(hub_server)
    target = tmp_path / "out"
    target.mkdir()
    other = target / "other.bin"  # inside the target (plan refuses a link leading outside)
    other.write_bytes((tiny_repo / "model.safetensors").read_bytes())  # right size and digest: still not ours
    (target / "model.safetensors").symlink_to(other)
    PythonEngine().fetch(TransferJob([remote], target))
    final = target / "model.safetensors"
    assert not final.is_symlink() and final.read_bytes() == other.read_bytes()
    assert other.exists() and not other.is_symlink()


def test_folder_swapped_for_a_link_mid_download_is_refused(hub_server: HubServer, tiny_repo: Path, tmp_path: Path) -> None:
    files = {f.relative_path: f for f in remote_files(hub_server)}
    job_files = [files["model.safetensors"], files["1_Pooling/config.json"]]  # the weights first, one stream
    victim = tmp_path / "victim"
    victim.mkdir()
    target = tmp_path / "out"
    hub_server.bandwidth = 4 * MiB  # about a second for the weights: time to plant the link

    def plant(update: TransferProgress) -> None:
        if update.bytes_done and not (target / "1_Pooling").is_symlink():
            (target / "1_Pooling").symlink_to(victim)  # after planning, before the file is written

    engine = PythonEngine(adaptive=False)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        engine.fetch(TransferJob(job_files, target, max_connections=1, max_parallel_files=1), plant)
    assert list(victim.iterdir()) == []


def test_open_folder_refuses_links_below_the_root_only(tmp_path: Path) -> None:
    real = tmp_path / "disk"
    (real / "a").mkdir(parents=True)
    root = tmp_path / "root"
    root.symlink_to(real)  # the target folder itself may be a link the user made
    (real / "b").symlink_to(real / "a")
    with open_folder(root, ["a", "new"], create=True) as folder:
        assert folder.where == "a/new"
    assert (real / "a" / "new").is_dir()
    with pytest.raises(UnsafePathError):
        open_folder(root, ["b"], create=True)
    assert open_folder(root, ["missing"], create=False) is None


# -- a server that drips ---------------------------------------------------------------


class DripServer:
    """Serves ``body`` with Range; past ``fast_until`` bytes it sends one byte every 50 ms."""

    def __init__(self, body: bytes, fast_until: int | None) -> None:
        self.body, self.fast_until, self.served = body, fast_until, 0
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                first, _, last = self.headers.get("Range", "bytes=0-").removeprefix("bytes=").partition("-")
                start, end = int(first or 0), int(last) if last else len(state.body) - 1
                self.send_response(206)
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(state.body)}")
                self.end_headers()
                try:
                    position = start
                    while position <= end:
                        slow = state.fast_until is not None and position >= state.fast_until
                        stop = position + 1 if slow else min(end + 1, state.fast_until or end + 1, position + 64 * 1024)
                        stop = max(stop, position + 1)
                        self.wfile.write(state.body[position:stop])
                        state.served += stop - position
                        position = stop
                        if slow:
                            self.wfile.flush()
                            time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/weights.bin"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def drip() -> Iterator[DripServer]:
    body = os.urandom(2 * MiB)
    server = DripServer(body, fast_until=MiB + 100)
    yield server
    server.close()


def test_a_dripping_server_stalls_the_transfer_and_keeps_what_arrived(drip: DripServer, tmp_path: Path) -> None:
    remote = RemoteFile(drip.url, "weights.bin", len(drip.body), hashlib.sha256(drip.body).hexdigest())
    target = tmp_path / "out"
    engine = PythonEngine(chunk_size=64 * 1024, adaptive=False)
    job = TransferJob([remote], target, max_connections=1, max_parallel_files=1, stall_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(TransferError) as caught:
        engine.fetch(job)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert "stalled" in message and "1.5 s" in message and "resume" in message and "\n" not in message
    assert 1.5 <= elapsed < 6
    partial = target / f"weights.bin{PARTIAL}"
    state = json.loads((target / f"weights.bin{PARTIAL}.json").read_text())
    assert state["done"][0][0] == 0 and state["done"][0][1] >= MiB - 64 * 1024  # what arrived is recorded
    assert partial.read_bytes()[: MiB - 64 * 1024] == drip.body[: MiB - 64 * 1024]
    drip.fast_until, drip.served = None, 0
    engine.fetch(job)
    assert (target / "weights.bin").read_bytes() == drip.body
    assert drip.served <= len(drip.body) - MiB + 64 * 1024  # resumed, not restarted


# -- many files, few descriptors ---------------------------------------------------------

FD_CHILD = """
import json, os, resource, sys, threading, time
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
from imageworks.transfer import PythonEngine, RemoteFile, TransferJob
spec = json.load(open(sys.argv[1]))
peak = {"fds": 0, "threads": 0}
done = threading.Event()
def sample():
    while not done.is_set():
        peak["fds"] = max(peak["fds"], len(os.listdir("/proc/self/fd")))
        peak["threads"] = max(peak["threads"], threading.active_count())
        time.sleep(0.005)
threading.Thread(target=sample, daemon=True).start()
started = time.monotonic()
PythonEngine().fetch(TransferJob([RemoteFile(**f) for f in spec["files"]], spec["target"]))
done.set()
print(json.dumps({**peak, "seconds": time.monotonic() - started}))
"""


def test_three_thousand_files_under_a_descriptor_limit_of_256(hub_server: HubServer, tmp_path: Path) -> None:
    source = tmp_path / "src"
    for index in range(3000):
        path = source / f"shard-{index // 100:02d}" / f"part-{index:04d}.bin"  # .bin: LFS, so each is hashed
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(200 + index % 50))
    hub_server.add_repo("acme/many", source, lfs_min_size=0)
    files = remote_files(hub_server, "acme/many")
    assert len(files) == 3000 and all(f.sha256 for f in files)
    target = tmp_path / "out"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"target": str(target), "files": [attrs.asdict(f) for f in files]}))
    child = subprocess.run([sys.executable, "-c", FD_CHILD, str(spec)], capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    peak = json.loads(child.stdout)
    print(f"3000 files: peak {peak['fds']} open descriptors, {peak['threads']} threads, {peak['seconds']:.1f} s")
    assert peak["fds"] < 200 and peak["threads"] < 150
    assert_same_tree(source, target)
    assert not [p for p in target.rglob("*") if PARTIAL in p.name]


# -- disk failures -------------------------------------------------------------------------

FSIZE_CHILD = """
import json, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
from imageworks.core.errors import ImageworksError
from imageworks.transfer import PythonEngine, RemoteFile, TransferJob
spec = json.loads(sys.argv[1])
try:
    PythonEngine().fetch(TransferJob([RemoteFile(**f) for f in spec["files"]], spec["target"]))
except ImageworksError as error:
    print(type(error).__name__, str(error))
"""


def test_file_size_limit_is_a_one_line_transfer_error(hub_server: HubServer, tiny_repo: Path, tmp_path: Path) -> None:
    (remote,) = weights_only(hub_server)  # 3 MiB, over the child's 1 MiB file size limit
    spec = {"target": str(tmp_path / "out"), "files": [attrs.asdict(remote)]}
    child = subprocess.run([sys.executable, "-c", FSIZE_CHILD, json.dumps(spec)], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0 and "Traceback" not in child.stderr, child.stderr
    assert child.stdout.startswith("TransferError cannot write model.safetensors: File too large"), child.stdout
    assert child.stdout.count("\n") == 1


def test_a_file_where_a_folder_must_go_is_a_transfer_error(hub_server: HubServer, tiny_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "1_Pooling").write_text("mine")
    with pytest.raises(TransferError) as caught:
        PythonEngine().fetch(TransferJob(remote_files(hub_server), target))
    assert str(caught.value).startswith("cannot write 1_Pooling/config.json: Not a directory")
    assert (target / "1_Pooling").read_text() == "mine"


def test_no_space_while_receiving_is_a_transfer_error_and_keeps_the_bytes(
    hub_server: HubServer, tiny_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (remote,) = weights_only(hub_server)
    real_pwrite, written = os.pwrite, []

    def disk_fills_up(fd: int, data: bytes, offset: int) -> int:
        if sum(written) >= MiB:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(len(data))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", disk_fills_up)
    target = tmp_path / "out"
    engine = PythonEngine(chunk_size=64 * 1024, adaptive=False)
    with pytest.raises(TransferError) as caught:
        engine.fetch(TransferJob([remote], target, max_connections=1))
    assert str(caught.value).startswith("cannot write model.safetensors: No space left on device")
    monkeypatch.undo()
    state = json.loads((target / f"model.safetensors{PARTIAL}.json").read_text())
    assert state["done"] == [[0, sum(written)]] and sum(written) >= MiB  # every byte written before the disk filled
    PythonEngine().fetch(TransferJob([remote], target))
    assert (target / "model.safetensors").read_bytes() == (tiny_repo / "model.safetensors").read_bytes()



def test_short_writes_are_completed(hub_server: HubServer, tiny_repo: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``pwrite`` may write less than it was given (a signal, a nearly full disk): the rest is written too."""
    (remote,) = weights_only(hub_server)
    real_pwrite = os.pwrite

    def half(fd: int, data: bytes, offset: int) -> int:
        return real_pwrite(fd, memoryview(data)[: max(1, len(data) // 2)], offset)

    monkeypatch.setattr(os, "pwrite", half)
    PythonEngine().fetch(TransferJob([remote], tmp_path / "out"))
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (tiny_repo / "model.safetensors").read_bytes()
