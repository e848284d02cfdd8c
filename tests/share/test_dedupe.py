"""``dedupe``: the report (exact reclaimable bytes), the fold (one inode, readers still load) and the undo."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, scan_cache_dir

from imageworks.app import open_registry
from tests.share.conftest import SIZE, Copies, Stores
from tests.support.cli import cli


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inodes(paths: list[Path]) -> set[int]:
    return {p.stat().st_ino for p in paths}


def test_report_fold_and_undo(registry_backend: object, copies: Copies, stores: Stores,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """On both registry backends (the fold's links are recorded on the scanned variant)."""
    report = cli(capsys, "dedupe", "--json")
    assert report.code == 0, report.err
    data = report.json()
    assert data["reclaimable_bytes"] == 3 * SIZE and data["applied"] is False
    (group,) = data["groups"]
    assert group["sha256"] == copies.sha256 and group["size"] == SIZE
    sources = {group["keeper"]["digest_from"], *(d["digest_from"] for d in group["duplicates"])}
    assert {"registry", "name"} <= sources  # recorded digests and content-addressed names are reused
    assert len(inodes(copies.paths)) == 4  # a dry run changes nothing
    assert data["hashed_bytes"] <= 3 * SIZE  # LM Studio's copies and the other file; never the named blobs

    applied = cli(capsys, "dedupe", "--apply", "--json")
    assert applied.code == 0, applied.err
    result = applied.json()
    assert result["folded"] == 3 and result["journal"]
    assert len(inodes(copies.paths)) == 1
    assert all(sha(p) == copies.sha256 for p in [*copies.paths, copies.read_only])
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o222 == 0 for p in copies.paths)  # shared inode: read-only
    assert copies.read_only.stat().st_ino not in inodes(copies.paths)  # a read-only store is not touched
    # the readers still load
    assert not scan_cache_dir(stores.hf_cache).warnings
    assert os.path.samefile(hf_hub_download("acme/dup", "model.safetensors", cache_dir=stores.hf_cache,
                                            local_files_only=True), copies.paths[0])
    assert cli(capsys, "dedupe", "--json").json()["reclaimable_bytes"] == 0
    entry = open_registry().get(open_registry().entries()[0].name)
    assert {link["app"] for link in entry.extra["shared_links"]} >= {"ollama", "lmstudio", "hf-cache"}
    assert cli(capsys, "verify").code == 0

    history = cli(capsys, "dedupe", "--history", "--json").json()
    assert [h["id"] for h in history] == [result["journal"]]
    undone = cli(capsys, "dedupe", "--undo", result["journal"], "--json")
    assert undone.code == 0, undone.err
    assert undone.json()["restored"] == 3
    assert len(inodes(copies.paths)) == 4  # each store holds its own copy again
    assert all(sha(p) == copies.sha256 for p in copies.paths)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in copies.paths)
    assert "shared_links" not in open_registry().get(entry.name).extra
    assert cli(capsys, "dedupe", "--json").json()["reclaimable_bytes"] == 3 * SIZE


def test_read_only_store_is_reported(copies: Copies, capsys: pytest.CaptureFixture[str]) -> None:
    group = cli(capsys, "dedupe", "--json").json()["groups"][0]
    skipped = [d for d in group["duplicates"] if d["action"] == "skip"]
    assert [d["path"] for d in skipped] == [str(copies.read_only)] and "read-only store" in skipped[0]["reason"]


def test_wrong_use_is_a_one_line_error(stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    for args, words in [
        (["--apply", "--undo", "20261206T130501-ab12cd"], "contradict"),
        (["--undo", "../../etc/passwd"], "not a dedupe journal id"),
        (["--undo", "20261206T130501-ab12cd"], "no dedupe journal"),
    ]:
        result = cli(capsys, "dedupe", *args)
        assert result.code == 1 and result.err.startswith("Error:") and words in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1


def test_text_report_names_the_bytes(copies: Copies, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "dedupe")
    assert result.code == 0
    assert f"{3 * SIZE} bytes" in result.out + result.err and "dry run" in result.out + result.err


def test_files_being_written_are_never_folded(copies: Copies, stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    data = copies.paths[0].read_bytes()
    partials = [stores.ollama / "blobs" / f"sha256-{copies.sha256}-partial-0",  # Ollama's pull in progress
                stores.hf_cache / "models--acme--dup" / "blobs" / f"{copies.sha256}.incomplete",  # huggingface_hub's
                stores.weights / "acme" / "dup" / "next.safetensors.imageworks-partial"]  # ours
    for path in partials:
        path.write_bytes(data)
    group = cli(capsys, "dedupe", "--json").json()["groups"][0]
    named = {group["keeper"]["path"], *(d["path"] for d in group["duplicates"])}
    assert named.isdisjoint(map(str, partials)) and len(named) == 5
