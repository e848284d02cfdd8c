"""prune-duplicates (guide 7.2): one entry per (family, backend, format, quant)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.model_loader.download_adapter import record_download
from tests.cleanup.helpers import backups, layer, snapshot, write_layers
from tests.support.cli import cli, make_model


@pytest.fixture
def duplicated(isolated: Path) -> dict[str, str]:
    """A recorded AWQ model with a stale twin under a legacy name, an Ollama entry with a
    logical twin, and a curated twin of the Ollama entry."""
    folder = make_model(isolated / "weights", "TheBloke/Mistral-7B-Instruct-AWQ")
    write_layers(
        isolated,
        curated=[{"name": "llama3-8b-curated", "backend": "ollama", "family": "llama3-8b", "download_format": "gguf",
                  "quantization": "q4_k_m", "roles": ["chat"]}],
        discovered=[
            {"name": "legacy-mistral-awq", "backend": "vllm", "hf_id": "TheBloke/Mistral-7B-Instruct-AWQ",
             "download_format": "awq", "quantization": "w4g128"},
            {"name": "llama3-8b-ollama-gguf-q4_k_m", "backend": "ollama", "family": "llama3-8b", "download_format": "gguf",
             "quantization": "q4_k_m", "download_path": "ollama://llama3:8b", "served_model_id": "llama3:8b",
             "source_provider": "ollama"},
            {"name": "llama3-8b-old-ollama", "backend": "ollama", "family": "llama3-8b", "download_format": "gguf",
             "quantization": "Q4_K_M"},
        ],
    )
    real = record_download("TheBloke/Mistral-7B-Instruct-AWQ", "vllm", "awq", "w4g128", folder, "linux_wsl")
    return {"awq": real.name}


def test_keeps_the_best_of_each_group_and_drops_the_rest(duplicated: dict[str, str], isolated: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    curated_before = (isolated / "registry" / "model_registry.curated.json").read_bytes()
    result = cli(capsys, "prune-duplicates", "--apply", "--json")
    assert result.code == 0, result.err
    items = {i["name"]: i for i in result.json()["items"]}
    assert items["legacy-mistral-awq"]["action"] == "remove"
    assert items["legacy-mistral-awq"]["reason"] == f"duplicate of {duplicated['awq']}"
    # The curated entry wins its group (hand-kept); both discovered twins go.
    assert {n: i["action"] for n, i in items.items() if n.startswith("llama3")} == {
        "llama3-8b-ollama-gguf-q4_k_m": "remove", "llama3-8b-old-ollama": "remove",
    }
    merged = layer(isolated, "merged")
    assert set(merged) == {duplicated["awq"], "llama3-8b-curated"}
    assert (isolated / "registry" / "model_registry.curated.json").read_bytes() == curated_before
    assert len(backups(isolated)) == 1


def test_verbose_says_what_is_kept_and_why(duplicated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "prune-duplicates", "--dry-run", "--verbose")
    assert result.code == 0
    assert f"keep {duplicated['awq']} (installed); drop legacy-mistral-awq" in result.out
    assert "keep llama3-8b-curated (curated); drop" in result.out


def test_backend_limits_the_groups(duplicated: dict[str, str], isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "prune-duplicates", "--apply", "--backend", "vllm", "--json")
    assert [i["name"] for i in result.json()["items"]] == ["legacy-mistral-awq"]
    assert "llama3-8b-old-ollama" in layer(isolated, "merged")


def test_a_curated_loser_is_retired_in_the_discovered_layer(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twin = {"backend": "vllm", "family": "qwen2-7b", "download_format": "awq"}
    write_layers(isolated, curated=[{"name": "qwen2-7b-vllm-awq", **twin}, {"name": "qwen2-7b-hand", **twin}], discovered=[])
    curated_before = (isolated / "registry" / "model_registry.curated.json").read_bytes()
    result = cli(capsys, "prune-duplicates", "--apply", "--json")
    [item] = result.json()["items"]
    assert (item["name"], item["action"], item["superseded_by"]) == ("qwen2-7b-hand", "retire", "qwen2-7b-vllm-awq")
    assert layer(isolated, "discovered")["qwen2-7b-hand"] == {
        "name": "qwen2-7b-hand", "deprecated": True, "superseded_by": "qwen2-7b-vllm-awq",
    }
    assert (isolated / "registry" / "model_registry.curated.json").read_bytes() == curated_before
    assert "qwen2-7b-hand" in cli(capsys, "purge-deprecated", "--dry-run", "--json").out  # and purge-deprecated takes it


def test_a_twin_installed_elsewhere_is_kept(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = make_model(isolated / "weights", "a/phi-3"), make_model(isolated / "lmstudio", "b/phi-3")
    same = {"backend": "vllm", "family": "phi-3", "download_format": "safetensors"}
    write_layers(isolated, curated=[], discovered=[
        {"name": "phi-3-vllm-safetensors", "download_path": str(first), **same},
        {"name": "phi-3-copy", "download_path": str(second), **same},
    ])
    before = snapshot(isolated)
    result = cli(capsys, "prune-duplicates", "--apply", "--json")
    [item] = result.json()["items"]
    assert item["action"] == "keep" and "installed at" in item["reason"]
    after = snapshot(isolated)  # nothing to change: the layers keep their bytes, no backup
    assert {k: after[k] for k in before} == before


def test_nothing_to_prune_leaves_the_bytes(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_model(isolated / "weights", "acme/solo")
    record_download("acme/solo", "vllm", "safetensors", None, folder, "linux_wsl")
    before = snapshot(isolated)
    result = cli(capsys, "prune-duplicates", "--apply")
    assert result.code == 0 and "nothing to do" in result.err
    assert snapshot(isolated) == before


def test_dry_run_plans_what_the_real_run_does(duplicated: dict[str, str], isolated: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(isolated)
    dry = cli(capsys, "prune-duplicates", "--dry-run", "--json").json()
    assert snapshot(isolated) == before and dry["applied"] is False and dry["counts"]["remove"] == 3
    real = cli(capsys, "prune-duplicates", "--apply", "--json").json()
    assert (real["items"], real["notes"], real["applied"]) == (dry["items"], dry["notes"], True)
    assert cli(capsys, "prune-duplicates", "--apply", "--json").json()["counts"]["remove"] == 0  # and then there are none
