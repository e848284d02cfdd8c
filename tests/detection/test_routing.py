"""Routing: the router plugin's defaults, labels, paths, and safe target folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.app import plugins
from imageworks.core.config import load_config
from imageworks.core.errors import ConfigError, UnsafePathError
from imageworks.core.model import RouteRequest
from imageworks.core.routing import resolve_route, target_directory


def test_gguf_goes_to_lmstudio_and_tensors_to_weights(isolated):
    """Defaults of guide 5.4, with roots from the environment."""
    config = load_config()
    gguf = resolve_route(RouteRequest(model_id="a/b", format_type="gguf"), config, plugins())
    assert (gguf.label, gguf.root) == ("windows_lmstudio", str(isolated / "lmstudio"))
    for fmt in ("awq", "safetensors", "gptq", None):
        route = resolve_route(RouteRequest(model_id="a/b", format_type=fmt), config, plugins())
        assert (route.label, route.root) == ("linux_wsl", str(isolated / "weights"))


def test_location_label_and_path_override(isolated, tmp_path):
    """--location takes a label, or a path used verbatim (spaces kept)."""
    config = load_config()
    by_label = resolve_route(RouteRequest(model_id="a/b", format_type="gguf", location="linux_wsl"), config, plugins())
    assert by_label.root == str(isolated / "weights")
    custom = tmp_path / "my models"
    by_path = resolve_route(RouteRequest(model_id="a/b", format_type="awq", location=str(custom)), config, plugins())
    assert (by_path.label, by_path.root) == ("custom", str(custom))
    assert target_directory(by_path.root, "a/b") == custom / "a" / "b"


def test_extra_location_from_pyproject(isolated, tmp_path, monkeypatch):
    """Labels from [tool.imageworks.model-downloader.locations] resolve like built-ins."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.imageworks.model-downloader]\n[tool.imageworks.model-downloader.locations]\nnas = "/srv/nas"\n'
    )
    route = resolve_route(RouteRequest(model_id="a/b", format_type="awq", location="nas"), load_config(), plugins())
    assert (route.label, route.root) == ("nas", "/srv/nas")


def test_unknown_label_is_a_clear_config_error():
    """A misspelt label names itself and the known labels."""
    with pytest.raises(ConfigError, match="unknown location 'lmstudio'") as error:
        resolve_route(RouteRequest(model_id="a/b", format_type="gguf", location="lmstudio"), load_config(), plugins())
    assert "windows_lmstudio" in str(error.value)


def test_target_directory_layout():
    """<root>/<owner>/<repo>[@branch]; a branch with / stays one folder."""
    assert target_directory("/r", "owner/repo") == Path("/r/owner/repo")
    assert target_directory("/r", "owner/repo", "dev") == Path("/r/owner/repo@dev")
    assert target_directory("/r", "owner/repo", "refs/pr/1") == Path("/r/owner/repo@refs-pr-1")
    assert target_directory("/r", "gpt2") == Path("/r/gpt2")


@pytest.mark.parametrize("bad", ["../etc", "a/..", "/abs/path", "a\\b", "a/b/c", "", "a//b", "./x", "C:/x"])
def test_unsafe_ids_are_refused(bad):
    """Ids that could escape the root raise UnsafePathError."""
    with pytest.raises(UnsafePathError):
        target_directory("/r", bad)


def test_unsafe_branch_is_refused():
    """A branch of .. cannot climb out either."""
    with pytest.raises(UnsafePathError):
        target_directory("/r", "a/b", "../../x")
