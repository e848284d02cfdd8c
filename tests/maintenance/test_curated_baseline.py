"""Curated is the baseline (issue 12, item 5): hand edits show at once, human fields are kept.

The merged snapshot ``model_registry.json`` is regenerated on a read when a layer
changed, judged by content, not by modification time; and a curated value of a human
field is never overwritten by the discovered layer (``docs/merge-rules.md``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import filelock
import pytest

from imageworks.core.layers import merge_entry
from imageworks.plugins.json_registry import LOCK
from tests.support.cli import cli, make_model

CURATED = "model_registry.curated.json"
MERGED = "model_registry.json"


def write(path: Path, entries: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def merged(registry: Path) -> dict[str, dict]:
    return {e["name"]: e for e in json.loads((registry / MERGED).read_text(encoding="utf-8"))}


def scanned(isolated: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """One model folder scanned into the discovered layer; returns its variant name."""
    make_model(isolated / "weights", "acme/alpha")
    assert cli(capsys, "scan", "--base", str(isolated / "weights")).code == 0
    (name,) = merged(isolated / "registry")
    return name


def test_a_hand_edit_shows_at_once_even_within_one_timestamp_tick(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = isolated / "registry"
    name = scanned(isolated, capsys)
    curated = registry / CURATED
    write(curated, [{"name": name, "roles": ["chat"]}])
    assert cli(capsys, "list", "--json").code == 0
    assert merged(registry)[name]["roles"] == ["chat"]  # the first read after the edit regenerated it
    stat = curated.stat()
    curated.write_text(curated.read_text(encoding="utf-8").replace('"chat"', '"code"'), encoding="utf-8")
    os.utime(curated, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: only the bytes differ
    assert curated.stat().st_size == stat.st_size
    listed = cli(capsys, "list", "--json").json()
    assert listed[0]["roles"] == ["code"]
    assert merged(registry)[name]["roles"] == ["code"]
    snapshot = (registry / MERGED).stat().st_mtime_ns
    assert cli(capsys, "list", "--json").code == 0
    assert (registry / MERGED).stat().st_mtime_ns == snapshot  # fresh: a read writes nothing


def test_a_read_never_waits_for_the_lock_and_the_next_one_catches_up(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = isolated / "registry"
    name = scanned(isolated, capsys)
    write(registry / CURATED, [{"name": name, "display_name": "Alpha by hand"}])
    with filelock.FileLock(str(registry / LOCK), timeout=1):  # another process is writing
        started = time.monotonic()
        shown = cli(capsys, "list", "--json").json()
        assert time.monotonic() - started < 5
        assert shown[0]["display_name"] == "Alpha by hand"  # commands read the layers themselves
        assert merged(registry)[name]["display_name"] != "Alpha by hand"
    assert cli(capsys, "stats").code == 0
    assert merged(registry)[name]["display_name"] == "Alpha by hand"


def test_a_damaged_curated_file_stops_the_read_and_nothing_is_rewritten(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = isolated / "registry"
    scanned(isolated, capsys)
    (registry / CURATED).write_text('[{"name": "x",,}]', encoding="utf-8")
    before = (registry / MERGED).read_bytes()
    result = cli(capsys, "list")
    assert result.code == 1 and result.err.startswith("Error:") and CURATED in result.err
    assert (registry / MERGED).read_bytes() == before


def test_curated_human_fields_win_and_discovered_machine_fields_show(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = scanned(isolated, capsys)
    write(isolated / "registry" / CURATED, [{
        "name": name,
        "display_name": "Alpha (hand-kept)",
        "slug": "alpha",
        "roles": ["vision"],
        "model_aliases": ["alpha"],
        "capabilities": {"vision": True},
        "backend_config": {"model_path": "/srv/alpha", "extra": {"max_model_len": 4096}},
        "download_path": "/stale/by/hand",
    }])
    make_model(isolated / "weights", "acme/alpha", {"extra.bin": b"more"})
    assert cli(capsys, "scan", "--base", str(isolated / "weights"), "--update-existing").code == 0
    (entry,) = cli(capsys, "list", "--json").json()
    assert (entry["display_name"], entry["slug"], entry["roles"], entry["model_aliases"]) == (
        "Alpha (hand-kept)", "alpha", ["vision"], ["alpha"])
    assert entry["backend_config"]["model_path"] == "/srv/alpha"
    assert entry["backend_config"]["extra"] == {"max_model_len": 4096}
    folder = isolated / "weights" / "acme" / "alpha"
    assert entry["download_path"] == str(folder)  # machine fields come from discovered
    assert entry["download_size_bytes"] == sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    assert entry["capabilities"] == {"vision": True}


def test_merge_rule_per_kind_of_value() -> None:
    curated = {
        "name": "m", "roles": [], "display_name": None, "capabilities": {"vision": True, "audio": None},
        "role_priorities": {"chat": 1}, "backend_config": {"model_path": None, "extra": {"a": 1}},
        "quantization": "q4_k_m", "metadata": {"license": "mit", "readme_file": "README"},
    }
    discovered = {
        "name": "m", "roles": ["chat"], "display_name": "found", "capabilities": {"vision": False, "audio": True},
        "role_priorities": {"chat": 5, "code": 2}, "backend_config": {"model_path": "/x", "extra": {"a": 2, "b": 3}},
        "quantization": None, "metadata": {"license": "apache-2.0"},
    }
    result = merge_entry(curated, discovered)
    assert result["roles"] == ["chat"] and result["display_name"] == "found"  # an empty curated value holds nothing
    assert result["capabilities"] == {"vision": True, "audio": True}
    assert result["role_priorities"] == {"chat": 1, "code": 2}
    assert result["backend_config"] == {"model_path": "/x", "extra": {"a": 1, "b": 3}}
    assert result["quantization"] is None  # a machine field: discovered, null included, replaces curated
    assert result["metadata"] == {"license": "apache-2.0", "readme_file": "README"}
