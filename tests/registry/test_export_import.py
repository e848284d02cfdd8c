"""``registry export --to-json`` / ``registry import --from-json``: JSON files <-> PostgreSQL,
byte for byte, through the store interface."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.model_loader.download_adapter import record_download
from tests.support.cli import cli
from tests.support.postgres import PostgresCluster

LAYER_FILES = ("model_registry.curated.json", "model_registry.discovered.json")
ALL_FILES = (*LAYER_FILES, "model_registry.json")
# hand-kept: not canonical (key order, spacing, no final newline, escapes), with fields nobody defined
HAND_CURATED = (
    '[ {"roles": ["chat"], "name": "alpha-vllm-safetensors", "future": {"z": 1, "a": [1.50, "\\u00e9"]},\n'
    '   "display_name": "Alpha \u2014 hand kept"} ]'
).encode()


def folder_bytes(folder: Path, names: tuple[str, ...] = ALL_FILES) -> dict[str, bytes | None]:
    return {name: (folder / name).read_bytes() if (folder / name).exists() else None for name in names}


def json_registry(folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes | None]:
    """A JSON registry in ``folder``: recorded entries plus the hand-kept curated file."""
    with monkeypatch.context() as env:
        env.setenv("IMAGEWORKS_REGISTRY_BACKEND", "json")
        env.setenv("IMAGEWORKS_REGISTRY_DIR", str(folder))
        for repo in ("acme/alpha", "acme/beta", "acme/gamma"):
            record_download(repo, "vllm", "safetensors", None, f"ollama://{repo}", None)
        (folder / LAYER_FILES[0]).write_bytes(HAND_CURATED)
        open_registry().entries()  # the JSON backend regenerates its snapshot on a read
    return folder_bytes(folder)


def test_json_to_postgres_to_json_gives_the_same_files(
    postgres_dsn: str, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = json_registry(isolated / "json-registry", monkeypatch)
    imported = cli(capsys, "registry", "import", "--from-json", str(isolated / "json-registry"), "--json")
    assert imported.code == 0, imported.err
    assert imported.json()["entries"] == {"curated": 1, "discovered": 3} and imported.json()["backup"] == []
    entries = {e.name: e for e in open_registry().entries()}
    assert entries["alpha-vllm-safetensors"].display_name == "Alpha \u2014 hand kept" and entries["alpha-vllm-safetensors"].extra["future"]["a"] == [1.5, "é"]

    exported = cli(capsys, "registry", "export", "--to-json", str(isolated / "out"))
    assert exported.code == 0, exported.err
    assert "Exported 1 curated and 3 discovered entries" in exported.err
    assert folder_bytes(isolated / "out") == original  # the hand-kept file too, and the merged snapshot


def test_postgres_to_json_to_postgres_gives_the_same_rows_and_files(
    postgres_cluster: PostgresCluster, postgres_dsn: str, isolated: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for repo in ("acme/alpha", "acme/beta"):
        record_download(repo, "vllm", "safetensors", None, f"ollama://{repo}", None)
    open_registry().update("alpha-vllm", lambda _: {"roles": ["chat"], "display_name": "A"})
    layers = open_registry().layers()
    assert cli(capsys, "registry", "export", "--to-json", str(isolated / "a")).code == 0
    second = postgres_cluster.create_database()
    try:
        monkeypatch.setenv("IMAGEWORKS_REGISTRY_DSN", postgres_cluster.dsn(second))
        assert cli(capsys, "registry", "import", "--from-json", str(isolated / "a")).code == 0
        assert open_registry().layers() == layers
        assert cli(capsys, "registry", "export", "--to-json", str(isolated / "b")).code == 0
        assert folder_bytes(isolated / "b") == folder_bytes(isolated / "a")
    finally:
        import gc

        gc.collect()
        postgres_cluster.drop_database(second)


def test_a_changed_layer_exports_as_the_json_backend_would_write_it(
    postgres_dsn: str, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same import and the same write on both backends give the same files."""
    json_registry(isolated / "json-registry", monkeypatch)
    assert cli(capsys, "registry", "import", "--from-json", str(isolated / "json-registry")).code == 0
    change = {"roles": ["caption"], "display_name": "Gamma"}
    open_registry().update("gamma-vllm-safetensors", lambda _: change)
    open_registry().delete("beta-vllm-safetensors", backup=False)
    with monkeypatch.context() as env:
        env.setenv("IMAGEWORKS_REGISTRY_BACKEND", "json")
        env.setenv("IMAGEWORKS_REGISTRY_DIR", str(isolated / "json-registry"))
        open_registry().update("gamma-vllm-safetensors", lambda _: change)
        open_registry().delete("beta-vllm-safetensors", backup=False)
    assert cli(capsys, "registry", "export", "--to-json", str(isolated / "out")).code == 0
    assert folder_bytes(isolated / "out") == folder_bytes(isolated / "json-registry")
    assert (isolated / "out" / LAYER_FILES[0]).read_bytes() == HAND_CURATED  # that layer did not change


def test_import_backs_up_first_and_replaces_both_layers(
    postgres_dsn: str, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_download("acme/old", "vllm", None, None, "ollama://old", None)
    source = isolated / "incoming"
    source.mkdir()
    (source / LAYER_FILES[1]).write_text(json.dumps([{"name": "new-vllm", "backend": "vllm"}]))
    result = cli(capsys, "registry", "import", "--from-json", str(source))
    assert result.code == 0, result.err
    assert [e.name for e in open_registry().entries()] == ["new-vllm"]
    (backup,) = open_registry().list_backups()
    assert set(open_registry().read_backup(backup.id).discovered) == {"old-vllm"}
    assert "Backed up PostgreSQL registry" in result.err
    undo = cli(capsys, "backups", "restore", "--apply", backup.id)
    assert undo.code == 0 and [e.name for e in open_registry().entries()] == ["old-vllm"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "holds no registry layer files"),
        ({"model_registry.json": "[]"}, "holds no registry layer files"),
        ({LAYER_FILES[1]: '[{"name": "a"}, {"name": '}, "is damaged"),
        ({LAYER_FILES[0]: "[]", LAYER_FILES[1]: '[{"name": "a"}, {"name": "a"}]'}, "repeats the name"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    postgres_dsn: str, isolated: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str], message: str
) -> None:
    record_download("acme/kept", "vllm", None, None, "ollama://kept", None)
    before = open_registry().store.export_layers()
    source = isolated / "incoming"
    source.mkdir()
    for name, text in files.items():
        (source / name).write_text(text)
    result = cli(capsys, "registry", "import", "--from-json", str(source))
    assert result.code == 1 and len(result.err.splitlines()) == 1 and message in result.err
    assert open_registry().store.export_layers() == before and open_registry().list_backups() == []
