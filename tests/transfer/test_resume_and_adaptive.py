"""Resume after ``kill -9`` for both engines, and the stream-count governor."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import attrs
import pytest

from imageworks.transfer import TransferJob, TransferProgress
from imageworks.transfer.adaptive import ConnectionGovernor
from tests.support.fixtures import write_tiny_repo
from tests.support.hub_server import HubServer
from tests.support.killing import kill_mid_file
from tests.transfer.test_engines import ENGINES, remote_files

CHILD = """
import json, sys
from imageworks.transfer import RemoteFile, TransferJob, PythonEngine, Aria2Engine
spec = json.loads(sys.argv[1])
engine = PythonEngine() if spec["engine"] == "python" else Aria2Engine(min_split_size="1M")
files = [RemoteFile(**f) for f in spec["files"]]
engine.fetch(TransferJob(files, spec["target"], max_connections=2, max_parallel_files=1))
"""


@pytest.mark.parametrize("engine_name", sorted(ENGINES))
def test_resume_after_kill_9(engine_name: str, hub_server: HubServer, tmp_path: Path) -> None:
    if engine_name == "aria2" and not any(
        (Path(p) / "aria2c").exists() for p in os.environ.get("PATH", "").split(os.pathsep)
    ):
        pytest.skip("aria2c is not installed")
    source = write_tiny_repo(tmp_path / "src", weights_size=8 * 1024 * 1024)
    hub_server.add_repo("acme/big", source)
    hub_server.bandwidth = 1.5 * 1024 * 1024  # per connection: slow enough to kill mid-file
    files = [f for f in remote_files(hub_server, "acme/big") if f.relative_path == "model.safetensors"]
    target = tmp_path / "out"
    spec = {"engine": engine_name, "target": str(target), "files": [attrs.asdict(f) for f in files]}
    partial = target / "model.safetensors.imageworks-partial"
    state = partial.with_name(partial.name + (".json" if engine_name == "python" else ".aria2"))
    kill_mid_file([sys.executable, "-c", CHILD, json.dumps(spec)], lambda: [partial] if state.exists() else [],
                  2 * 1024 * 1024, timeout=30)
    assert not (target / "model.safetensors").exists()
    on_disk = partial.stat().st_blocks * 512
    hub_server.bandwidth = None
    updates: list[TransferProgress] = []
    ENGINES[engine_name]().fetch(TransferJob(files, target, max_connections=2, max_parallel_files=1), updates.append)
    assert (target / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    assert updates[0].bytes_done >= min(on_disk, 2 * 1024 * 1024) - 1024 * 1024  # continued, not from zero
    assert not partial.exists() and not state.exists()


def _settle(rate_of_level, max_level: int, *, behind=lambda level: False, latency: float = 0.0,
            start: int = 1) -> int:
    governor = ConnectionGovernor(max_level, level=start, latency=latency)
    now, total = 0.0, 0.0
    for _ in range(200):
        now += 0.05
        total += rate_of_level(governor.level) * 0.05
        governor.observe(now, int(total), behind=behind(governor.level))
    assert governor.settled
    return governor.level


def test_governor_keeps_one_stream_when_more_do_not_help() -> None:
    assert _settle(lambda level: 1e9, 16) == 1  # unthrottled loopback: CPU-bound


def test_governor_adds_streams_while_each_is_capped() -> None:
    assert _settle(lambda level: 25e6 * level, 16) == 16  # CDN-style per-connection cap


def test_governor_stops_at_the_knee() -> None:
    assert _settle(lambda level: 25e6 * min(level, 4), 16) == 4  # the link saturates at 4 streams


def test_governor_adds_no_streams_while_the_hash_lags() -> None:
    # streams that would pay on the wire, but the receiver is CPU-bound: keep the 4 it has
    assert _settle(lambda level: 25e6 * level, 16, behind=lambda level: True, start=4) == 4
    assert _settle(lambda level: 25e6 * level, 16, behind=lambda level: level >= 4, start=1) == 4


def test_governor_reaches_the_cap_ceiling_fast_and_waits_longer_on_a_far_link() -> None:
    def reached_max_at(latency: float) -> float:
        governor = ConnectionGovernor(16, level=4, latency=latency)
        now, total = 0.0, 0.0
        while governor.level < 16:
            now += 0.01
            total += 25e6 * governor.level * 0.01
            governor.observe(now, int(total))
            assert now < 5
        return now

    assert reached_max_at(0.0) <= 0.25  # loopback or a near CDN: one 0.05 s warm-up and one 0.15 s window
    far = reached_max_at(0.1)  # 100 ms to the first byte: warm-up >= 0.2 s and window >= 0.4 s
    assert 0.6 <= far <= 0.7
