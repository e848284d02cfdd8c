"""A registry that could not take the result stops a download before the first byte.

Each case spoils the registry folder in one way, runs ``download`` against the loopback
Hub and checks: exit 1, one ``Error:`` line saying what is wrong, no ``resolve``
request reached the Hub, and the registry files and everything outside are unchanged.
Tests run as root, so nothing here relies on file permissions.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.errors import RegistryCorruptError
from imageworks.plugins.json_registry import LOCK, JsonRegistryStore, read_layer_file
from tests.security.conftest import Sandbox
from tests.support.cli import cli
from tests.support.fixtures import hf_client_env, hub_server, write_tiny_repo  # noqa: F401  (fixtures)
from tests.support.hub_server import HubServer

REPO = "acme/tiny-model"


@pytest.fixture
def hub(hub_server: HubServer, hf_client_env: Path, tmp_path: Path) -> HubServer:  # noqa: F811
    hub_server.add_repo(REPO, write_tiny_repo(tmp_path / "hub-src" / "tiny", weights_size=64 * 1024))
    return hub_server


def nested(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def write_entries(path: Path, entries: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")


def snapshot(folder: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*")) if folder.is_dir() else [folder]:
        if path.is_symlink():
            found[str(path)] = "link:" + os.readlink(path)
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = "dir"
    return found


def deep_layer(registry: Path, victim: Path) -> None:
    write_entries(registry / "model_registry.curated.json", [{"name": "deep", "metadata": {"x": nested(300)}}])


def big_int_layer(registry: Path, victim: Path) -> None:
    path = registry / "model_registry.discovered.json"
    path.parent.mkdir(parents=True)
    path.write_text('[{"name": "big", "size": 18446744073709551616}]\n', encoding="utf-8")


def huge_int_layer(registry: Path, victim: Path) -> None:
    path = registry / "model_registry.curated.json"
    path.parent.mkdir(parents=True)
    path.write_text('[{"name": "huge", "size": 1%s}]\n' % ("0" * 320), encoding="utf-8")


def endless_int_layer(registry: Path, victim: Path) -> None:
    path = registry / "model_registry.curated.json"
    path.parent.mkdir(parents=True)
    path.write_text('[{"name": "endless", "size": 1%s}]\n' % ("0" * 5000), encoding="utf-8")


def registry_is_a_file(registry: Path, victim: Path) -> None:
    registry.write_text("not a folder\n", encoding="utf-8")


def merged_is_a_folder(registry: Path, victim: Path) -> None:
    (registry / "model_registry.json").mkdir(parents=True)


def lock_links_to_victim(registry: Path, victim: Path) -> None:
    registry.mkdir()
    (registry / LOCK).symlink_to(victim / "existing.txt")


def lock_links_nowhere(registry: Path, victim: Path) -> None:
    registry.mkdir()
    (registry / LOCK).symlink_to(victim / "created-through-the-lock")


def damaged_json(registry: Path, victim: Path) -> None:
    path = registry / "model_registry.discovered.json"
    path.parent.mkdir(parents=True)
    path.write_text('[{"name": "x",\n', encoding="utf-8")


CASES: list[tuple[Callable[[Path, Path], None], str]] = [
    (deep_layer, "nested deeper than 255 levels"),
    (big_int_layer, "outside 64 bits"),
    (huge_int_layer, "outside 64 bits"),
    (endless_int_layer, "outside 64 bits"),
    (registry_is_a_file, "is a file, not a folder"),
    (merged_is_a_folder, "is not a regular file"),
    (lock_links_to_victim, "is a symbolic link"),
    (lock_links_nowhere, "is a symbolic link"),
    (damaged_json, "is damaged"),
]


@pytest.mark.parametrize(("spoil", "phrase"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_unwritable_registry_stops_download_before_any_byte(
    spoil: Callable[[Path, Path], None], phrase: str, hub: HubServer, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = isolated / "registry"
    victim = isolated / "victim"
    victim.mkdir()
    (victim / "existing.txt").write_text("precious\n", encoding="utf-8")
    spoil(registry, victim)
    sandbox = Sandbox(isolated)
    before = snapshot(registry)

    result = cli(capsys, "download", REPO, "--non-interactive", "--no-aria2")

    errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert result.code == 1 and len(errors) == 1 and phrase in errors[0], result.err
    assert "unexpected" not in result.err
    assert hub.requests_for("*/resolve/*") == []
    after = snapshot(registry)
    assert {k: v for k, v in after.items() if not k.endswith(LOCK)} == {k: v for k, v in before.items() if not k.endswith(LOCK)}
    assert not (isolated / "weights" / "acme").exists()
    sandbox.assert_untouched()
    assert not (victim / "created-through-the-lock").exists()


def test_the_refusal_names_the_file_at_read_time(isolated: Path) -> None:
    registry = isolated / "registry"
    deep_layer(registry, isolated)
    with pytest.raises(RegistryCorruptError) as caught:
        open_registry().entries()
    assert caught.value.path == registry / "model_registry.curated.json"


def test_integers_at_the_64_bit_edges_survive_a_rewrite_exactly(isolated: Path) -> None:
    registry = isolated / "registry"
    path = registry / "model_registry.discovered.json"
    registry.mkdir()
    path.write_text('[{"name": "edge", "high": 18446744073709551615, "low": -9223372036854775808,'
                    ' "digits": "12345678901234567890123"}]\n', encoding="utf-8")
    open_registry().update("other", lambda current: {"backend": "vllm"})
    entry = read_layer_file(path)["edge"]
    assert entry["high"] == 2**64 - 1 and entry["low"] == -(2**63)
    assert isinstance(entry["high"], int) and entry["digits"] == "12345678901234567890123"


def test_check_writable_creates_only_the_folder_and_the_lock(isolated: Path) -> None:
    registry = isolated / "registry" / "deeper"
    JsonRegistryStore(registry).check_writable()
    assert sorted(p.name for p in registry.iterdir()) == [LOCK]


def test_a_symlinked_lock_is_refused_for_every_write(isolated: Path) -> None:
    registry = isolated / "registry"
    registry.mkdir()
    target = isolated / "elsewhere.txt"
    target.write_text("keep\n", encoding="utf-8")
    (registry / LOCK).symlink_to(target)
    with pytest.raises(Exception, match="symbolic link"):
        open_registry().update("x", lambda current: {"backend": "vllm"})
    assert target.read_text(encoding="utf-8") == "keep\n"
    assert not (registry / "model_registry.discovered.json").exists()
