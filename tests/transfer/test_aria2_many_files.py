"""The aria2 engine at any file count: aria2c keeps 1,000 results by default."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from imageworks.transfer import Aria2Engine, RemoteFile, TransferJob
from tests.support.hub_server import HubServer

FILES = 1_050


@pytest.mark.skipif(shutil.which("aria2c") is None, reason="aria2c is not installed")
def test_more_than_a_thousand_files(tmp_path: Path) -> None:
    """1,050 small files from the loopback Hub: every one arrives, checked by its git blob id."""
    source = tmp_path / "repo"
    for index in range(FILES):
        folder = source / f"part{index // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{index:04d}.json").write_text(f'{{"index": {index}}}\n')
    with HubServer() as hub:
        revision = hub.add_repo("acme/many", source).revisions["main"]
        files = [
            RemoteFile(hub.resolve_url("acme/many", f.path), f.path, f.size, git_blob_id=f.blob_id)
            for f in revision.files.values()
        ]
        assert len(files) == FILES
        started = time.monotonic()
        done = Aria2Engine(backoff=0.05).fetch(TransferJob(files, tmp_path / "out", max_parallel_files=16))
        elapsed = time.monotonic() - started
    assert len(done) == FILES, f"{len(done)} of {FILES} in {elapsed:.1f} s"
    for index in (0, 999, 1000, FILES - 1):
        path = tmp_path / "out" / f"part{index // 100:02d}" / f"file{index:04d}.json"
        assert path.read_text() == f'{{"index": {index}}}\n'
