"""The guide's Python API (section 9) runs as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.core.errors import VariantNotFoundError
from imageworks.model_loader.download_adapter import list_downloads, record_download, remove_download
from imageworks.tools.model_downloader import ModelDownloader
from tests.support.cli import make_model


def test_download_adapter_as_in_guide_9_2(isolated: Path) -> None:
    path = make_model(isolated / "weights", "liuhaotian/llava-v1.5-13b")
    entry = record_download(
        hf_id="liuhaotian/llava-v1.5-13b",
        backend="vllm",
        format_type="awq",
        quantization=None,
        path=str(path),
        location="linux_wsl",
    )
    assert entry.name == "llava-v1.5-13b-vllm-awq"
    assert entry.download_size_bytes == sum(f.stat().st_size for f in path.iterdir())
    assert entry.download_files == ["config.json", "model.safetensors"]
    assert entry.backend_config.model_path == str(path)
    assert entry.downloaded_at and entry.source_provider == "huggingface"
    assert [(d.name, d.download_size_bytes) for d in list_downloads(only_installed=False)] == [
        (entry.name, entry.download_size_bytes)
    ]
    kept = remove_download(entry.name, keep_entry=True)
    assert kept is not None and kept.download_path is None
    assert list_downloads(only_installed=False) == []
    assert path.exists()


def test_only_installed_hides_missing_paths(isolated: Path) -> None:
    path = make_model(isolated / "weights", "acme/gone")
    record_download("acme/gone", "vllm", None, None, path, "linux_wsl")
    for child in path.iterdir():
        child.unlink()
    path.rmdir()
    assert list_downloads() == []
    assert len(list_downloads(only_installed=False)) == 1


def test_model_downloader_methods(isolated: Path) -> None:
    path = make_model(isolated / "weights", "acme/my-model")
    name = record_download("acme/my-model", "vllm", "awq", None, path, "linux_wsl").name
    downloader = ModelDownloader()
    assert [m.name for m in downloader.list_models(format_filter="awq")] == [name]
    assert downloader.list_models(format_filter="gguf") == []
    assert downloader.verify_model(name) is True
    (path / "config.json").write_text("changed")
    assert downloader.verify_model(name) is False
    assert downloader.get_stats()["total"] == 1
    assert downloader.remove_model(name, delete_files=True) is True
    assert not path.exists()
    with pytest.raises(VariantNotFoundError):
        downloader.remove_model("my-modle")
