"""CLI manners (issue 28 item 5): bare groups show help, usage errors name the right help,
and options with a closed set of values reject what no one knows in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.model_loader.download_adapter import record_download
from tests.support.cli import cli, make_model


@pytest.mark.parametrize("args", [[], ["backups"], ["registry"], ["export"]])
def test_a_bare_program_or_group_prints_its_help_and_exits_0(
    isolated: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    result = cli(capsys, *args)
    assert result.code == 0
    assert result.out.startswith(f"Usage: {' '.join(['imageworks-download', *args])} [OPTIONS] COMMAND")
    assert "\n\nCommands:\n" in result.out  # real line breaks, not \x0a
    assert "\\x0a" not in result.out + result.err and "Error" not in result.err


def test_a_bare_program_of_the_other_scripts_prints_help(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, program="model-registry")
    assert result.code == 0 and result.out.startswith("Usage: imageworks-model-registry")


@pytest.mark.parametrize(
    ("args", "help_of"),
    [
        (["list", "--bogus"], "imageworks-download list --help"),
        (["backups", "restore"], "imageworks-download backups restore --help"),
        (["export", "litellm", "--server", "nope"], "imageworks-download export litellm --help"),
        (["no-such-command"], "imageworks-download --help"),
    ],
)
def test_usage_errors_name_the_help_of_their_command(
    isolated: Path, capsys: pytest.CaptureFixture[str], args: list[str], help_of: str
) -> None:
    result = cli(capsys, *args)
    assert result.code == 1
    assert result.err.count("\n") == 1 and result.err.startswith("Error: ")
    assert f"(see `{help_of}`)" in result.err


@pytest.fixture
def one_gguf(isolated: Path) -> str:
    folder = make_model(isolated / "weights", "acme/tiny-GGUF", {"tiny-Q4_K_M.gguf": b"GGUF" + bytes(64)})
    return record_download("acme/tiny-GGUF", "llamacpp", "gguf", "q4_k_m", folder, "linux_wsl").name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--format", "bogus"], "unknown format 'bogus'"),
        (["list", "--location", "bogus-label"], "unknown location label 'bogus-label'"),
        (["list", "--backend", "vlm"], "unknown backend 'vlm' (closest: vllm"),
        (["export", "litellm", "--format", "ggfu"], "unknown format 'ggfu' (closest: gguf"),
        (["export", "llama-swap", "--location", "nowhere"], "unknown location label 'nowhere'"),
        (["import-ollama", "--location", "bogus-label", "--no-api"], "unknown location label 'bogus-label'"),
        (["import-ollama", "--backend", "bogus", "--no-api"], "unknown backend 'bogus'"),
        (["scan", "--base", ".", "--format", "bogus", "--dry-run"], "unknown format 'bogus'"),
        (["scan", "--base", ".", "--backend", "bogus", "--dry-run"], "unknown backend 'bogus'"),
        (["download", "acme/tiny-GGUF", "--format", "bogus", "--dry-run"], "unknown format 'bogus'"),
        (["set-roles", "VARIANT", "--role", ""], "'' is not a role name"),
        (["set-roles", "VARIANT", "--role", "chat", "--role", "two words"], "'two words' is not a role name"),
        (["reset-discovered", "--backend", "bogus"], "unknown backend 'bogus'"),
    ],
)
def test_closed_options_refuse_unknown_values_in_one_line(
    one_gguf: str, isolated: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    args = [one_gguf if a == "VARIANT" else a for a in args]
    before = {p: p.read_bytes() for p in (isolated / "registry").glob("*.json")}
    result = cli(capsys, *args)
    assert result.code == 1, result.out + result.err
    assert result.err.startswith("Error: ") and result.err.count("\n") == 1, result.err
    assert message in result.err
    assert {p: p.read_bytes() for p in (isolated / "registry").glob("*.json")} == before  # nothing written


def test_an_incomplete_set_roles_names_its_help(one_gguf: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "set-roles", one_gguf)
    assert result.code == 1 and result.err.count("\n") == 1
    assert "give --role" in result.err and "(see `imageworks-download set-roles --help`)" in result.err


def test_known_values_still_filter(one_gguf: str, capsys: pytest.CaptureFixture[str]) -> None:
    for flags in (["--format", "GGUF"], ["--location", "linux_wsl"], ["--backend", "llamacpp"]):
        result = cli(capsys, "list", "--json", *flags)
        assert result.code == 0 and [e["name"] for e in result.json()] == [one_gguf]
    result = cli(capsys, "list", "--json", "--format", "awq")  # known, matches nothing: not an error
    assert result.code == 0 and result.json() == []


def test_uv_run_does_not_recompile_the_environment_at_every_start() -> None:
    """`[tool.uv] compile-bytecode = true` made every `uv run` walk 11,088 files and print
    "Bytecode compiled ..." (docs/benchmarks.md, Start-up): compile once at install instead."""
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert not pyproject.get("tool", {}).get("uv", {}).get("compile-bytecode", False)


def test_restore_ollama_previews_unless_apply_and_backs_up_first(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from imageworks.app import open_registry
    from imageworks.core.model import RegistryEntry

    registry = open_registry()
    registry.upsert(RegistryEntry(name="x-ollama", backend="ollama", served_model_id="x:1b"))
    registry.backup()
    registry.delete("x-ollama", backup=False)
    (source,) = registry.list_backups()
    for flags in ([], ["--dry-run"]):  # the guide's form, and no flag at all: a preview
        preview = cli(capsys, "restore-ollama", *flags)
        assert preview.code == 0 and "Pass --apply to carry it out." in preview.err
        assert "x-ollama" not in {e.name for e in open_registry().entries()} and len(registry.list_backups()) == 1
    done = cli(capsys, "restore-ollama", "--apply")
    assert done.code == 0 and "x-ollama" in {e.name for e in open_registry().entries()}
    sets = registry.list_backups()
    assert len(sets) == 2 and f"Backed up the registry to {sets[0].location} first" in done.err
    assert f"Ollama restore from {source.location}" in done.out  # the newest set before the restore, not the new one


def test_remove_says_exactly_what_it_deleted(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from imageworks.app import open_registry
    from imageworks.core.model import RegistryEntry

    folder = make_model(isolated / "weights", "acme/two-GGUF", {"two-Q4_K_M.gguf": b"GGUF" + bytes(64),
                                                               "two-Q8_0.gguf": b"GGUF" + bytes(128)})
    registry = open_registry()
    for quant, file in (("q4_k_m", "two-Q4_K_M.gguf"), ("q8_0", "two-Q8_0.gguf")):
        registry.upsert(RegistryEntry(name=f"two-llamacpp-gguf-{quant}", backend="llamacpp", download_path=str(folder),
                                      download_files=[file], download_format="gguf", download_location="linux_wsl"))
    one = cli(capsys, "remove", "two-llamacpp-gguf-q4_k_m", "--delete-files", "--force", "--no-backup")
    assert one.code == 0, one.err
    assert f"Deleted 1 file(s) of {folder}: two-Q4_K_M.gguf (the files of two-llamacpp-gguf-q8_0 stay)" in one.out
    assert f"Deleted {folder}\n" not in one.out and sorted(p.name for p in folder.iterdir()) == ["two-Q8_0.gguf"]
    last = cli(capsys, "remove", "two-llamacpp-gguf-q8_0", "--delete-files", "--force", "--no-backup")
    assert last.code == 0 and f"Deleted the folder {folder} and everything in it" in last.out and not folder.exists()


def test_verify_names_each_file_with_both_digests_and_how_to_refetch_just_those(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    files = {"config.json": b'{"model_type": "llama"}', "model-00001.safetensors": b"A" * 4096,
             "model-00002.safetensors": b"B" * 4096}
    folder = make_model(isolated / "weights", "acme/drifty", files)
    name = record_download("acme/drifty", "vllm", "safetensors", None, folder, "linux_wsl").name
    (folder / "model-00001.safetensors").write_bytes(b"X" * 4096)  # same size, other bytes
    (folder / "model-00002.safetensors").unlink()
    (folder / "stray.bin").write_bytes(b"stray")
    digest = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}

    table = cli(capsys, "verify", name)
    assert table.code == 1
    assert "directory checksum differs from the recorded one: 1 file(s) changed since download: model-00001.safetensors" in table.out
    lines = {line.split()[1]: line for line in table.out.splitlines() if line.startswith(name)}
    changed = lines["model-00001.safetensors"]
    assert "changed" in changed and digest["model-00001.safetensors"] in changed
    assert hashlib.sha256(b"X" * 4096).hexdigest() in changed
    assert "missing" in lines["model-00002.safetensors"] and digest["model-00002.safetensors"] in lines["model-00002.safetensors"]
    assert "extra" in lines["stray.bin"] and hashlib.sha256(b"stray").hexdigest() in lines["stray.bin"]
    assert (f"To re-fetch just the changed and missing files of {name}: rm -- {folder / 'model-00001.safetensors'}"
            " && imageworks-download download acme/drifty --location linux_wsl") in " ".join(table.err.split())

    (report,) = cli(capsys, "verify", name, "--json").json()
    assert {(f["path"], f["problem"]) for f in report["files"]} == {
        ("model-00001.safetensors", "changed"), ("model-00002.safetensors", "missing"), ("stray.bin", "extra")}
    assert report["refetch"][-1] == "imageworks-download download acme/drifty --location linux_wsl"
