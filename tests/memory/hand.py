"""Figures for the Gemma 3 270M GGUF computed by hand from the values ``gguf.GGUFReader``
(the gguf package's own reader) finds in its header, to check the estimate against
wherever it is shown (analyze, list)."""

from __future__ import annotations

from pathlib import Path

import attrs
import gguf

GiB = 1024**3


def pad256(n: int) -> int:
    return -(-n // 256) * 256


@attrs.frozen
class GemmaByHand:
    """The header's facts and the formulas of docs/memory.md applied to them."""

    weight_bytes: int
    data_offset: int
    n_layers: int
    full_layers: int
    window: int
    n_ctx: int
    f16_token_layer: int  # bytes one token costs in one layer, keys plus values
    q8_token_layer: int

    @classmethod
    def read(cls, path: Path) -> GemmaByHand:
        theirs = gguf.GGUFReader(path)

        def value(key: str):
            return theirs.fields[key].contents()

        arch = value("general.architecture")
        n_layers, kv_heads = value(f"{arch}.block_count"), value(f"{arch}.attention.head_count_kv")
        k_len, v_len = value(f"{arch}.attention.key_length"), value(f"{arch}.attention.value_length")
        return cls(
            weight_bytes=sum(int(t.n_bytes) for t in theirs.tensors),
            data_offset=theirs.data_offset,
            n_layers=n_layers,
            full_layers=sum(1 for il in range(n_layers) if il % 6 == 5),  # llama.cpp's set_swa_pattern(6)
            window=value(f"{arch}.attention.sliding_window"),
            n_ctx=value(f"{arch}.context_length"),
            f16_token_layer=kv_heads * (k_len + v_len) * 2,
            q8_token_layer=kv_heads * (k_len + v_len) // 32 * 34,
        )

    def kv(self, n_ctx: int, per_token_layer: int) -> int:
        """The cache at ``n_ctx``: full layers hold every token, sliding ones window + 512, padded."""
        swa = self.n_layers - self.full_layers
        return (self.full_layers * n_ctx + swa * pad256(min(n_ctx, self.window + 512))) * per_token_layer

    def margin(self, gpu: int) -> int:
        return GiB + int(gpu * 0.10)

    def max_context(self, gpu: int, per_token_layer: int) -> int:
        """The largest multiple of 256 (or the model's context) that fits, by counting up."""
        budget = gpu - self.margin(gpu) - self.weight_bytes
        if budget <= 0:
            return 0
        if self.kv(self.n_ctx, per_token_layer) <= budget:
            return self.n_ctx
        best = 0
        while self.kv(best + 256, per_token_layer) <= budget:
            best += 256
        return best
