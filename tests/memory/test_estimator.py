"""The pure estimator: cache-type sizes, llama.cpp's SWA layout and cache size, the fitted
context at its boundary, size parsing, and GGUF key handling on synthetic headers."""

from __future__ import annotations

import pytest

from imageworks.core.errors import ImageworksError
from imageworks.services.memory.estimate import (
    CACHE_TYPES,
    CONTEXT_STEP,
    GiB,
    LayerAttention,
    Margin,
    MiB,
    ModelFacts,
    estimate,
    facts_from_gguf,
    fit_context,
    kv_bytes,
    kv_bytes_per_1k,
    parse_size,
    swa_cells,
    swa_pattern,
)


def llama_like(n_layers: int = 32, kv_heads: int = 8, head_dim: int = 128, weights: int = 8 * GiB,
               context: int | None = 8192) -> ModelFacts:
    layer = LayerAttention(kv_heads=kv_heads, key_length=head_dim, value_length=head_dim)
    return ModelFacts(source="gguf", architecture="llama", weight_bytes=weights, context_length=context,
                      layers=(layer,) * n_layers)


def test_cache_type_row_sizes_are_ggml_block_sizes():
    """f16 is 2 bytes an element; q8_0 34 bytes per 32; q4_0 18 per 32 (ggml's type traits)."""
    assert CACHE_TYPES["f16"].row_bytes(1024) == 2048
    assert CACHE_TYPES["q8_0"].row_bytes(1024) == 1024 // 32 * 34
    assert CACHE_TYPES["q4_0"].row_bytes(1024) == 1024 // 32 * 18
    assert CACHE_TYPES["q8_0"].row_bytes(33) == 2 * 34  # partial block: a whole block


def test_llama3_8b_kv_per_1k_is_the_textbook_figure():
    """32 layers x 8 KV heads x 128 x 2 (K and V) x 2 bytes = 128 KiB a token at f16."""
    facts = llama_like()
    assert kv_bytes_per_1k(facts, "f16").total == 32 * 8 * 128 * 2 * 2 * 1024 == 128 * MiB
    assert kv_bytes_per_1k(facts, "q8_0").total == 32 * 2 * (8 * 128 // 32 * 34) * 1024


def test_swa_pattern_marks_every_nth_layer_full_as_llama_cpp():
    """set_swa_pattern(6): layers 5, 11, 17 are full attention (il % 6 == 5), the rest slide."""
    pattern = swa_pattern(18, 6)
    assert [i for i, sliding in enumerate(pattern) if not sliding] == [5, 11, 17]
    assert all(swa_pattern(4, 0))
    assert not any(swa_pattern(4, 1))


def test_swa_cache_holds_window_plus_ubatch_padded_to_256():
    assert swa_cells(512, 32768) == 1024
    assert swa_cells(4096, 32768) == 4608
    assert swa_cells(512, 300) == 512  # a short context: min(n_ctx, ...) then the 256 pad
    assert swa_cells(1000, 32768) == 1536


@pytest.mark.parametrize("gpu", ["12GiB", "16GiB", "24GiB"])
@pytest.mark.parametrize("cache", ["f16", "q8_0", "q4_0"])
def test_fitted_context_is_the_boundary(gpu: str, cache: str):
    """The fitted context fits; 256 tokens more would not (or the model's length is the cap)."""
    facts = llama_like(context=131072)
    gpu_bytes = parse_size(gpu)
    fit = fit_context(facts, gpu_bytes, cache)
    budget = gpu_bytes - Margin().of(gpu_bytes) - facts.weight_bytes
    assert fit.max_context % CONTEXT_STEP == 0 and fit.max_context > 0
    assert kv_bytes(facts, fit.max_context, cache).total == fit.kv_bytes <= budget
    if fit.capped_by_model:
        assert fit.max_context == 131072
    else:
        assert kv_bytes(facts, fit.max_context + CONTEXT_STEP, cache).total > budget


def test_llama3_8b_on_24gib_by_hand():
    """24 GiB - (1 GiB + 2.4 GiB) - 8 GiB weights = 12.6 GiB of f16 cache at 128 KiB a token."""
    fit = fit_context(llama_like(context=131072), 24 * GiB, "f16")
    budget = 24 * GiB - GiB - int(24 * GiB * 0.10) - 8 * GiB
    assert fit.max_context == budget // (128 * 1024) // 256 * 256
    assert not fit.capped_by_model


def test_weights_that_do_not_fit_give_no_context():
    fit = fit_context(llama_like(weights=20 * GiB), 16 * GiB)
    assert (fit.max_context, fit.fits) == (0, False)


def test_small_model_is_capped_at_its_context_length():
    fit = fit_context(llama_like(n_layers=2, weights=MiB, context=4000), 24 * GiB)
    assert (fit.max_context, fit.capped_by_model) == (4000, True)


def test_sliding_layers_make_long_contexts_cheaper():
    full = llama_like(context=131072)
    sliding = ModelFacts(
        source="gguf", architecture="gemma3", weight_bytes=8 * GiB, context_length=131072,
        layers=tuple(LayerAttention(kv_heads=8, key_length=128, value_length=128, sliding=s) for s in swa_pattern(32, 6)),
        sliding_window=1024,
    )
    assert kv_bytes(sliding, 65536).total < kv_bytes(full, 65536).total
    assert fit_context(sliding, 24 * GiB).max_context > fit_context(full, 24 * GiB).max_context


@pytest.mark.parametrize(("text", "expected"), [
    ("24GiB", 24 * GiB), ("24G", 24 * GiB), ("24 GB", 24 * GiB), ("16384MiB", 16 * GiB), ("1.5GiB", int(1.5 * GiB)),
    ("1073741824", GiB), ("24gib", 24 * GiB),
])
def test_parse_size(text: str, expected: int):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "24XB", "-1GiB", "0", "GiB", "24iB"])
def test_parse_size_refuses_nonsense(text: str):
    with pytest.raises(ImageworksError):
        parse_size(text)


def test_gguf_keys_key_value_lengths_differ_and_per_layer_kv_heads():
    """K and V are counted apart; a per-layer head_count_kv array is honoured, 0 = no cache."""
    fields = {"general.architecture": "llama", "llama.block_count": 3, "llama.attention.head_count": 8,
              "llama.embedding_length": 1024, "llama.attention.key_length": 192,
              "llama.attention.value_length": 128, "llama.context_length": 4096}
    facts = facts_from_gguf(fields, {"llama.attention.head_count_kv": (2, 0, 4)}, 0)
    per_1k = kv_bytes_per_1k(facts, "f16")
    assert per_1k.key == (2 + 0 + 4) * 192 * 2 * 1024
    assert per_1k.value == (2 + 0 + 4) * 128 * 2 * 1024


def test_gguf_without_head_count_kv_is_multi_head_and_head_dim_from_embedding():
    fields = {"general.architecture": "gpt2", "gpt2.block_count": 12, "gpt2.attention.head_count": 12,
              "gpt2.embedding_length": 768, "gpt2.context_length": 1024}
    facts = facts_from_gguf(fields, {}, 0)
    assert facts.layers[0] == LayerAttention(kv_heads=12, key_length=64, value_length=64)
    assert facts.sliding_window is None


def test_gguf_pattern_key_overrides_the_architecture_default():
    fields = {"general.architecture": "gemma3", "gemma3.block_count": 8, "gemma3.attention.head_count": 4,
              "gemma3.embedding_length": 640, "gemma3.attention.sliding_window": 512,
              "gemma3.attention.sliding_window_pattern": 4}
    assert [layer.sliding for layer in facts_from_gguf(fields, {}, 0).layers] == list(swa_pattern(8, 4))
    flags = (True, False) * 4
    del fields["gemma3.attention.sliding_window_pattern"]
    by_flags = facts_from_gguf(fields, {"gemma3.attention.sliding_window_pattern": flags}, 0)
    assert tuple(layer.sliding for layer in by_flags.layers) == flags


def test_encoder_and_recurrent_ggufs_have_no_kv_cache():
    bert = facts_from_gguf({"general.architecture": "bert", "bert.attention.causal": False, "bert.context_length": 512}, {}, 10)
    mamba = facts_from_gguf({"general.architecture": "mamba", "mamba.block_count": 4}, {}, 10)
    assert bert.layers == () and "encoder" in (bert.no_kv_reason or "")
    assert mamba.layers == () and "recurrent" in (mamba.no_kv_reason or "")
    fit = estimate(bert, 8 * GiB).fits[0]
    assert (fit.max_context, fit.kv_bytes) == (512, 0)
