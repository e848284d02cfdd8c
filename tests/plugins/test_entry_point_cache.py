"""The entry-point cache sees every install, upgrade and removal, and is read without importlib.metadata.

A real distribution folder (``*.dist-info`` with ``METADATA`` and ``entry_points.txt``)
is put on ``sys.path``; importlib.metadata is the reference the cached
answer must agree with after each change.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imageworks.core.entry_points import group_entry_points

GROUP = "imageworks.cache-test"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty site folder first on ``sys.path``, and a private cache folder."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(folder))
    return folder


def install(site: Path, dist: str, version: str, entry_points: dict[str, str]) -> Path:
    """Write a distribution's metadata as an installer does (a new ``*.dist-info`` folder)."""
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}", encoding="utf-8")
    return info


def reference() -> list[tuple[str, str]]:
    return sorted({(ep.name, ep.value) for ep in importlib.metadata.entry_points(group=GROUP)})


def test_the_cache_follows_installs_upgrades_and_removals(site: Path) -> None:
    assert reference() == [] == group_entry_points(GROUP)
    first = install(site, "alpha", "1.0", {"alpha": "alpha_plugin"})
    assert reference() == [("alpha", "alpha_plugin")] == group_entry_points(GROUP)
    assert group_entry_points(GROUP) == [("alpha", "alpha_plugin")]  # from the cache now
    # An upgrade in place (same folder name) that renames and adds entry points.
    stat = (first / "entry_points.txt").stat()
    (first / "entry_points.txt").write_text(f"[{GROUP}]\nalpha2 = alpha_plugin.v2:hooks\nbeta = beta_plugin\n")
    os.utime(first / "entry_points.txt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert reference() == [("alpha2", "alpha_plugin.v2:hooks"), ("beta", "beta_plugin")] == group_entry_points(GROUP)
    install(site, "gamma", "2.0", {"gamma": "gamma_plugin"})
    assert ("gamma", "gamma_plugin") in reference() == group_entry_points(GROUP)
    for path in first.iterdir():
        path.unlink()
    first.rmdir()
    assert reference() == [("gamma", "gamma_plugin")] == group_entry_points(GROUP)


def test_an_unwritable_or_corrupt_cache_only_costs_a_fresh_read(site: Path, tmp_path: Path) -> None:
    install(site, "alpha", "1.0", {"alpha": "alpha_plugin"})
    reference()
    assert group_entry_points(GROUP) == [("alpha", "alpha_plugin")]
    [cached] = (tmp_path / "cache" / "imageworks").glob("entry-points-*.json")
    cached.write_text("{not json", encoding="utf-8")
    assert group_entry_points(GROUP) == [("alpha", "alpha_plugin")]
    assert json.loads(cached.read_text(encoding="utf-8"))["entry_points"] == [["alpha", "alpha_plugin"]]
    cached.unlink()
    (tmp_path / "cache" / "imageworks").chmod(0o500)
    try:
        assert group_entry_points(GROUP) == [("alpha", "alpha_plugin")]
    finally:
        (tmp_path / "cache" / "imageworks").chmod(0o700)


def test_without_a_home_nothing_is_cached_in_the_working_directory(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(site, "alpha", "1.0", {"alpha": "alpha_plugin"})
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)  # what it returns when no home is known
    monkeypatch.chdir(tmp_path)
    assert reference() == [("alpha", "alpha_plugin")] == group_entry_points(GROUP)
    assert not (tmp_path / "~").exists()


def test_a_cached_start_does_not_import_importlib_metadata(tmp_path: Path) -> None:
    probe = (
        "import sys\nfrom imageworks.core.plugins import get_plugins\nhost = get_plugins()\n"
        "print(sorted(m for m in ('importlib.metadata', 'stevedore') if m in sys.modules), len(host.sources()))\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [
        subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120, check=True)
        for _ in range(2)
    ]
    first, second = (run.stdout.split() for run in runs)
    assert first[0] != "[]"  # the first start read the group through importlib.metadata
    assert second[0] == "[]" and second[1] == first[1]
