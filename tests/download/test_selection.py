"""Choosing files from a repository listing (guide 6.1, 7.1): pure logic, real-shaped lists."""

from __future__ import annotations

import pytest

from imageworks.core.errors import ImageworksError
from imageworks.providers.huggingface.metadata import RepoFile, RepoSnapshot
from imageworks.providers.huggingface.selection import choose_files

GB = 1024**3


def snapshot(*files: tuple[str, int]) -> RepoSnapshot:
    return RepoSnapshot(
        repo_id="acme/model",
        revision=None,
        commit="0" * 40,
        files=tuple(RepoFile(path=p, size=s, sha256=("a" * 64 if s > 10_000_000 else None)) for p, s in files),
    )


# Shaped like TheBloke/Llama-2-7B-Chat-GPTQ-era repos that carry both .bin and .safetensors.
DUAL = snapshot(
    ("config.json", 600), ("generation_config.json", 200), ("tokenizer.json", 1_800_000), ("tokenizer.model", 500_000),
    ("tokenizer_config.json", 700), ("special_tokens_map.json", 400), ("README.md", 9000), ("LICENSE.txt", 7000),
    (".gitattributes", 1500),
    ("model-00001-of-00002.safetensors", 5 * GB), ("model-00002-of-00002.safetensors", 2 * GB),
    ("model.safetensors.index.json", 26_000),
    ("pytorch_model-00001-of-00002.bin", 5 * GB), ("pytorch_model-00002-of-00002.bin", 2 * GB),
    ("pytorch_model.bin.index.json", 26_000),
    ("training_args.bin", 4000), ("onnx/model.onnx", 3 * GB), ("assets/diagram.png", 200_000),
)

# Shaped like bartowski/unsloth GGUF repos: many quants, one split, a vision projector.
GGUF = snapshot(
    ("README.md", 12_000), (".gitattributes", 3000),
    ("Model-Q4_K_M.gguf", 4 * GB), ("Model-Q8_0.gguf", 8 * GB), ("Model-IQ2_XS.gguf", 2 * GB),
    ("Model-F16-00001-of-00002.gguf", 8 * GB), ("Model-F16-00002-of-00002.gguf", 7 * GB),
    ("mmproj-Model-f16.gguf", 600_000_000),
)


def paths(selection) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.path for f in selection.files}


def test_one_format_safetensors_preferred_with_its_index_and_configs() -> None:
    chosen = choose_files(DUAL)
    assert chosen.weight_format == "safetensors"
    assert {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"} <= paths(chosen)
    assert {"config.json", "tokenizer.model", "tokenizer_config.json", "README.md", "LICENSE.txt"} <= paths(chosen)
    assert not any(p.endswith(".bin") or p.endswith("bin.index.json") for p in paths(chosen))
    assert {"training_args.bin", "onnx/model.onnx", "assets/diagram.png"} <= set(chosen.skipped)


def test_format_hint_picks_the_container() -> None:
    chosen = choose_files(DUAL, format_hint="pytorch")
    assert chosen.weight_format == "pytorch" and "pytorch_model.bin.index.json" in paths(chosen)
    assert not any(p.endswith(".safetensors") for p in paths(chosen))
    assert choose_files(DUAL, format_hint="awq").weight_format == "safetensors"
    with pytest.raises(ImageworksError, match="has no gguf weights"):
        choose_files(DUAL, format_hint="gguf")
    with pytest.raises(ImageworksError, match="unknown format"):
        choose_files(DUAL, format_hint="zip")


def test_include_optional_adds_extras() -> None:
    chosen = choose_files(DUAL, include_optional=True)
    assert {"training_args.bin", "assets/diagram.png", "onnx/model.onnx"} <= paths(chosen)
    assert chosen.weight_format == "safetensors"  # the extras do not change the chosen format
    assert not {p for p in paths(chosen) if p.startswith("pytorch_model")}
    plain = choose_files(DUAL)
    assert not {"training_args.bin", "assets/diagram.png", "onnx/model.onnx"} & paths(plain)


def test_weights_flag_takes_exactly_those_shards() -> None:
    chosen = choose_files(DUAL, weights=["model-00002-of-00002.safetensors"])
    weights = {p for p in paths(chosen) if p.endswith(".safetensors")}
    assert weights == {"model-00002-of-00002.safetensors"} and "config.json" in paths(chosen)
    with pytest.raises(ImageworksError, match="closest: model-00002-of-00002.safetensors"):
        choose_files(DUAL, weights=["model-00002-of-0002.safetensors"])


def test_gguf_non_interactive_takes_the_preferred_quant_and_projector() -> None:
    chosen = choose_files(GGUF)
    assert chosen.gguf_quant == "q4_k_m"
    assert paths(chosen) == {"README.md", ".gitattributes", "Model-Q4_K_M.gguf", "mmproj-Model-f16.gguf"}


def test_gguf_choice_and_split_parts_travel_together() -> None:
    offered: list[list[str]] = []

    def ask(quants: list[str]) -> str:
        offered.append(quants)
        return "f16"

    chosen = choose_files(GGUF, choose_quant=ask)
    assert offered == [["f16", "iq2_xs", "q4_k_m", "q8_0"]]
    assert {"Model-F16-00001-of-00002.gguf", "Model-F16-00002-of-00002.gguf"} <= paths(chosen)
    assert "Model-Q4_K_M.gguf" not in paths(chosen)
    with pytest.raises(ImageworksError, match="no quantisation"):
        choose_files(GGUF, choose_quant=lambda quants: "q3_k_s")


def test_preferred_formats_order_decides_between_gguf_and_tensors() -> None:
    both = snapshot(("config.json", 500), ("model.safetensors", 3 * GB), ("model-Q4_K_M.gguf", GB))
    assert choose_files(both, preferred_formats=("gguf", "safetensors")).weight_format == "gguf"
    assert choose_files(both, preferred_formats=("awq", "safetensors", "gguf")).weight_format == "safetensors"
