"""Background download jobs (``imageworks.gui.jobs``) against the loopback Hub: real processes, real bytes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from imageworks.app import open_registry
from imageworks.core.config import load_config
from imageworks.gui import commands, jobs
from imageworks.gui.launcher import PAGE
from tests.support.fixtures import MINILM_REPO, add_big_repo
from tests.support.hub_server import HubServer
from tests.support.killing import STATE_SAVE_SECONDS, written
from tests.support.ranges import requested_bytes


def download_args(model: str) -> Callable[[Path], list[str]]:
    return lambda progress: commands.build("download", "download", [model], {
        "non_interactive": True, "no_aria2": True, "progress_json": str(progress)})


def wait_for(condition: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def big(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """``acme/big``: 24 MiB of weights at 1 MiB/s per connection, two connections."""
    payload = add_big_repo(hub, tmp_path / "big")
    hub.bandwidth = 1024 * 1024
    monkeypatch.setenv("IMAGEWORKS_MAX_CONNECTIONS", "2")
    return payload


def test_a_job_downloads_minilm_in_its_own_process_with_progress(hub: HubServer, isolated: Path, minilm_dir: Path) -> None:
    hub.bandwidth = 16 * 1024 * 1024  # a few seconds: progress events come before the end
    directory = jobs.folder(load_config())
    assert directory == isolated / "logs" / "gui-jobs"
    job, new = jobs.start(directory, MINILM_REPO, "download", download_args(MINILM_REPO))
    assert new and job.pid != os.getpid() and job.status() == "running"
    assert "--progress-json" in job.args and job.args[0] == "download"
    wait_for(lambda: (p := job.progress()) is not None and 0 < p.bytes_done < p.bytes_total)
    wait_for(lambda: job.status() != "running", timeout=120)
    assert job.status() == "done" and job.exit_code() == 0, job.output()
    final = job.progress()
    size = sum(f.stat().st_size for f in minilm_dir.rglob("*") if f.is_file())
    assert final is not None and final.bytes_done == final.bytes_total == size
    assert final.files_done == final.files_total == 13 and final.fraction == 1.0
    assert "✓ Downloaded" in job.output()
    (entry,) = open_registry().entries()
    assert entry.hf_id == MINILM_REPO and entry.download_files_count == 13
    assert [j.id for j in jobs.jobs(directory)] == [job.id]
    assert jobs.clear_finished(directory) == 1 and jobs.jobs(directory) == []


def test_cancel_stops_the_process_and_the_next_start_resumes(hub: HubServer, isolated: Path, big: bytes) -> None:
    directory = jobs.folder(load_config())
    job, new = jobs.start(directory, "acme/big", "download", download_args("acme/big"))
    again, second = jobs.start(directory, "acme/big", "download", download_args("acme/big"))
    assert new and not second and again.id == job.id  # the second click shows the running job
    partial = isolated / "weights" / "acme" / "big" / "model.safetensors.imageworks-partial"
    wait_for(lambda: written([partial]) >= 3 * 1024 * 1024)
    time.sleep(STATE_SAVE_SECONDS)
    assert job.cancel(grace=5.0)
    cancelled_at = time.monotonic()
    assert job.status() == "cancelled" and not job.cancel()
    with pytest.raises(ProcessLookupError):
        os.kill(job.pid, 0)
    assert open_registry().entries() == []  # nothing recorded mid-transfer
    assert jobs.running(directory, "acme/big") is None
    hub.bandwidth = None
    resumed, new = jobs.start(directory, "acme/big", "download", download_args("acme/big"))
    assert new and resumed.id != job.id
    wait_for(lambda: resumed.status() != "running", timeout=120)
    assert resumed.status() == "done", resumed.output()
    assert (isolated / "weights" / "acme" / "big" / "model.safetensors").read_bytes() == big
    after = [r for r in hub.requests_for("*/model.safetensors") if r.started > cancelled_at and r.method == "GET"]
    assert requested_bytes((r.headers.get("Range") for r in after), len(big)) < len(big) - 2 * 1024 * 1024
    assert [j.status() for j in jobs.jobs(directory)] == ["done", "cancelled"]


def test_a_failing_command_is_a_failed_job_with_its_error_line(hub: HubServer, isolated: Path) -> None:
    directory = jobs.folder(load_config())
    job, _ = jobs.start(directory, "acme/missing", "download", download_args("acme/missing"))
    wait_for(lambda: job.status() != "running")
    assert job.status() == "failed" and job.exit_code() == 1
    assert job.output().startswith("Error:")


def page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=30)
    at.run()
    assert not at.exception
    return at


def test_the_page_starts_one_job_and_a_reloaded_page_sees_and_cancels_it(hub: HubServer, isolated: Path, big: bytes) -> None:
    at = page()
    at.text_input(key="dl-model").input("acme/big").run()
    at.checkbox(key="dl-dry-run").uncheck().run()
    assert any(c.value == "imageworks-download download --non-interactive -- acme/big" for c in at.code)
    at.button(key="dl-run").click().run()
    assert any("Started download job" in s.value for s in at.success), [e.value for e in at.error]
    (job,) = jobs.jobs(jobs.folder(load_config()))
    assert job.status() == "running"
    reloaded = page()  # a new session: what a browser reload gets
    assert any("acme/big" in m.value and "running" in m.value for m in reloaded.markdown)
    reloaded.text_input(key="dl-model").input("acme/big").run()
    reloaded.checkbox(key="dl-dry-run").uncheck().run()
    reloaded.button(key="dl-run").click().run()
    assert any("already downloading" in i.value for i in reloaded.info)
    assert len(jobs.jobs(jobs.folder(load_config()))) == 1  # no duplicate
    wait_for(lambda: job.progress() is not None)
    reloaded.run()
    assert any("of 24.0 MiB" in str(p.proto.text) for p in reloaded.get("progress")), "no progress bar"
    reloaded.button(key=f"job-cancel-{job.id}").click().run()
    assert job.status() == "cancelled"
    assert any("Cancelled" in c.value for c in reloaded.caption)
