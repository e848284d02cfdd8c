"""Many hosts on one registry: every host's install is kept; list, verify, remove and the prunes keep to this host's.

Two "hosts" are two processes' configurations (``IMAGEWORKS_HOST``, and a weights root
each, standing for each host's own disk) on one registry, on both backends; the shared
root is a folder both see at the same path, as an NFS mount would be.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.model import RegistryEntry
from imageworks.model_loader.download_adapter import record_download
from tests.support.backends import BackendUnderTest
from tests.support.cli import cli, make_model

SAME = "acme/same"
On = Callable[[str], None]


@pytest.fixture
def on(registry_backend: BackendUnderTest, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> On:
    """Switch this process to a host: its name and its own disk (``<tmp>/<host>/weights``)."""

    def switch(host: str) -> None:
        monkeypatch.setenv("IMAGEWORKS_HOST", host)
        monkeypatch.setenv("IMAGEWORKS_MODEL_ROOT", str(isolated / host / "weights"))

    return switch


def folder_of(isolated: Path, host: str, repo: str = SAME) -> Path:
    return isolated / host / "weights" / repo


def record_on(on: On, isolated: Path, host: str, repo: str = SAME) -> str:
    """``host`` downloads ``repo`` to its own disk and records it."""
    on(host)
    folder = make_model(isolated / host / "weights", repo)
    return record_download(repo, "vllm", "safetensors", None, folder, "linux_wsl").name


@pytest.fixture
def both(on: On, isolated: Path) -> str:
    """gpu-a, then gpu-b record the same variant on their own disks."""
    name = record_on(on, isolated, "gpu-a")
    assert record_on(on, isolated, "gpu-b") == name
    return name


def entry_on(on: On, host: str, name: str) -> RegistryEntry:
    on(host)
    return open_registry().get(name)


def listed(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, dict]:
    result = cli(capsys, "list", "--json", *flags)
    assert result.code == 0, result.err
    return {e["name"]: e for e in result.json()}


def installs_of(on: On, name: str) -> dict[str | None, str | None]:
    """Every install of ``name`` (host -> path), read on a host that holds none."""
    entry = entry_on(on, "gpu-z", name)
    return {i.host: i.download_path for i in [entry, *entry.installs] if i.download_path}


def test_two_hosts_recording_one_variant_both_stay(both: str, on: On, isolated: Path) -> None:
    for host, other in (("gpu-a", "gpu-b"), ("gpu-b", "gpu-a")):
        entry = entry_on(on, host, both)
        assert (entry.host, entry.download_path) == (host, str(folder_of(isolated, host)))  # this host's own, at the top
        assert entry.backend_config.model_path == entry.download_path  # what the launch helpers serve
        (theirs,) = entry.installs
        assert (theirs.host, theirs.download_path) == (other, str(folder_of(isolated, other)))
        assert theirs.download_directory_checksum and {f.path for f in theirs.artifacts.files} == {"config.json", "model.safetensors"}
    record_on(on, isolated, "gpu-a")  # downloaded again (new bytes): gpu-a's install is updated, gpu-b's kept
    assert installs_of(on, both) == {"gpu-a": str(folder_of(isolated, "gpu-a")), "gpu-b": str(folder_of(isolated, "gpu-b"))}
    on("gpu-a")
    raw = open_registry().layers().discovered[both]
    assert raw["host"] in {"gpu-a", "gpu-b"} and len(raw["installs"]) == 1  # one install at the top, as before installs


def test_the_launch_helpers_serve_this_hosts_copy(both: str, on: On, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for host in ("gpu-a", "gpu-b"):
        on(host)
        result = cli(capsys, "serve-vllm", both, "--print")
        assert result.code == 0, result.err
        assert str(folder_of(isolated, host)) in result.out
        other = "gpu-b" if host == "gpu-a" else "gpu-a"
        assert str(folder_of(isolated, other)) not in result.out


def test_exports_keep_to_this_hosts_installs(both: str, on: On, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    on("gpu-b")
    config = cli(capsys, "export", "llama-swap", "--server", "vllm")
    assert config.code == 0, config.err
    assert str(folder_of(isolated, "gpu-b")) in config.out and str(folder_of(isolated, "gpu-a")) not in config.out
    on("gpu-c")
    assert both not in cli(capsys, "export", "llama-swap", "--server", "vllm").out


def test_list_shows_this_hosts_install_and_every_install_with_a_flag(
    both: str, on: On, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on("gpu-b")
    mine = listed(capsys)[both]
    assert mine["host"] == "gpu-b" and mine["download_path"] == str(folder_of(isolated, "gpu-b"))
    assert [(i["host"], i["download_path"]) for i in mine["installs"]] == [("gpu-a", str(folder_of(isolated, "gpu-a")))]
    on("gpu-c")  # holds none of it
    assert both not in listed(capsys)
    assert both in listed(capsys, "--all-hosts")
    table = cli(capsys, "list", "--all-hosts", "--show-internal-names")
    assert "2 variant(s)" in table.out  # one row per (variant, host) install
    assert "gpu-a" in table.out and "gpu-b" in table.out
    details = cli(capsys, "list", "--all-hosts", "--details").out
    assert str(folder_of(isolated, "gpu-a")) in details and str(folder_of(isolated, "gpu-b")) in details


def test_verify_checks_each_hosts_own_install(both: str, on: On, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder_of(isolated, "gpu-b") / "model.safetensors").write_bytes(b"changed")  # gpu-b's copy drifted
    on("gpu-a")
    result = cli(capsys, "verify", "--json")
    assert result.code == 0, result.out
    assert [(r["name"], r["status"], r["path"]) for r in result.json()] == [(both, "ok", str(folder_of(isolated, "gpu-a")))]
    on("gpu-b")
    result = cli(capsys, "verify", both, "--json")
    assert result.code == 1 and result.json()[0]["status"] == "drift"
    on("gpu-c")
    other = cli(capsys, "verify", both)
    assert other.code == 1 and len(other.err.splitlines()) == 1 and "not on this host (gpu-c)" in other.err
    locking = cli(capsys, "verify", both, "--lock", program="model-registry")  # nor locked from another host
    assert locking.code == 1 and "not on this host (gpu-c)" in locking.err


def test_remove_on_one_host_keeps_the_others_install(
    both: str, on: On, isolated: Path, registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    on("gpu-b")
    before = registry_backend.files()
    dry = cli(capsys, "remove", both, "--delete-files", "--dry-run")
    assert dry.code == 0 and "the installs on gpu-a stay" in dry.out
    assert registry_backend.files() == before and folder_of(isolated, "gpu-b").exists()
    result = cli(capsys, "remove", both, "--delete-files", "--force", "--no-backup")
    assert result.code == 0, result.err
    assert not folder_of(isolated, "gpu-b").exists() and folder_of(isolated, "gpu-a").exists()
    assert installs_of(on, both) == {"gpu-a": str(folder_of(isolated, "gpu-a"))}
    on("gpu-b")
    assert both not in listed(capsys)
    assert listed(capsys, "--all-hosts")[both]["host"] == "gpu-a"
    on("gpu-a")
    assert listed(capsys)[both]["download_path"] == str(folder_of(isolated, "gpu-a"))
    assert cli(capsys, "verify", both).code == 0


def test_remove_of_another_hosts_install_is_refused_and_purge_drops_every_host(
    both: str, on: On, registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    on("gpu-c")
    before = registry_backend.files()
    for flags in ((), ("--delete-files",), ("--delete-files", "--purge")):
        refused = cli(capsys, "remove", both, "--force", *flags)
        assert refused.code == 1 and len(refused.err.splitlines()) == 1, refused.err
        assert "not on this host (gpu-c)" in refused.err
    assert registry_backend.files() == before
    dry = cli(capsys, "remove", both, "--purge", "--dry-run")
    assert "with the installs on gpu-a, gpu-b" in dry.out
    assert cli(capsys, "remove", both, "--purge", "--force", "--no-backup").code == 0
    assert both not in listed(capsys, "--all-hosts")


def test_metadata_only_remove_keeps_the_other_hosts_install(both: str, on: On, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    on("gpu-a")
    result = cli(capsys, "remove", both, "--force", "--no-backup")
    assert result.code == 0 and "installs on gpu-b stay" in result.out
    assert installs_of(on, both) == {"gpu-b": str(folder_of(isolated, "gpu-b"))}
    assert folder_of(isolated, "gpu-a").exists()  # metadata only


def test_prune_missing_forgets_only_this_hosts_install(both: str, on: On, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(folder_of(isolated, "gpu-a"))  # gone from gpu-a's disk: gpu-b cannot tell, and must not judge
    for host in ("gpu-b", "gpu-c"):
        on(host)
        result = cli(capsys, "normalize-formats", "--prune-missing", "--apply", "--json")
        assert result.code == 0, result.err
        assert [c["action"] for c in result.json()["changes"]] == []
    assert set(installs_of(on, both)) == {"gpu-a", "gpu-b"}
    on("gpu-a")
    result = cli(capsys, "normalize-formats", "--prune-missing", "--apply", "--json", "--no-backup")
    (change,) = result.json()["changes"]
    assert change["action"] == "prune" and change["other_hosts"] == ["gpu-b"]
    assert installs_of(on, both) == {"gpu-b": str(folder_of(isolated, "gpu-b"))}  # the entry stays, with gpu-b's


def test_purge_hf_and_prune_duplicates_keep_other_hosts_installs(
    both: str, on: On, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on("gpu-c")
    other_root = isolated / "gpu-a" / "weights"  # gpu-a's install lies under it, but it is not gpu-c's disk
    result = cli(capsys, "purge-hf", "--apply", "--weights-root", str(other_root), "--json", "--no-backup")
    assert result.code == 0 and result.json()["items"] == []
    on("gpu-b")
    result = cli(capsys, "purge-hf", "--apply", "--json", "--no-backup")
    assert [(i["name"], i["action"]) for i in result.json()["items"]] == [(both, "forget")]
    assert installs_of(on, both) == {"gpu-a": str(folder_of(isolated, "gpu-a"))}
    # a stale duplicate installed only on gpu-a: gpu-c cannot see its files, so it is not dropped
    on("gpu-a")
    registry = open_registry()
    registry.upsert(RegistryEntry(name="same-old-name", family="same", backend="vllm", download_format="safetensors",
                                  download_path=str(folder_of(isolated, "gpu-a", "acme/old")), host="gpu-a"))
    on("gpu-c")
    plan = cli(capsys, "prune-duplicates", "--apply", "--json", "--no-backup").json()
    kept = {i["name"]: i for i in plan["items"]}
    assert kept["same-old-name"]["action"] == "keep" and "installed on gpu-a" in kept["same-old-name"]["reason"]


def test_scanning_the_same_layout_on_two_hosts_records_both(on: On, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Both hosts keep models at the same path on their own disks (here one folder stands for both)."""
    weights = isolated / "weights"
    folder = make_model(weights, SAME)
    for host in ("gpu-a", "gpu-b"):
        on(host)
        result = cli(capsys, "scan", "--base", str(weights))
        assert result.code == 0, result.err
    (entry,) = open_registry().entries()
    assert {(i.host, i.download_path) for i in [entry, *entry.installs]} == {("gpu-a", str(folder)), ("gpu-b", str(folder))}
    on("gpu-c")
    assert "2 variant(s)" in cli(capsys, "list", "--all-hosts").out


def test_unknown_keys_of_an_install_travel_with_it(both: str, on: On, isolated: Path) -> None:
    """A newer tool's key in gpu-b's install survives gpu-a's and gpu-b's writes, and stays gpu-b's."""
    on("gpu-b")
    open_registry().update(both, lambda _: {"install_extra": {"future_field": 7}})  # gpu-b's install, at the top on gpu-b
    record_on(on, isolated, "gpu-a")  # gpu-a writes: gpu-b's install goes down into installs, its key with it
    on("gpu-b")
    open_registry().update(both, lambda _: {"last_accessed": "now"})  # gpu-b writes: its install comes back up
    record_on(on, isolated, "gpu-a")
    entry = entry_on(on, "gpu-a", both)
    (theirs,) = entry.installs
    assert theirs.host == "gpu-b" and theirs.extra == {"future_field": 7}
    assert "install_extra" not in entry.extra  # gpu-a's own install has no such key
    assert entry_on(on, "gpu-b", both).extra["install_extra"] == {"future_field": 7}


def test_a_hand_set_model_path_wins_on_every_host(on: On, isolated: Path, registry_backend: BackendUnderTest) -> None:
    name = record_on(on, isolated, "gpu-a")
    registry_backend.seed("curated", [{"name": name, "backend_config": {"model_path": "/models/in-container"}}])
    record_on(on, isolated, "gpu-b")
    for host in ("gpu-a", "gpu-b"):
        entry = entry_on(on, host, name)
        assert entry.backend_config.model_path == "/models/in-container"
        assert entry.download_path == str(folder_of(isolated, host))


def test_a_damaged_installs_value_is_one_error_naming_the_entry(
    on: On, registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    registry_backend.seed("discovered", [{"name": "x-vllm", "download_path": "/x", "host": "gpu-a", "installs": "oops"}])
    on("gpu-b")
    layers = {k: v for k, v in registry_backend.files().items() if k != "model_registry.json"}  # the snapshot is derived
    result = cli(capsys, "list", "--json")
    assert result.code == 1 and len(result.err.splitlines()) == 1
    assert result.err.startswith("Error:") and "x-vllm" in result.err and "installs" in result.err
    assert {k: v for k, v in registry_backend.files().items() if k != "model_registry.json"} == layers


def test_shared_storage_stays_one_copy(on: On, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    shared = isolated / "nfs"
    monkeypatch.setenv("IMAGEWORKS_SHARED_ROOTS", str(shared))
    folder = make_model(shared, "acme/common")
    names = set()
    for host in ("gpu-a", "gpu-b"):
        on(host)
        names.add(record_download("acme/common", "vllm", "safetensors", None, folder, "linux_wsl").name)
    (name,) = names
    entry = open_registry().get(name)
    assert entry.host is None and entry.installs == []
    for host in ("gpu-a", "gpu-b"):
        on(host)
        assert listed(capsys)[name]["download_path"] == str(folder)


def test_an_install_of_no_host_is_taken_over_by_the_host_recording_it(on: On, isolated: Path) -> None:
    """Recorded before hosts were (a single machine's registry): recording it again gives one install."""
    name = record_on(on, isolated, "gpu-a")
    open_registry().update(name, lambda _: {"host": None})
    record_on(on, isolated, "gpu-a")
    entry = open_registry().get(name)
    assert entry.host == "gpu-a" and entry.installs == []


def test_concurrent_hosts_recording_one_variant_lose_nothing(on: On, isolated: Path) -> None:
    writers = 8
    folders = {host: make_model(isolated / host / "weights", SAME) for host in ("gpu-a", "gpu-b")}
    processes = []
    for i in range(writers):
        host = "gpu-a" if i % 2 == 0 else "gpu-b"
        env = {**os.environ, "IMAGEWORKS_HOST": host, "IMAGEWORKS_MODEL_ROOT": str(isolated / host / "weights")}
        processes.append(subprocess.Popen([sys.executable, str(Path(__file__).with_name("host_writer.py")), str(i), str(folders[host])], env=env))
    assert [p.wait(300) for p in processes] == [0] * writers
    on("gpu-z")
    names = {e.name for e in open_registry().entries()}
    assert {f"model-{i}-vllm" for i in range(writers)} <= names
    (same,) = names - {f"model-{i}-vllm" for i in range(writers)}
    assert installs_of(on, same) == {host: str(folder) for host, folder in folders.items()}


# -- what each host sees (one install per variant) ----------------------------------------


@pytest.fixture
def two_hosts(on: On, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """gpu-a and gpu-b each hold a model on their own disk; one model sits on shared storage."""
    shared = isolated / "nfs"
    monkeypatch.setenv("IMAGEWORKS_SHARED_ROOTS", str(shared))
    names = {}
    for host, repo, root in (("gpu-a", "acme/alpha", isolated / "weights"), ("gpu-b", "acme/beta", isolated / "weights"),
                             ("gpu-a", "acme/common", shared)):
        on(host)
        folder = make_model(root, repo)
        names[repo] = record_download(repo, "vllm", "safetensors", None, folder, "linux_wsl").name
    return names


def test_an_install_records_its_host_and_shared_storage_none(two_hosts: dict[str, str]) -> None:
    entries = {e.name: e for e in open_registry().entries()}
    assert entries[two_hosts["acme/alpha"]].host == "gpu-a"
    assert entries[two_hosts["acme/beta"]].host == "gpu-b"
    assert entries[two_hosts["acme/common"]].host is None  # one copy every host sees


def test_list_shows_this_hosts_installs_and_all_with_a_flag(
    two_hosts: dict[str, str], on: On, capsys: pytest.CaptureFixture[str]
) -> None:
    alpha, beta, common = two_hosts["acme/alpha"], two_hosts["acme/beta"], two_hosts["acme/common"]
    on("gpu-a")
    assert set(listed(capsys)) == {alpha, common}
    on("gpu-b")
    assert set(listed(capsys)) == {beta, common}
    every = listed(capsys, "--all-hosts")
    assert set(every) == {alpha, beta, common} and every[alpha]["host"] == "gpu-a"
    table = cli(capsys, "list", "--all-hosts")
    assert "Host" in table.out and "gpu-a" in table.out and "(every host)" in table.out


def test_a_path_under_a_shared_root_is_seen_even_when_recorded_with_a_host(
    two_hosts: dict[str, str], on: On, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Recorded before the folder was declared shared: still one copy for every host."""
    monkeypatch.delenv("IMAGEWORKS_SHARED_ROOTS")
    on("gpu-a")
    folder = make_model(isolated / "nfs", "acme/late")
    late = record_download("acme/late", "vllm", "safetensors", None, folder, "linux_wsl").name
    assert open_registry().get(late).host == "gpu-a"
    on("gpu-b")
    assert late not in listed(capsys)
    monkeypatch.setenv("IMAGEWORKS_SHARED_ROOTS", str(isolated / "nfs"))
    assert late in listed(capsys)


def test_verify_checks_only_what_this_host_sees(
    two_hosts: dict[str, str], on: On, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on("gpu-b")
    (isolated / "weights" / "acme" / "alpha" / "model.safetensors").unlink()  # gpu-a's files: not ours to judge
    result = cli(capsys, "verify", "--json")
    assert result.code == 0, result.out
    assert {r["name"] for r in result.json()} == {two_hosts["acme/beta"], two_hosts["acme/common"]}
    other = cli(capsys, "verify", two_hosts["acme/alpha"])
    assert other.code == 1 and len(other.err.splitlines()) == 1
    assert "installed on host gpu-a, not on this host (gpu-b)" in other.err
    on("gpu-a")
    assert cli(capsys, "verify", two_hosts["acme/alpha"]).code == 1  # there it is checked, and drifted


def test_config_shows_host_and_shared_roots(two_hosts: dict[str, str], isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shown = cli(capsys, "config", "--json").json()
    assert shown["host"] == {"value": "gpu-a", "source": "env IMAGEWORKS_HOST"}
    assert shown["shared_roots"]["value"] == str(isolated / "nfs")
