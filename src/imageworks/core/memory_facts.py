"""The facts a GPU memory estimate is made from: what header readers and sources return.

Value types only. :mod:`imageworks.services.memory.estimate` turns them into figures
(weights, KV cache, the largest context that fits); sources put :class:`HeaderFacts` into
their :class:`~imageworks.core.plans.SourceAnalysis`.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

#: The cache types each kind of engine offers: llama.cpp's ``--cache-type-k/-v`` for GGUF,
#: vLLM's ``--kv-cache-dtype auto|fp8`` for safetensors (auto = the 16-bit model dtype).
GGUF_CACHE_TYPES = ("f16", "q8_0", "q4_0")
SAFETENSORS_CACHE_TYPES = ("f16", "fp8")


@attrs.frozen(kw_only=True)
class LayerAttention:
    """What one layer caches per token: its KV heads and their key/value lengths."""

    kv_heads: int
    key_length: int
    value_length: int
    sliding: bool = False


@attrs.frozen(kw_only=True)
class ModelFacts:
    """The header facts an estimate needs; ``layers`` empty when there is no KV cache
    (``no_kv_reason`` says why: an encoder, a recurrent model, missing keys)."""

    source: str  # "gguf" or "config.json"
    architecture: str | None
    weight_bytes: int
    context_length: int | None
    layers: tuple[LayerAttention, ...] = ()
    sliding_window: int | None = None
    cache_types: tuple[str, ...] = GGUF_CACHE_TYPES
    no_kv_reason: str | None = None
    #: Widths the compute and output buffers grow with (None when the header does not say).
    embedding_length: int | None = None
    feed_forward_length: int | None = None
    vocab_size: int | None = None
    head_count: int | None = None

    @property
    def query_width(self) -> int:
        """Query elements a token: attention heads times the key length (0 when unknown)."""
        return (self.head_count or 0) * (self.layers[0].key_length if self.layers else 0)

    @property
    def sliding_layers(self) -> int:
        """How many layers use the sliding window."""
        return sum(1 for layer in self.layers if layer.sliding)


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)  # a typed ``converter=tuple``: mypy's attrs plugin cannot solve the generic one


@attrs.frozen(kw_only=True)
class HeaderFacts:
    """The facts of one model's files (a GGUF quant with its split parts, or a config.json
    with its safetensors), or the reason there are none (``problem``: a damaged header, a
    file the server refused)."""

    label: str
    files: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    facts: ModelFacts | None = None
    problem: str | None = None
