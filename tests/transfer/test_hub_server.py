"""The loopback Hub speaks the real API: the official ``huggingface_hub`` client works against it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.hf_api import RepoFile, RepoFolder

from tests.support.fixtures import MINILM_REPO, TINY_REPO, minilm_snapshot, write_tiny_repo
from tests.support.hub_server import HubServer


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_model_info_with_files_metadata(hub_server: HubServer, tiny_repo: Path, hf_client_env: Path) -> None:
    info = HfApi(endpoint=hub_server.url).model_info(TINY_REPO, files_metadata=True)
    assert info.id == TINY_REPO
    assert info.sha == hub_server.repos[TINY_REPO].revisions["main"].commit
    siblings = {s.rfilename: s for s in info.siblings}
    assert set(siblings) == {"config.json", "tokenizer.json", "README.md", "1_Pooling/config.json", "model.safetensors"}
    weights = siblings["model.safetensors"]
    assert weights.size == (tiny_repo / "model.safetensors").stat().st_size
    assert weights.lfs is not None and weights.lfs.sha256 == _sha256(tiny_repo / "model.safetensors")
    assert siblings["config.json"].lfs is None and siblings["config.json"].blob_id


def test_tree_is_recursive_and_paged(tiny_repo: Path, hf_client_env: Path) -> None:
    with HubServer(page_size=2) as server:
        server.add_repo(TINY_REPO, tiny_repo)
        api = HfApi(endpoint=server.url)
        entries = list(api.list_repo_tree(TINY_REPO, recursive=True))
        top = list(api.list_repo_tree(TINY_REPO))
        pages = server.requests_for(f"/api/models/{TINY_REPO}/tree/*")
    files = {e.path: e for e in entries if isinstance(e, RepoFile)}
    assert "1_Pooling/config.json" in files and files["model.safetensors"].lfs is not None
    assert [e.path for e in entries if isinstance(e, RepoFolder)] == ["1_Pooling"]
    assert "1_Pooling/config.json" not in {e.path for e in top}
    assert len(pages) > 3  # the client followed the Link header


def test_file_metadata_headers(hub_server: HubServer, tiny_repo: Path, hf_client_env: Path) -> None:
    url = hub_server.resolve_url(TINY_REPO, "model.safetensors")
    meta = get_hf_file_metadata(url)
    assert meta.commit_hash == hub_server.repos[TINY_REPO].revisions["main"].commit
    assert meta.etag == _sha256(tiny_repo / "model.safetensors")
    assert meta.size == (tiny_repo / "model.safetensors").stat().st_size


def test_range_requests(hub_server: HubServer, tiny_repo: Path) -> None:
    url = hub_server.resolve_url(TINY_REPO, "model.safetensors")
    data = (tiny_repo / "model.safetensors").read_bytes()
    part = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    tail = requests.get(url, headers={"Range": f"bytes={len(data) - 5}-"}, timeout=10)
    assert tail.content == data[-5:]
    assert requests.get(url, headers={"Range": f"bytes={len(data)}-"}, timeout=10).status_code == 416


def test_hf_hub_download_and_revisions(hub_server: HubServer, tmp_path: Path, hf_client_env: Path) -> None:
    main = write_tiny_repo(tmp_path / "main", seed=1)
    dev = write_tiny_repo(tmp_path / "dev", seed=2)
    hub_server.add_repo(TINY_REPO, {"main": main, "dev": dev})
    got_main = hf_hub_download(TINY_REPO, "model.safetensors", endpoint=hub_server.url, cache_dir=hf_client_env)
    got_dev = hf_hub_download(
        TINY_REPO, "tokenizer.json", revision="dev", endpoint=hub_server.url, cache_dir=hf_client_env
    )
    assert Path(got_main).read_bytes() == (main / "model.safetensors").read_bytes()
    assert Path(got_dev).read_bytes() == (dev / "tokenizer.json").read_bytes()
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(TINY_REPO, "config.json", revision="nope", endpoint=hub_server.url, cache_dir=hf_client_env)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub_server.url).model_info("acme/missing")


def test_snapshot_download_through_cdn_redirect(tiny_repo: Path, tmp_path: Path, hf_client_env: Path) -> None:
    with HubServer(lfs_redirect=True) as server:
        server.add_repo(TINY_REPO, tiny_repo, token="hf_secret_token")
        folder = Path(
            snapshot_download(TINY_REPO, endpoint=server.url, cache_dir=hf_client_env, token="hf_secret_token")
        )
        cdn = server.requests_for("/__cdn__/*")
    for source in tiny_repo.rglob("*"):
        if source.is_file():
            assert (folder / source.relative_to(tiny_repo)).read_bytes() == source.read_bytes()
    assert cdn and all("Authorization" not in r.headers for r in cdn)


def test_gated_repo_needs_bearer_token(hub_server: HubServer, tiny_repo: Path, hf_client_env: Path) -> None:
    hub_server.add_repo("acme/gated", tiny_repo, token="hf_right")
    with pytest.raises(GatedRepoError):
        hf_hub_download("acme/gated", "config.json", endpoint=hub_server.url, cache_dir=hf_client_env)
    with pytest.raises(GatedRepoError):
        hf_hub_download("acme/gated", "config.json", endpoint=hub_server.url, cache_dir=hf_client_env, token="hf_x")
    path = hf_hub_download(
        "acme/gated", "config.json", endpoint=hub_server.url, cache_dir=hf_client_env, token="hf_right"
    )
    assert Path(path).read_bytes() == (tiny_repo / "config.json").read_bytes()
    authorised = [r for r in hub_server.requests if r.headers.get("Authorization") == "Bearer hf_right"]
    assert authorised and all("hf_right" not in r.path for r in hub_server.requests)


def test_injected_faults(hub_server: HubServer, tiny_repo: Path) -> None:
    url = hub_server.resolve_url(TINY_REPO, "model.safetensors")
    data = (tiny_repo / "model.safetensors").read_bytes()
    hub_server.fail("*/model.safetensors", 429, times=2, retry_after=3)
    first = requests.get(url, timeout=10)
    assert first.status_code == 429 and first.headers["Retry-After"] == "3"
    assert requests.get(url, timeout=10).status_code == 429
    assert requests.get(url, timeout=10).content == data
    hub_server.corrupt("*/model.safetensors")
    bad = requests.get(url, timeout=10).content
    assert len(bad) == len(data) and bad != data
    hub_server.reset_after("*/model.safetensors", 1000)
    with pytest.raises(requests.exceptions.RequestException):
        _ = requests.get(url, timeout=10).content
    assert requests.get(url, timeout=10).content == data


def test_bandwidth_cap_is_per_connection(hub_server: HubServer, tiny_repo: Path) -> None:
    import time

    hub_server.bandwidth = 4 * 1024 * 1024
    url = hub_server.resolve_url(TINY_REPO, "model.safetensors")
    began = time.monotonic()
    requests.get(url, headers={"Range": "bytes=0-2097151"}, timeout=10).raise_for_status()
    assert time.monotonic() - began >= 0.45  # 2 MiB at 4 MiB/s


@pytest.mark.large
def test_real_minilm_snapshot(hub_server: HubServer, hf_client_env: Path) -> None:
    source = minilm_snapshot()
    hub_server.add_repo(MINILM_REPO, source)
    info = HfApi(endpoint=hub_server.url).model_info(MINILM_REPO, files_metadata=True)
    weights = next(s for s in info.siblings if s.rfilename == "model.safetensors")
    assert weights.lfs is not None and weights.size == (source / "model.safetensors").stat().st_size
    folder = Path(snapshot_download(MINILM_REPO, endpoint=hub_server.url, cache_dir=hf_client_env))
    for original in source.rglob("*"):
        if original.is_file():
            copy = folder / original.relative_to(source)
            assert copy.stat().st_size == original.stat().st_size
    assert _sha256(folder / "model.safetensors") == weights.lfs.sha256
