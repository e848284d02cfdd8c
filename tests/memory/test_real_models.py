"""The estimate on real models: the Gemma 3 270M GGUF checked against a hand computation
from the values ``gguf.GGUFReader`` (the gguf package's own reader) finds in its header,
the real MiniLM snapshot, and real config.json files (tests/data/configs/SOURCES.md)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from imageworks.core.detection import list_model_files
from imageworks.formats.gguf_reader import read_header
from imageworks.services.memory.estimate import (
    GiB,
    MiB,
    estimate,
    facts_from_config,
    fit_context,
    kv_bytes,
    kv_bytes_per_1k,
)
from imageworks.services.memory.local_facts import local_facts
from tests.memory.hand import GemmaByHand, pad256

CONFIGS = Path(__file__).parent.parent / "data" / "configs"


@pytest.mark.large
def test_gemma_gguf_matches_a_hand_computation_from_gguf_readers_values(gemma_gguf: Path):
    hand = GemmaByHand.read(gemma_gguf)
    assert (hand.n_layers, hand.full_layers, hand.window, hand.n_ctx) == (18, 3, 512, 32768)
    assert (hand.f16_token_layer, hand.q8_token_layer) == (1 * (256 + 256) * 2, (256 + 256) // 32 * 34)
    n_ctx, swa_layers = hand.n_ctx, hand.n_layers - hand.full_layers

    facts = local_facts(gemma_gguf.parent, [gemma_gguf.name])
    assert facts is not None
    assert facts.weight_bytes == hand.weight_bytes
    assert read_header(gemma_gguf).data_offset == hand.data_offset
    assert (facts.context_length, facts.sliding_window, facts.sliding_layers) == (n_ctx, hand.window, swa_layers)
    assert kv_bytes_per_1k(facts, "f16").total == hand.n_layers * hand.f16_token_layer * 1024 == 18 * MiB
    assert kv_bytes_per_1k(facts, "q8_0").total == hand.n_layers * hand.q8_token_layer * 1024
    assert kv_bytes(facts, n_ctx, "f16").total == hand.kv(n_ctx, hand.f16_token_layer)
    assert kv_bytes(facts, n_ctx, "q8_0").total == hand.kv(n_ctx, hand.q8_token_layer)
    assert kv_bytes(facts, n_ctx, "f16").total == 111 * MiB  # 96 MiB for 3 full layers + 15 MiB for 15 windows
    # 235 MiB of weights: 1 GiB leaves nothing after the margin; 2 GiB holds the whole 32k context.
    assert fit_context(facts, GiB).max_context == 0
    two = fit_context(facts, 2 * GiB)
    assert (two.max_context, two.capped_by_model) == (32768, True)


@pytest.mark.large
def test_minilm_weights_from_safetensors_header_and_no_kv_cache(minilm_dir: Path):
    """An encoder: the weights are the data bytes of model.safetensors, and no KV cache."""
    facts = local_facts(minilm_dir, list_model_files(minilm_dir))
    assert facts is not None
    weights_file = minilm_dir / "model.safetensors"
    with weights_file.open("rb") as handle:
        (header_length,) = struct.unpack("<Q", handle.read(8))
    assert facts.weight_bytes == weights_file.stat().st_size - 8 - header_length
    config = json.loads((minilm_dir / "config.json").read_text())
    assert (facts.architecture, facts.context_length) == ("bert", config["max_position_embeddings"])
    assert facts.layers == () and "encoder" in (facts.no_kv_reason or "")
    assert estimate(facts, 4 * GiB).fits[0].max_context == 512


def load(name: str) -> dict:
    return json.loads((CONFIGS / name).read_text())


def test_llama3_8b_config_is_gqa():
    """32 layers x 8 KV heads x (4096 / 32 = 128) x K and V x 2 bytes = 128 KiB a token."""
    facts = facts_from_config(load("llama3-8b.config.json"), 16 * GiB)
    assert kv_bytes_per_1k(facts, "f16").total == 32 * 8 * 128 * 2 * 2 * 1024
    assert kv_bytes_per_1k(facts, "fp8").total == 32 * 8 * 128 * 2 * 1 * 1024
    assert (facts.context_length, facts.sliding_window) == (8192, None)
    # 8192 tokens = 1 GiB of cache: fits a 24 GiB card beside 16 GiB of bf16 weights.
    fit = fit_context(facts, 24 * GiB)
    assert (fit.max_context, fit.capped_by_model, fit.kv_bytes) == (8192, True, GiB)
    assert fit_context(facts, 16 * GiB).max_context == 0


def test_qwen25_window_switched_off_counts_every_layer():
    facts = facts_from_config(load("qwen2.5-0.5b.config.json"), GiB)
    assert facts.sliding_window is None and facts.sliding_layers == 0
    assert kv_bytes(facts, 32768).total == 24 * 2 * 64 * 2 * 2 * 32768  # head_dim 896 / 14 = 64


def test_mistral_window_on_every_layer():
    facts = facts_from_config(load("mistral-7b-v0.1.config.json"), 14 * GiB)
    assert (facts.sliding_window, facts.sliding_layers) == (4096, 32)
    per_token = 32 * 8 * 128 * 2 * 2
    assert kv_bytes(facts, 32768).total == pad256(4096 + 512) * per_token


def test_gemma3_1b_config_pattern_and_head_dim():
    """head_dim is 256 (not 1152 / 4 = 288); layers 5, 11, 17, 23 are full attention."""
    facts = facts_from_config(load("gemma3-1b-it.config.json"), 2 * GiB)
    assert [il for il, layer in enumerate(facts.layers) if not layer.sliding] == [5, 11, 17, 23]
    per_token = 1 * 256 * 2 * 2
    assert kv_bytes(facts, 32768).total == (4 * 32768 + 22 * pad256(512 + 512)) * per_token


def test_gemma3_4b_multimodal_text_config_with_class_defaults():
    """text_config names only layers, width and window; Gemma3TextConfig's defaults fill in
    8 heads, 4 KV heads, head_dim 256, pattern 6 and a 131072 context."""
    facts = facts_from_config(load("gemma3-4b-it.config.json"), 8 * GiB)
    assert (facts.architecture, facts.context_length, facts.sliding_window) == ("gemma3_text", 131072, 1024)
    assert len(facts.layers) == 34 and facts.sliding_layers == 34 - 5
    per_token = 4 * 256 * 2 * 2
    assert kv_bytes(facts, 131072).total == (5 * 131072 + 29 * pad256(1024 + 512)) * per_token
    as_json = estimate(facts, 24 * GiB).as_json()
    assert as_json["kv_cache"]["f16"]["bytes_per_1k_tokens_all_layers"] == 34 * per_token * 1024
    assert as_json["kv_cache"]["f16"]["bytes_per_1k_tokens"] == 5 * per_token * 1024  # what one more 1k costs
    assert as_json["kv_cache"]["f16"]["bytes_per_1k_tokens_past_window"] == 5 * per_token * 1024
