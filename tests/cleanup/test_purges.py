"""reset-discovered, purge-hf, purge-logical-only and purge-deprecated (guide 7.2, 13, 15)
through the real CLI, on layer files written as a user's registry would hold them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cleanup.helpers import backups, layer, snapshot, write_layers
from tests.support.cli import cli, make_model


@pytest.fixture
def registry(isolated: Path) -> Path:
    """Curated: a logical entry with roles, an installed HF entry (overlaid in discovered),
    a deprecated placeholder. Discovered: vLLM and legacy ``unassigned`` entries under the
    weights root, a GGUF under LM Studio, Ollama entries, a deprecated scan leftover."""
    weights, lmstudio = isolated / "weights", isolated / "lmstudio"
    hf = make_model(weights, "acme/model-a")
    legacy = make_model(weights, "acme/model-b")
    curated_dir = make_model(weights, "acme/curated-c")
    gguf = make_model(lmstudio, "acme/model-d-GGUF", {"model-d-Q4_K_M.gguf": b"GGUF" + b"\0" * 64})
    write_layers(
        isolated,
        curated=[
            {"name": "curated-logical-vllm", "backend": "vllm", "roles": ["chat"]},
            {"name": "curated-c-vllm", "backend": "vllm", "download_path": str(curated_dir), "roles": ["caption"]},
            {"name": "old-placeholder-ollama-gguf", "backend": "ollama", "download_path": "ollama://old:1b", "deprecated": True},
        ],
        discovered=[
            {"name": "curated-c-vllm", "download_size_bytes": 4096, "source_provider": "huggingface"},
            {"name": "model-a-vllm", "backend": "vllm", "download_path": str(hf), "hf_id": "acme/model-a"},
            {"name": "model-b-unassigned", "backend": "unassigned", "download_path": str(legacy), "hf_id": "acme/model-b"},
            {"name": "model-d-gguf-q4_k_m", "backend": "gguf", "download_path": str(gguf), "download_format": "gguf"},
            {"name": "llama3-8b-ollama-gguf", "backend": "ollama", "download_path": "ollama://llama3:8b",
             "served_model_id": "llama3:8b", "source_provider": "ollama"},
            {"name": "qwen3-ollama-gguf", "backend": "ollama", "download_path": "ollama://qwen3:4b",
             "source_provider": "ollama", "deprecated": True},
            {"name": "gone-vllm", "backend": "vllm", "download_path": str(weights / "acme" / "gone"), "deprecated": True},
        ],
    )
    return isolated


def merged_names(isolated: Path) -> set[str]:
    return set(layer(isolated, "merged"))


def test_purge_hf_drops_discovered_records_under_the_weights_root(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    curated_before = (registry / "registry" / "model_registry.curated.json").read_bytes()
    result = cli(capsys, "purge-hf", "--apply", "--json")
    assert result.code == 0, result.err
    report = result.json()
    removed = {i["name"] for i in report["items"] if i["action"] == "remove"}
    assert removed == {"model-a-vllm", "model-b-unassigned", "gone-vllm", "curated-c-vllm"}
    assert report["applied"] is True and report["backup"]
    discovered = layer(registry, "discovered")
    assert set(discovered) == {"model-d-gguf-q4_k_m", "llama3-8b-ollama-gguf", "qwen3-ollama-gguf"}
    # The curated baseline of curated-c-vllm stays, byte for byte, and shows in the merged view.
    assert (registry / "registry" / "model_registry.curated.json").read_bytes() == curated_before
    assert layer(registry, "merged")["curated-c-vllm"] == layer(registry, "curated")["curated-c-vllm"]
    assert (registry / "weights" / "acme" / "model-a" / "model.safetensors").exists()  # files are never touched


def test_purge_hf_backend_unassigned_cleans_only_legacy_entries(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "purge-hf", "--apply", "--backend", "unassigned", "--json")
    assert result.code == 0, result.err
    assert [i["name"] for i in result.json()["items"]] == ["model-b-unassigned"]
    assert "model-b-unassigned" not in merged_names(registry) and "model-a-vllm" in merged_names(registry)


def test_purge_hf_takes_another_root(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "purge-hf", "--apply", "--weights-root", str(registry / "lmstudio"), "--json")
    assert [i["name"] for i in result.json()["items"]] == ["model-d-gguf-q4_k_m"]


def test_reset_discovered_by_backend_and_all(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "reset-discovered", "--apply", "--backend", "ollama", "--json")
    assert result.code == 0, result.err
    assert {i["name"] for i in result.json()["items"]} == {"llama3-8b-ollama-gguf", "qwen3-ollama-gguf"}
    assert "llama3-8b-ollama-gguf" not in layer(registry, "discovered")
    assert "old-placeholder-ollama-gguf" in layer(registry, "curated")  # curated-only: not a discovered entry
    assert cli(capsys, "reset-discovered", "--apply").code == 0
    assert layer(registry, "discovered") == {}
    assert set(layer(registry, "merged")) == set(layer(registry, "curated"))


def test_purge_logical_only_is_a_dry_run_until_apply(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(registry)
    dry = cli(capsys, "purge-logical-only", "--json")
    assert dry.code == 0 and dry.json()["applied"] is False
    assert snapshot(registry) == before
    actions = {i["name"]: i["action"] for i in dry.json()["items"]}
    assert actions == {
        "llama3-8b-ollama-gguf": "remove", "qwen3-ollama-gguf": "remove",
        "curated-logical-vllm": "keep", "old-placeholder-ollama-gguf": "keep",
    }
    assert cli(capsys, "purge-logical-only", "--apply", "--discovered-only").code == 0
    assert "llama3-8b-ollama-gguf" not in merged_names(registry) and "curated-logical-vllm" in merged_names(registry)
    assert cli(capsys, "purge-logical-only", "--apply", "--include-curated").code == 0
    assert set(layer(registry, "curated")) == {"curated-c-vllm"}


def test_purge_deprecated_and_placeholders_only(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "purge-deprecated", "--apply", "--placeholders-only", "--json")
    assert {i["name"] for i in result.json()["items"]} == {"qwen3-ollama-gguf", "old-placeholder-ollama-gguf"}
    assert "old-placeholder-ollama-gguf" not in layer(registry, "curated")  # deprecated entries leave both layers
    assert "gone-vllm" in merged_names(registry)
    assert cli(capsys, "purge-deprecated", "--apply").code == 0
    assert not any(e.get("deprecated") for e in layer(registry, "merged").values())


COMMANDS = [
    ["purge-hf"],
    ["purge-hf", "--backend", "unassigned"],
    ["reset-discovered", "--backend", "ollama"],
    ["purge-logical-only", "--include-curated"],
    ["purge-deprecated"],
    ["purge-deprecated", "--placeholders-only"],
    ["prune-duplicates"],
]


def _real(command: list[str]) -> list[str]:
    return [*command, "--apply"]


def _dry(command: list[str]) -> list[str]:
    return [*command, "--dry-run"]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_dry_run_reports_exactly_what_the_real_run_does(
    registry: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    before = snapshot(registry)
    dry = cli(capsys, *_dry(command), "--json")
    assert dry.code == 0, dry.err
    assert snapshot(registry) == before  # nothing written, no backup
    real = cli(capsys, *_real(command), "--json")
    assert real.code == 0, real.err
    assert real.json()["items"] == dry.json()["items"] and real.json()["counts"] == dry.json()["counts"]
    assert (dry.json()["applied"], real.json()["applied"]) == (False, True)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c[0] != "prune-duplicates"], ids=" ".join)
def test_one_convention_a_dry_run_unless_apply(
    registry: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """Every purge previews as written in the guide (no flag, or --dry-run) and writes only with --apply."""
    before = snapshot(registry)
    for flags in ([], ["--dry-run"]):
        plain = cli(capsys, *command, *flags)
        assert plain.code == 0, plain.err
        assert "Dry run (nothing written)" in plain.err and "Pass --apply to carry it out." in plain.err
        assert snapshot(registry) == before
    both = cli(capsys, *command, "--dry-run", "--apply")
    assert both.code == 1 and both.err.count("\n") == 1 and "contradict" in both.err
    assert f"see `imageworks-download {command[0]} --help`" in both.err and snapshot(registry) == before
    assert cli(capsys, *command, "--apply").code == 0 and snapshot(registry) != before


@pytest.mark.parametrize("command", [c for c in COMMANDS if c[0] != "prune-duplicates"], ids=" ".join)
def test_a_real_run_backs_up_first_and_a_second_run_changes_nothing(
    registry: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    before = snapshot(registry)
    result = cli(capsys, *_real(command), "--json")
    assert result.code == 0 and result.json()["counts"]["remove"] > 0
    [backup] = backups(registry)
    assert result.json()["backup"] == str(backup)
    for name in ("model_registry.curated.json", "model_registry.discovered.json"):
        assert (backup / name).read_bytes() == before[name]  # the files as they were
    after = snapshot(registry)
    again = cli(capsys, *_real(command), "--json")
    assert again.json()["counts"]["remove"] == 0 and snapshot(registry) == after  # no write, no backup


@pytest.mark.parametrize("command", [c for c in COMMANDS if c[0] != "prune-duplicates"], ids=" ".join)
def test_no_backup_writes_none(registry: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert cli(capsys, *_real(command), "--no-backup").code == 0
    assert backups(registry) == []


@pytest.mark.parametrize("command", ["purge-hf", "reset-discovered", "prune-duplicates"])
def test_an_unknown_backend_is_one_line_and_changes_nothing(
    registry: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    before = snapshot(registry)
    result = cli(capsys, command, "--backend", "olama")
    assert result.code == 1
    assert result.err.count("\n") == 1 and result.err.startswith("Error: unknown backend 'olama'")
    assert "closest: ollama" in result.err and "Traceback" not in result.err
    assert snapshot(registry) == before


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("damaged", ["model_registry.curated.json", "model_registry.discovered.json"])
def test_a_damaged_layer_stops_the_command_before_any_write(
    registry: Path, capsys: pytest.CaptureFixture[str], command: list[str], damaged: str
) -> None:
    path = registry / "registry" / damaged
    path.write_text(path.read_text()[:-20])
    before = snapshot(registry)
    result = cli(capsys, *_real(command))
    assert result.code == 1 and result.err.startswith("Error: registry file") and damaged in result.err
    assert result.err.count("\n") == 1
    assert snapshot(registry) == before


def test_purge_hf_sees_through_a_linked_weights_root(isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    real = isolated / "disk" / "weights"
    folder = make_model(real, "acme/linked")
    (isolated / "link").symlink_to(real)
    monkeypatch.setenv("IMAGEWORKS_MODEL_ROOT", str(isolated / "link"))
    write_layers(isolated, curated=[], discovered=[
        {"name": "linked-vllm", "backend": "vllm", "download_path": str(folder)},
        {"name": "beside-vllm", "backend": "vllm", "download_path": str(isolated / "disk" / "weights-old" / "x")},
    ])
    result = cli(capsys, "purge-hf", "--dry-run", "--json")
    assert [i["name"] for i in result.json()["items"]] == ["linked-vllm"]  # recorded by its real path, still under the root
