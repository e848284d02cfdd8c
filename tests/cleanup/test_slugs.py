"""preview-simple-slugs and apply-simple-slugs (guide 4.2, 7.2): every strategy on real
collisions, collision handling, renames, testing entries, dry run == real run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imageworks.app import open_registry
from tests.cleanup.helpers import backups, layer, snapshot, write_layers
from tests.support.cli import cli

LLAMA_OLLAMA = "llama3-8b-ollama-gguf-q4_k_m"
LLAMA_CPP = "llama3-8b-llamacpp-gguf-q4_k_m"
QWEN_AWQ = "qwen2-7b-vllm-awq"
QWEN_GPTQ = "qwen2-7b-vllm-gptq"
MISTRAL = "mistral-7b-instruct-vllm-awq"
TESTING = "testzzz-tiny-vllm"


def entries() -> list[dict[str, Any]]:
    """Two collision groups: the llama pair differs in backend and producer but not in
    format; the qwen pair differs in format only (one producer, one backend)."""
    return [
        {"name": LLAMA_OLLAMA, "backend": "ollama", "family": "llama3-8b", "download_format": "gguf",
         "quantization": "q4_k_m", "download_path": "ollama://llama3:8b", "served_model_id": "llama3:8b",
         "source_provider": "ollama"},
        {"name": LLAMA_CPP, "backend": "llamacpp", "family": "llama3-8b", "download_format": "gguf",
         "quantization": "q4_k_m", "hf_id": "bartowski/llama3-8b-GGUF", "source_provider": "huggingface"},
        {"name": QWEN_AWQ, "backend": "vllm", "family": "qwen2-7b", "download_format": "awq", "hf_id": "Qwen/Qwen2-7B-AWQ"},
        {"name": QWEN_GPTQ, "backend": "vllm", "family": "qwen2-7b", "download_format": "gptq", "hf_id": "Qwen/Qwen2-7B-GPTQ"},
        {"name": MISTRAL, "backend": "vllm", "family": "mistral-7b-instruct", "download_format": "awq",
         "hf_id": "TheBloke/Mistral-7B-Instruct-AWQ"},
        {"name": TESTING, "backend": "vllm", "family": "testzzz-tiny", "hf_id": "acme/testzzz-tiny"},
    ]


@pytest.fixture
def registry(isolated: Path) -> Path:
    write_layers(isolated, curated=[], discovered=entries())
    return isolated


def apply(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    result = cli(capsys, "apply-simple-slugs", "--json", *flags)
    assert result.code == 0, result.err
    data: dict[str, Any] = result.json()
    return data


def slugs(data: dict[str, Any]) -> dict[str, str | None]:
    """Variant -> the slug it gets, or None when it is skipped."""
    return {i["name"]: None if i["action"] == "skip" else i["slug"] for i in data["items"]}


def test_preview_shows_proposals_and_collisions(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(registry)
    result = cli(capsys, "preview-simple-slugs", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["collisions"] == {"llama3-8b-q4_k_m": [LLAMA_CPP, LLAMA_OLLAMA], "qwen2-7b": [QWEN_AWQ, QWEN_GPTQ]}
    by_name = {i["name"]: i for i in data["items"]}
    assert (by_name[MISTRAL]["base_slug"], by_name[MISTRAL]["display_name"]) == ("mistral-7b-instruct", "mistral 7b instruct")
    assert by_name[LLAMA_OLLAMA]["display_name"] == "llama3 8b (Q4 K M)"
    assert TESTING not in by_name  # testing entries are only touched with --tests-only
    assert snapshot(registry) == before
    text = cli(capsys, "preview-simple-slugs")
    assert "'qwen2-7b' is proposed for" in text.err and MISTRAL in text.out


def test_preview_include_flags_choose_the_groups(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ollama = cli(capsys, "preview-simple-slugs", "--include-ollama", "--json").json()
    assert [i["name"] for i in ollama["items"]] == [LLAMA_OLLAMA]
    hf = cli(capsys, "preview-simple-slugs", "--include-hf", "--json").json()
    assert {i["name"] for i in hf["items"]} == {LLAMA_CPP, QWEN_AWQ, QWEN_GPTQ, MISTRAL}
    both = cli(capsys, "preview-simple-slugs", "--include-hf", "--include-ollama", "--json").json()
    assert len(both["items"]) == 5


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("backend", {LLAMA_OLLAMA: "llama3-8b-q4_k_m-ollama", LLAMA_CPP: "llama3-8b-q4_k_m-llamacpp",
                     QWEN_AWQ: None, QWEN_GPTQ: None}),
        ("format", {LLAMA_OLLAMA: None, LLAMA_CPP: None, QWEN_AWQ: "qwen2-7b-awq", QWEN_GPTQ: "qwen2-7b-gptq"}),
        ("producer", {LLAMA_OLLAMA: "llama3-8b-q4_k_m-ollama", LLAMA_CPP: "llama3-8b-q4_k_m-bartowski",
                      QWEN_AWQ: None, QWEN_GPTQ: None}),
        ("index", {LLAMA_CPP: "llama3-8b-q4_k_m", LLAMA_OLLAMA: "llama3-8b-q4_k_m-2",
                   QWEN_AWQ: "qwen2-7b", QWEN_GPTQ: "qwen2-7b-2"}),
        ("none", {LLAMA_OLLAMA: None, LLAMA_CPP: None, QWEN_AWQ: None, QWEN_GPTQ: None}),
    ],
)
def test_each_strategy_on_real_collisions(
    registry: Path, capsys: pytest.CaptureFixture[str], strategy: str, expected: dict[str, str | None]
) -> None:
    data = apply(capsys, "--disambiguate", strategy, "--apply")
    got = slugs(data)
    assert {name: got[name] for name in expected} == expected
    assert got[MISTRAL] == "mistral-7b-instruct"  # no collision, no suffix
    assert sorted(data["unresolved"]) == sorted(n for n, s in expected.items() if s is None)
    merged = layer(registry, "merged")
    for name, slug in expected.items():
        if slug is None:
            assert "slug" not in merged[name]  # skipped entries are left as they were
        else:
            assert merged[name]["slug"] == slug
    final = [e["slug"] for e in merged.values() if e.get("slug")]
    assert len(final) == len(set(final))  # no strategy leaves two entries on one slug
    if strategy == "backend":
        assert merged[LLAMA_OLLAMA]["display_name"] == "llama3 8b (Q4 K M) [ollama]"
    if strategy == "index":
        assert merged[LLAMA_OLLAMA]["display_name"] == "llama3 8b (Q4 K M) #2"


def test_no_skip_on_collision_fails_and_writes_nothing(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(registry)
    result = cli(capsys, "apply-simple-slugs", "--disambiguate", "backend", "--no-skip-on-collision", "--apply")
    assert result.code == 1
    assert result.err.count("\n") == 1 and "2 simple slug collision(s) left by --disambiguate backend" in result.err
    assert QWEN_AWQ in result.err and "nothing written" in result.err
    assert snapshot(registry) == before and backups(registry) == []
    ok = cli(capsys, "apply-simple-slugs", "--disambiguate", "index", "--no-skip-on-collision", "--apply")
    assert ok.code == 0, ok.err  # a strategy that resolves every collision passes


def test_an_outsider_holding_the_slug_counts(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_registry().update(LLAMA_CPP, lambda _: {"slug": "llama3-8b-q4_k_m"})
    data = apply(capsys, "--include-ollama", "--apply")
    assert slugs(data) == {LLAMA_OLLAMA: "llama3-8b-q4_k_m-ollama"}
    index = apply(capsys, "--include-ollama", "--disambiguate", "index")
    assert slugs(index) == {LLAMA_OLLAMA: "llama3-8b-q4_k_m-2"}  # the plain slug is taken: numbering starts at 2


def test_apply_is_a_dry_run_by_default_and_reports_what_apply_does(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(registry)
    dry = apply(capsys, "--rename-slugs")
    assert dry["applied"] is False and snapshot(registry) == before
    real = apply(capsys, "--rename-slugs", "--apply")
    assert real["items"] == dry["items"] and real["counts"] == dry["counts"]
    assert real["applied"] is True and real["backup"] == str(backups(registry)[0])


def test_applying_twice_changes_nothing(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apply(capsys, "--disambiguate", "index", "--apply")
    after = snapshot(registry)
    again = apply(capsys, "--disambiguate", "index", "--apply")
    assert again["counts"]["update"] == 0 and again["counts"]["unchanged"] == 5
    assert snapshot(registry) == after


def test_rename_slugs_moves_the_key_and_keeps_the_old_name(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = apply(capsys, "--rename-slugs", "--apply")
    assert {i["name"]: i["new_name"] for i in data["items"] if i["action"] == "rename"} == {
        LLAMA_OLLAMA: "llama3-8b-q4_k_m-ollama", LLAMA_CPP: "llama3-8b-q4_k_m-llamacpp", MISTRAL: "mistral-7b-instruct",
    }
    merged = layer(registry, "merged")
    moved = merged["mistral-7b-instruct"]
    assert MISTRAL not in merged and moved["model_aliases"] == [MISTRAL] and moved["hf_id"] == "TheBloke/Mistral-7B-Instruct-AWQ"
    assert open_registry().get(MISTRAL).name == "mistral-7b-instruct"  # the old key still finds it
    assert QWEN_AWQ in merged  # skipped: keeps its name


def test_display_only_never_renames(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apply(capsys, "--display-only", "--apply")
    assert {e["name"] for e in entries()} == set(layer(registry, "merged"))


def test_a_rename_onto_a_name_in_use_is_a_collision(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = {"name": "mistral-7b-instruct", "backend": "vllm", "family": "other", "deprecated": True}
    write_layers(isolated, curated=[], discovered=[*entries(), taken])
    data = apply(capsys, "--rename-slugs", "--apply")
    assert sorted(data["unresolved"]) == [MISTRAL, QWEN_AWQ, QWEN_GPTQ]
    item = next(i for i in data["items"] if i["name"] == MISTRAL)
    assert item["action"] == "skip" and item["collides_with"] == ["mistral-7b-instruct"]
    assert MISTRAL in layer(isolated, "merged") and layer(isolated, "merged")["mistral-7b-instruct"]["family"] == "other"


def test_curated_names_and_display_names_are_kept(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    curated = [{"name": MISTRAL, "display_name": "Mistral 7B Instruct (AWQ)", "roles": ["chat"]}]
    write_layers(isolated, curated=curated, discovered=entries())
    curated_before = (isolated / "registry" / "model_registry.curated.json").read_bytes()
    data = apply(capsys, "--rename-slugs", "--apply")
    item = next(i for i in data["items"] if i["name"] == MISTRAL)
    assert item["action"] == "update" and "not renamed (curated" in item["reason"]
    merged = layer(isolated, "merged")[MISTRAL]
    assert merged["display_name"] == "Mistral 7B Instruct (AWQ)" and merged["slug"] == "mistral-7b-instruct"
    assert (isolated / "registry" / "model_registry.curated.json").read_bytes() == curated_before


def test_tests_only_touches_testing_entries_and_nothing_else(registry: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    data = apply(capsys, "--tests-only", "--apply")
    assert [i["name"] for i in data["items"]] == [TESTING]
    merged = layer(registry, "merged")
    assert merged[TESTING]["slug"] == "testzzz-tiny"
    assert all("slug" not in e for n, e in merged.items() if n != TESTING)
    monkeypatch.setenv("IMAGEWORKS_TEST_MODEL_PATTERNS", "qwen2")  # extends the testing patterns (guide 15)
    names = {i["name"] for i in apply(capsys, "--tests-only")["items"]}
    assert names == {QWEN_AWQ, QWEN_GPTQ, TESTING}


@pytest.mark.parametrize("command", [["preview-simple-slugs"], ["apply-simple-slugs", "--apply"]])
def test_a_damaged_layer_stops_before_any_write(registry: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    path = registry / "registry" / "model_registry.discovered.json"
    path.write_text(path.read_text().replace("}", "", 1))
    before = snapshot(registry)
    result = cli(capsys, *command)
    assert result.code == 1 and result.err.startswith("Error: registry file") and result.err.count("\n") == 1
    assert snapshot(registry) == before


def test_an_unknown_strategy_is_one_line(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "apply-simple-slugs", "--disambiguate", "random")
    assert result.code == 1 and result.err.startswith("Error: ") and result.err.count("\n") == 1
