"""Streams that stall: retried on fresh connections with fewer streams, a stall only at one.

The loopback Hub sends no answer at all to some Range requests (``withhold``), or serves
only a few GETs of a file at once and leaves the rest unanswered (``stream_limit``), the
way a mirror that fetches every range upstream before answering behaves when streams are
added. The engine must finish wherever one stream at a time would finish, and give up as
stalled only when a single stream gets nothing for the stall limit.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from imageworks.transfer import PythonEngine, TransferError, TransferJob
from tests.support.hub_server import HubServer
from tests.transfer.test_engines import remote_files

MiB = 1024 * 1024


def _weights(hub: HubServer, tmp_path: Path, size: int = 6 * MiB) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "model.safetensors").write_bytes(os.urandom(size))
    hub.add_repo("acme/slow", source)
    return source


def _engine() -> PythonEngine:
    return PythonEngine(piece_size=MiB, min_split=256 * 1024, min_piece=MiB, adaptive=False, backoff=0.05)


def test_withheld_answers_are_asked_again_on_fresh_connections(hub_server: HubServer, tmp_path: Path) -> None:
    source = _weights(hub_server, tmp_path)
    hub_server.withhold("/acme/slow/resolve/*", times=4)  # every stream of the first round hangs
    files = remote_files(hub_server, "acme/slow")
    started = time.monotonic()
    _engine().fetch(TransferJob(files, tmp_path / "out", max_connections=4, max_parallel_files=1, stall_timeout=2))
    elapsed = time.monotonic() - started
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    assert hub_server.withheld == 4
    assert elapsed < 30


def test_a_mirror_that_serves_two_streams_at_once_is_finished_with_fewer(hub_server: HubServer, tmp_path: Path) -> None:
    source = _weights(hub_server, tmp_path)
    hub_server.stream_limit = 2  # more streams get no answer at all
    hub_server.bandwidth = 4 * MiB  # per connection: the download lasts past the patience of the stuck ones
    files = remote_files(hub_server, "acme/slow")
    _engine().fetch(TransferJob(files, tmp_path / "out", max_connections=8, max_parallel_files=1, stall_timeout=2))
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    served = [r for r in hub_server.requests_for("/acme/slow/resolve/*") if r.method == "GET" and r.status == 206]
    assert hub_server.withheld >= 1 and served


def test_a_stall_is_declared_only_at_one_stream_after_the_limit(hub_server: HubServer, tmp_path: Path) -> None:
    _weights(hub_server, tmp_path)
    hub_server.withhold("/acme/slow/resolve/*", times=None)  # nothing ever answers
    files = remote_files(hub_server, "acme/slow")
    target = tmp_path / "out"
    started = time.monotonic()
    with pytest.raises(TransferError, match=r"stalled: less than 1 KiB arrived in 2 s") as caught:
        _engine().fetch(TransferJob(files, target, max_connections=8, max_parallel_files=1, stall_timeout=2))
    elapsed = time.monotonic() - started
    assert "\n" not in str(caught.value)
    # 8 streams, halved at most once per half second (a quarter of the limit) down to one, then 2 s at one
    assert 2 + 3 * 0.5 <= elapsed < 15
    assert not (target / "model.safetensors").exists()


def test_the_governor_never_grows_past_a_back_off() -> None:
    from imageworks.transfer.adaptive import ConnectionGovernor

    governor = ConnectionGovernor(16, level=4)
    assert governor.back_off(2) == 2
    now, total = 0.0, 0.0
    for _ in range(100):  # throughput that would pay for more streams
        now += 0.05
        total += 25e6 * governor.level * 0.05
        governor.observe(now, int(total))
    assert governor.level == 2 and governor.back_off(8) == 2 and governor.back_off(0) == 1


@pytest.mark.parametrize("fault", ["reset", "withhold"])
def test_a_whole_file_answer_cut_short_is_read_again(hub_server: HubServer, tmp_path: Path, fault: str) -> None:
    """A server that ignores Range (olah's mirror mode) sends the whole file to one stream;
    when that stream drops or stalls, the file is read again from byte 0, never left unread."""
    source = _weights(hub_server, tmp_path)
    hub_server.ignore_range = True
    if fault == "reset":
        hub_server.reset_after("/acme/slow/resolve/*", after_bytes=2 * MiB)
    else:
        hub_server.bandwidth = 4 * MiB  # the whole-file stream is still reading when the withheld ones time out
        hub_server.withhold("/acme/slow/resolve/*", times=1)
    files = remote_files(hub_server, "acme/slow")
    _engine().fetch(TransferJob(files, tmp_path / "out", max_connections=4, max_parallel_files=1, stall_timeout=2))
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
