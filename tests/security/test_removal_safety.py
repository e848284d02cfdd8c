"""``remove --delete-files`` never deletes outside the store roots, however the links are laid.

The weights root and the "outside" folders are all in ``tmp_path``; each test records
an entry whose path plays a trick with symlinks, removes it, and checks what survived
byte for byte.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.errors import UnsafePathError
from imageworks.model_loader.download_adapter import record_download
from imageworks.services.maintain.removal import delete_installation
from tests.support.cli import cli, make_model


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every file (bytes) and link (target) under ``folder``, without following links."""
    found: dict[str, bytes | str] = {}
    for base, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(base, name)
            key = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[key] = os.readlink(path)
            elif path.is_file():
                found[key] = path.read_bytes()
    return found


def remove(capsys: pytest.CaptureFixture[str], name: str):
    return cli(capsys, "remove", name, "--delete-files", "--force")


def test_a_link_outside_the_roots_pointing_into_one_is_refused(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model(isolated / "weights", "acme/precious")
    link = isolated / "elsewhere" / "acme" / "precious"
    link.parent.mkdir(parents=True)
    link.symlink_to(model, target_is_directory=True)
    name = record_download("acme/precious", "vllm", None, None, link, "custom").name
    weights_before, elsewhere_before = snapshot(isolated / "weights"), snapshot(isolated / "elsewhere")
    result = remove(capsys, name)
    assert result.code == 1
    assert result.err.count("\n") == 1 and "outside every store root" in result.err
    assert snapshot(isolated / "weights") == weights_before
    assert snapshot(isolated / "elsewhere") == elsewhere_before  # link and its parent folders are still there
    assert open_registry().get(name).download_path == str(link)


def test_a_link_reached_through_a_linked_folder_is_judged_where_it_really_is(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``weights/acme`` is a link to a folder outside; the entry's link inside it points back into weights."""
    model = make_model(isolated / "weights", "real/model")
    outside = isolated / "elsewhere" / "owner"
    outside.mkdir(parents=True)
    (outside / "model").symlink_to(model, target_is_directory=True)
    (isolated / "weights" / "acme").symlink_to(outside, target_is_directory=True)
    recorded = isolated / "weights" / "acme" / "model"
    name = record_download("acme/model", "vllm", None, None, recorded, "linux_wsl").name
    before = snapshot(isolated / "elsewhere")
    result = remove(capsys, name)
    assert result.code == 1 and "outside every store root" in result.err
    assert snapshot(isolated / "elsewhere") == before


def test_a_link_inside_a_root_to_a_folder_outside_keeps_the_target(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = make_model(isolated / "elsewhere", "acme/precious")
    link = isolated / "weights" / "acme" / "linked"
    link.parent.mkdir(parents=True)
    link.symlink_to(target, target_is_directory=True)
    name = record_download("acme/linked", "vllm", None, None, link, "linux_wsl").name
    before = snapshot(isolated / "elsewhere")
    result = remove(capsys, name)
    assert result.code == 1 and f"links to {target}" in result.err
    assert snapshot(isolated / "elsewhere") == before and link.is_symlink()


def test_a_link_in_the_ollama_store_pointing_into_a_root_is_refused(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    weights_file = isolated / "weights" / "acme" / "tiny" / "model.gguf"
    weights_file.parent.mkdir(parents=True)
    weights_file.write_bytes(b"GGUF" + bytes(64))
    blob = isolated / "ollama" / "blobs" / ("sha256-" + "a" * 64)
    blob.parent.mkdir(parents=True)
    blob.symlink_to(weights_file)
    monkeypatch.setenv("OLLAMA_MODELS", str(isolated / "ollama"))
    name = record_download(None, "llamacpp", "gguf", None, blob, "linux_wsl", served_model_id="tiny:1b").name
    result = remove(capsys, name)
    assert result.code == 1 and "ollama rm tiny:1b" in result.err
    assert blob.is_symlink() and weights_file.read_bytes() == b"GGUF" + bytes(64)


def test_delete_installation_refuses_a_path_outside_the_roots(isolated: Path) -> None:
    stray = isolated / "elsewhere" / "a" / "b" / "file.bin"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"keep me")
    with pytest.raises(UnsafePathError, match="not inside a store root"):
        delete_installation(stray, [isolated / "weights"])
    assert stray.read_bytes() == b"keep me"


def test_delete_installation_removes_parents_up_to_the_root_only(isolated: Path) -> None:
    weights = isolated / "weights"
    model = make_model(weights, "owner/repo")
    alias = isolated / "weights-alias"
    alias.symlink_to(weights, target_is_directory=True)
    delete_installation(alias / "owner" / "repo", [alias])  # the root named through a link
    assert not (weights / "owner").exists() and not model.exists()
    assert weights.is_dir() and alias.is_symlink()
