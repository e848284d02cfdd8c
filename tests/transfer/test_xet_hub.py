"""Xet-backed files as huggingface.co answers for them today, fetched over plain HTTP.

For a file stored with Xet the Hub's ``resolve`` answers ``302`` with ``X-Xet-Hash``, a
``Link: <.../xet-read-token/<commit>>; rel="xet-auth"``, ``X-Linked-Etag`` (the sha256)
and ``X-Linked-Size``, and redirects to a Xet bridge URL on another host (the Xet hash in
the path, a signed query) rather than to the LFS CDN. Clients that do not speak the Xet
protocol download from that bridge with plain Range requests. Our engine must, and
resume there; the official ``hf_hub_download`` (with Xet turned off) is the reference it
agrees with (huggingface_hub 1.x and later no longer resume a file left by an earlier
process: each process downloads to its own temporary file).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests

from imageworks.transfer import PythonEngine, TransferJob, TransferProgress
from tests.support.fixtures import write_tiny_repo
from tests.support.hub_server import HubServer, xet_hash_of
from tests.support.ranges import requested_bytes
from tests.transfer.test_engines import remote_files

MiB = 1024 * 1024
REPO = "acme/xet-model"


@pytest.fixture
def xet_hub(tmp_path: Path) -> tuple[HubServer, Path]:
    source = write_tiny_repo(tmp_path / "src", weights_size=4 * MiB)
    with HubServer(xet=True) as hub:
        hub.add_repo(REPO, source, token="hf_secret")
        yield hub, source


def test_the_hub_answers_like_huggingface_co_for_xet_files(xet_hub: tuple[HubServer, Path]) -> None:
    hub, source = xet_hub
    url = hub.resolve_url(REPO, "model.safetensors")
    head = requests.head(url, headers={"Authorization": "Bearer hf_secret"}, allow_redirects=False, timeout=10)
    sha256 = hashlib.sha256((source / "model.safetensors").read_bytes()).hexdigest()
    assert head.status_code == 302
    assert head.headers["X-Linked-Etag"] == f'"{sha256}"' and head.headers["X-Linked-Size"] == str(4 * MiB)
    xet_hash = head.headers["X-Xet-Hash"]
    assert len(xet_hash) == 64 and xet_hash != sha256
    assert head.links["xet-auth"]["url"].endswith(f"/api/models/{REPO}/xet-read-token/{head.headers['X-Repo-Commit']}")
    assert f"/__xet__/{xet_hash}?" in head.headers["Location"] and not head.headers["Location"].startswith(hub.url)
    part = requests.get(head.headers["Location"], headers={"Range": "bytes=10-19"}, timeout=10)
    assert part.status_code == 206 and part.content == (source / "model.safetensors").read_bytes()[10:20]


def test_our_engine_downloads_and_resumes_xet_files_over_http(xet_hub: tuple[HubServer, Path], tmp_path: Path) -> None:
    hub, source = xet_hub
    files = [f for f in remote_files(hub, REPO) if f.relative_path == "model.safetensors"]
    target = tmp_path / "out"
    hub.bandwidth = 2 * MiB  # per connection: about two seconds, time to stop it half way

    class Interrupted(Exception):
        pass

    def stop_half_way(update: TransferProgress) -> None:
        if update.bytes_done >= MiB:
            raise Interrupted

    engine = PythonEngine(piece_size=256 * 1024, min_split=256 * 1024, adaptive=False)
    job = TransferJob(files, target, token="hf_secret", max_connections=2, max_parallel_files=1)
    with pytest.raises(Interrupted):
        engine.fetch(job, stop_half_way)
    assert not (target / "model.safetensors").exists()
    first_run = len(hub.requests)
    hub.bandwidth = None
    updates: list[TransferProgress] = []
    engine.fetch(job, updates.append)
    assert (target / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    second = [r for r in hub.requests[first_run:] if r.path.startswith("/__xet__/") and r.method == "GET"]
    assert second and updates[0].bytes_done >= MiB  # continued from what the first run kept
    assert requested_bytes([r.headers.get("Range") for r in second], 4 * MiB) <= 3 * MiB
    bridge = hub.requests_for(f"/__xet__/{xet_hash_of(hub.repos[REPO].revisions['main'].files['model.safetensors'])}")
    assert bridge and all("Authorization" not in r.headers for r in bridge)  # the token stays with the Hub


def test_hf_hub_download_agrees_over_http(xet_hub: tuple[HubServer, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # no Xet client: plain HTTP, as ours
    hub, source = xet_hub
    cache = tmp_path / "hf-cache"

    path = Path(huggingface_hub.hf_hub_download(REPO, "model.safetensors", endpoint=hub.url, cache_dir=cache,
                                                token="hf_secret"))
    data = (source / "model.safetensors").read_bytes()
    assert path.read_bytes() == data
    bridge = [r for r in hub.requests if r.path.startswith("/__xet__/")]
    assert bridge and all("Authorization" not in r.headers for r in bridge)  # the token stays with the Hub
