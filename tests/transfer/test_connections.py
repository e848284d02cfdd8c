"""Connections as configured: never more than ``max_connections`` streams on one file.

The loopback Hub counts, per file, the GETs whose body it is sending at once. A repo of
one big file and two small ones used to get every stream of the run (``max_connections``
times the files that may run at once) on the big file once the small ones were done.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imageworks.transfer import PythonEngine, RemoteFile, TransferJob
from imageworks.transfer.partial import PartialFile
from imageworks.transfer.safety import PlannedFile
from imageworks.transfer.scheduling import Scheduler
from tests.support.hub_server import HubServer
from tests.transfer.test_engines import assert_same_tree, remote_files

MiB = 1024 * 1024


def _big_and_two_small(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a-big.safetensors").write_bytes(os.urandom(6 * MiB))  # first in the job: it gets streams first
    (source / "b-small.safetensors").write_bytes(os.urandom(MiB))
    (source / "c-small.safetensors").write_bytes(os.urandom(MiB))
    return source


@pytest.mark.parametrize("adaptive", [False, True])
def test_no_file_gets_more_than_max_connections_streams(hub_server: HubServer, tmp_path: Path, adaptive: bool) -> None:
    source = _big_and_two_small(tmp_path)
    hub_server.add_repo("acme/three", source)
    hub_server.bandwidth = 2 * MiB  # per connection: a few seconds, so streams overlap
    files = remote_files(hub_server, "acme/three")
    # pieces that are never split: a body the client stops reading would still count on the server
    engine = PythonEngine(piece_size=256 * 1024, min_split=256 * 1024, min_piece=256 * 1024, adaptive=adaptive,
                          initial_streams=6)
    engine.fetch(TransferJob(files, tmp_path / "out", max_connections=2, max_parallel_files=3))
    assert_same_tree(source, tmp_path / "out")
    peaks = hub_server.peak_streams
    print(f"peak streams per file: {peaks}")
    assert peaks["a-big.safetensors"] == 2  # used, and never more
    assert all(peak <= 2 for peak in peaks.values())


def _planned(tmp_path: Path, name: str, size: int) -> PlannedFile:
    remote = RemoteFile(f"http://127.0.0.1:9/{name}", name, size)
    final = tmp_path / name
    return PlannedFile(remote, final, final.with_name(name + ".imageworks-partial"))


def test_the_scheduler_splits_no_file_past_its_limit(tmp_path: Path) -> None:
    big, small = PartialFile(_planned(tmp_path, "big", 64 * MiB), 0), PartialFile(_planned(tmp_path, "small", MiB), 1)
    scheduler = Scheduler([big, small], min_split=MiB, piece_size=64 * MiB, per_file=3)
    taken = [scheduler.take() for _ in range(6)]
    # the big file goes out whole, is split for two more streams, then only the small one is left
    assert [(p.file.item.remote.relative_path if p else None) for p in taken] == ["big", "small", "big", "big", None, None]
    assert not scheduler.has_work()
    for part in taken[:2]:
        assert part is not None
        part.pos = part.end
        scheduler.give_back(part)  # one stream of the big file is free again
    assert scheduler.has_work()
    again = scheduler.take()
    assert again is not None and again.file is big
    assert scheduler.take() is None
