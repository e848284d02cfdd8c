"""Many hosts on one registry: an install records its host; list and verify keep to this host.

Two "hosts" are two processes' configurations (``IMAGEWORKS_HOST``) on one PostgreSQL
registry; the shared root is a folder both see at the same path, as an NFS mount would be.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.model_loader.download_adapter import record_download
from tests.spine.helpers import cli, make_model


@pytest.fixture
def two_hosts(postgres_dsn: str, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """gpu-a and gpu-b each hold a model on their own disk; one model sits on shared storage."""
    shared = isolated / "nfs"
    monkeypatch.setenv("IMAGEWORKS_SHARED_ROOTS", str(shared))
    names = {}
    for host, repo, root in (("gpu-a", "acme/alpha", isolated / "weights"), ("gpu-b", "acme/beta", isolated / "weights"),
                             ("gpu-a", "acme/common", shared)):
        monkeypatch.setenv("IMAGEWORKS_HOST", host)
        folder = make_model(root, repo)
        names[repo] = record_download(repo, "vllm", "safetensors", None, folder, "linux_wsl").name
    return names


def listed(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, dict]:
    result = cli(capsys, "list", "--json", *flags)
    assert result.code == 0, result.err
    return {e["name"]: e for e in result.json()}


def test_an_install_records_its_host_and_shared_storage_none(two_hosts: dict[str, str]) -> None:
    entries = {e.name: e for e in open_registry().entries()}
    assert entries[two_hosts["acme/alpha"]].host == "gpu-a"
    assert entries[two_hosts["acme/beta"]].host == "gpu-b"
    assert entries[two_hosts["acme/common"]].host is None  # one copy every host sees


def test_list_shows_this_hosts_installs_and_all_with_a_flag(
    two_hosts: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alpha, beta, common = two_hosts["acme/alpha"], two_hosts["acme/beta"], two_hosts["acme/common"]
    monkeypatch.setenv("IMAGEWORKS_HOST", "gpu-a")
    assert set(listed(capsys)) == {alpha, common}
    monkeypatch.setenv("IMAGEWORKS_HOST", "gpu-b")
    assert set(listed(capsys)) == {beta, common}
    every = listed(capsys, "--all-hosts")
    assert set(every) == {alpha, beta, common} and every[alpha]["host"] == "gpu-a"
    table = cli(capsys, "list", "--all-hosts")
    assert "Host" in table.out and "gpu-a" in table.out and "(every host)" in table.out


def test_a_path_under_a_shared_root_is_seen_even_when_recorded_with_a_host(
    two_hosts: dict[str, str], isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Recorded before the folder was declared shared: still one copy for every host."""
    monkeypatch.delenv("IMAGEWORKS_SHARED_ROOTS")
    monkeypatch.setenv("IMAGEWORKS_HOST", "gpu-a")
    folder = make_model(isolated / "nfs", "acme/late")
    late = record_download("acme/late", "vllm", "safetensors", None, folder, "linux_wsl").name
    assert open_registry().get(late).host == "gpu-a"
    monkeypatch.setenv("IMAGEWORKS_HOST", "gpu-b")
    assert late not in listed(capsys)
    monkeypatch.setenv("IMAGEWORKS_SHARED_ROOTS", str(isolated / "nfs"))
    assert late in listed(capsys)


def test_verify_checks_only_what_this_host_sees(
    two_hosts: dict[str, str], isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMAGEWORKS_HOST", "gpu-b")
    (isolated / "weights" / "acme" / "alpha" / "model.safetensors").unlink()  # gpu-a's files: not ours to judge
    result = cli(capsys, "verify", "--json")
    assert result.code == 0, result.out
    assert {r["name"] for r in result.json()} == {two_hosts["acme/beta"], two_hosts["acme/common"]}
    other = cli(capsys, "verify", two_hosts["acme/alpha"])
    assert other.code == 1 and len(other.err.splitlines()) == 1
    assert "installed on host gpu-a, not on this host (gpu-b)" in other.err
    monkeypatch.setenv("IMAGEWORKS_HOST", "gpu-a")
    assert cli(capsys, "verify", two_hosts["acme/alpha"]).code == 1  # there it is checked, and drifted


def test_config_shows_host_and_shared_roots(two_hosts: dict[str, str], isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shown = cli(capsys, "config", "--json").json()
    assert shown["host"] == {"value": "gpu-a", "source": "env IMAGEWORKS_HOST"}
    assert shown["shared_roots"]["value"] == str(isolated / "nfs")
