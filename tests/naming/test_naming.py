"""Variant naming per guide 4.2 and 6.3, with the guide's own examples."""

from __future__ import annotations

import pytest

from imageworks.core.naming import (
    display_name,
    family_from_repo,
    normalize_name,
    ollama_family_and_quant,
    slug,
    split_quant,
    variant_name,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Q6_K", "q6_k"),  # guide 6.3: underscores inside quant tokens survive
        ("Meta_Llama 3/8B", "meta-llama-3-8b"),
        ("Llama-3-8B-Instruct-Q6_K", "llama-3-8b-instruct-q6_k"),
        ("repo@dev", "repo-dev"),
        ("a  --  b", "a-b"),
        ("IQ2_XS", "iq2_xs"),
        ("UD-Q4_K_XL", "ud-q4_k_xl"),
        ("model_q4_0", "model-q4_0"),
    ],
)
def test_normalize_name(text: str, expected: str) -> None:
    assert normalize_name(text) == expected


def test_family_keeps_branch() -> None:
    assert family_from_repo("owner/Repo", "dev") == "repo-dev"
    assert family_from_repo("liuhaotian/llava-v1.5-13b") == "llava-v1.5-13b"


def test_variant_name_parts_and_redundancy() -> None:
    assert variant_name("mistral-7b-instruct", "vllm", "awq", "awq") == "mistral-7b-instruct-vllm-awq"
    assert variant_name("qwen2.5-7b-instruct", "ollama", "gguf", "Q4_K_M") == "qwen2.5-7b-instruct-ollama-gguf-q4_k_m"
    assert variant_name("llava", "vllm", None, None) == "llava-vllm"
    assert variant_name("model", "gguf", "gguf", "q8_0") == "model-gguf-q8_0"  # format said by backend
    assert variant_name("mistral-7b-awq", "vllm", "awq", "w4g128") == "mistral-7b-vllm-awq-w4g128"
    assert variant_name("gemma-3-270m-q4_k_m-gguf", "gguf", "gguf", "q4_k_m") == "gemma-3-270m-gguf-q4_k_m"
    assert variant_name("qwen-gptq-int4", "vllm", "gptq", "w4g128") == "qwen-gptq-int4-vllm-w4g128"  # inner tokens stay


def test_display_name_and_slug_from_guide() -> None:
    assert display_name("llama-12.2b", "q4_k_m") == "llama 12.2b (Q4 K M)"
    assert slug("llama-12.2b", "Q4_K_M") == "llama-12.2b-q4_k_m"
    assert display_name("llama-12.2b-q4_k_m", "q4_k_m") == "llama 12.2b (Q4 K M)"
    assert display_name("gemma-3-270m-q4_k_m-gguf", "q4_k_m", "gguf") == "gemma 3 270m (Q4 K M)"


@pytest.mark.parametrize(
    ("model", "family", "quant"),
    [
        ("qwen2.5:7b-instruct-q4_K_M", "qwen2.5-7b-instruct", "q4_k_m"),
        ("llama3:latest", "llama3", None),
        ("llama:12.2b-q4_K_M", "llama-12.2b", "q4_k_m"),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q6_K", "llama-3.2-1b-instruct-gguf", "q6_k"),
        ("someuser/llama3:8b", "someuser-llama3-8b", None),
        ("registry.ollama.ai/someuser/llama3:8b", "someuser-llama3-8b", None),
        ("library/llama3:8b", "llama3-8b", None),
        ("localhost:5000/team/tiny:1b-q4_K_M", "team-tiny-1b", "q4_k_m"),
    ],
)
def test_ollama_strategy_a(model: str, family: str, quant: str | None) -> None:
    assert ollama_family_and_quant(model) == (family, quant)
    name = variant_name(family, "ollama", "gguf", quant)
    assert name.startswith(f"{family.removesuffix('-gguf')}-ollama-gguf")
    assert quant is None or name.endswith(quant)


def test_split_quant_takes_last_token() -> None:
    assert split_quant("gemma-3-270m-Q4_K_M-GGUF") == ("gemma-3-270m-GGUF", "q4_k_m")
    assert split_quant("plain-name") == ("plain-name", None)
