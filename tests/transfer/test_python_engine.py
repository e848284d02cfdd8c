"""The Python engine's internals that make it fast: pieces in file order, a hash that
follows the written prefix, redirects remembered per file, and the default choice."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from imageworks.transfer import (
    PythonEngine,
    RemoteFile,
    TransferJob,
    TransferProgress,
    select_engine,
)
from imageworks.transfer.partial import PartialFile as _File
from imageworks.transfer.safety import PlannedFile
from imageworks.transfer.scheduling import Scheduler as _Scheduler
from tests.support.fixtures import write_tiny_repo
from tests.support.hub_server import HubServer
from tests.transfer.test_engines import remote_files

MiB = 1024 * 1024


def _planned(tmp_path: Path, name: str, data: bytes) -> PlannedFile:
    remote = RemoteFile(f"http://127.0.0.1:9/{name}", name, len(data), hashlib.sha256(data).hexdigest())
    final = tmp_path / name
    return PlannedFile(remote, final, final.with_name(name + ".imageworks-partial"))


def test_pieces_are_handed_out_in_file_order(tmp_path: Path) -> None:
    files = [_File(_planned(tmp_path, f"f{i}", bytes(10 * MiB)), i) for i in range(2)]
    scheduler = _Scheduler(files, min_split=MiB, piece_size=4 * MiB)
    taken, got = [], []
    for _ in range(7):
        part = scheduler.take()
        assert part is not None
        taken.append(part)
        got.append((part.file.order, part.pos // MiB, part.end // MiB))
    # 4 MiB pieces; a remainder smaller than piece + min_split goes out whole
    assert got[:6] == [(0, 0, 4), (0, 4, 8), (0, 8, 10), (1, 0, 4), (1, 4, 8), (1, 8, 10)]
    assert got[6] == (0, 2, 4)  # nothing unassigned left: the largest range in flight is halved
    first = taken[0]  # now [0, 2) MiB after the split
    first.pos = MiB
    scheduler.give_back(first)  # what is left goes back in order, ahead of everything else
    again = scheduler.take()
    assert again is not None and (again.file.order, again.pos, again.end) == (0, MiB, 2 * MiB)
    for file in files:
        file.stop_hashing()


def test_hash_follows_the_written_prefix_out_of_order(tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 123)
    file = _File(_planned(tmp_path, "w.bin", data), 0)
    file.attach()  # what a worker does when it takes the file's first piece
    third = len(data) // 3
    for start, end in ((2 * third, len(data)), (third, 2 * third), (0, third)):  # last piece first
        os.pwrite(file.fd, data[start:end], start)
        file.mark(start, end)
    assert file.hasher is not None
    file.hasher.join(timeout=10)
    assert file.digest == hashlib.sha256(data).hexdigest()
    file.detach()
    file.close()
    assert file.fd is None


def test_redirect_is_remembered_and_token_stays_with_the_hub(tmp_path: Path) -> None:
    source = write_tiny_repo(tmp_path / "src", weights_size=4 * MiB)
    with HubServer(lfs_redirect=True) as hub:
        hub.add_repo("acme/gated", source, token="hf_right")
        files = [f for f in remote_files(hub, "acme/gated") if f.relative_path == "model.safetensors"]
        engine = PythonEngine(piece_size=256 * 1024, min_split=256 * 1024, adaptive=False)
        engine.fetch(TransferJob(files, tmp_path / "out", token="hf_right", max_connections=2, max_parallel_files=1))
        cdn = hub.requests_for("/__cdn__/*")
        resolve = hub.requests_for("/acme/gated/resolve/*")
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    assert len(cdn) >= 8 and len(resolve) <= 2  # one Hub round trip per stream, not per piece
    assert all("Authorization" not in r.headers for r in cdn)
    assert all(r.headers.get("Authorization") == "Bearer hf_right" for r in resolve)


def test_default_engine_is_the_python_engine() -> None:
    assert select_engine().name == "python"
    assert select_engine("aria2").name == "aria2"


def test_expired_redirect_asks_the_hub_again(tmp_path: Path) -> None:
    source = write_tiny_repo(tmp_path / "src", weights_size=2 * MiB)
    with HubServer(lfs_redirect=True) as hub:
        hub.add_repo("acme/tiny", source)
        files = [f for f in remote_files(hub, "acme/tiny") if f.relative_path == "model.safetensors"]
        hub.bandwidth = 2 * MiB  # per connection: a second or so, time to expire the CDN link mid-file
        injected: list[bool] = []

        def expire_once(update: TransferProgress) -> None:
            if update.bytes_done and not injected:
                injected.append(True)
                hub.fail("/__cdn__/*", status=403)

        engine = PythonEngine(piece_size=256 * 1024, min_split=256 * 1024, adaptive=False, backoff=0.01)
        engine.fetch(TransferJob(files, tmp_path / "out", max_connections=1), expire_once)
        resolve = hub.requests_for("/acme/tiny/resolve/*")
        refused = [r for r in hub.requests_for("/__cdn__/*") if r.status == 403]
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    assert injected and len(refused) == 1 and len(resolve) == 2
