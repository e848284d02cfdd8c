"""The memory a server will take for one model, as it will actually be started: context,
slots and cache type are inputs, defaulting to what each engine does when told nothing.

Two engines (``docs/memory.md`` gives the formulas and their measured error):

- **llama.cpp** (``llama-server``, GGUF): weights + KV cache + compute buffer + output
  buffer, the four figures its log prints at start-up. Its defaults: context = the
  model's trained length (``-c 0``), 4 slots (``-np -1`` = auto = 4) in one unified KV
  cache, f16 cache, a 512-token micro-batch. The commands this tool writes pin the
  same values (``-c``, ``-np``, ``--kv-unified``, ``-ctk/-ctv``), so the estimate
  describes the server that runs.
- **vLLM** (safetensors): weights + the KV cache of ``slots`` sequences of ``context``
  tokens each (sliding-window layers hold at most ``window + max_num_batched_tokens``
  tokens a sequence, in 16-token blocks). Its default: the model's length and one
  sequence, the minimum ``vllm serve`` checks at start (it then takes 90% of the GPU
  for KV blocks anyway, ``--gpu-memory-utilization``); activations are not modelled.
"""

from __future__ import annotations

from typing import Any

import attrs

from imageworks.core.memory_facts import ModelFacts
from imageworks.services.memory.estimate import (
    CACHE_TYPES,
    CONTEXT_STEP,
    N_UBATCH,
    kv_bytes,
    swa_cells,
)

F32 = 4
#: llama-server's defaults when told nothing (build 10434): -np -1 means 4 slots, unified.
LLAMA_CPP_DEFAULT_SLOTS = 4
#: vLLM: one sequence of max_model_len must fit (its start-up check); its chunked prefill batch.
VLLM_DEFAULT_SLOTS = 1
VLLM_BATCHED_TOKENS = 2048
VLLM_BLOCK = 16
#: q8_0 bytes per element: llama.cpp converts the queries to q8_0 to dot them with a quantized K cache.
Q8_0_BYTES_PER_ELEMENT = 34 / 32


@attrs.frozen(kw_only=True)
class ServingPlan:
    """What a server is told: context (tokens, all slots share it), slots, cache type."""

    engine: str  # "llama.cpp" or "vllm"
    context: int
    slots: int
    cache: str
    defaulted: tuple[str, ...] = ()  # which of context/slots/cache came from the engine's defaults

    def as_json(self) -> dict[str, Any]:
        """The inputs, as ``list --json`` shows them beside ``total_bytes``."""
        return {"engine": self.engine, "context": self.context, "parallel": self.slots, "cache_type": self.cache,
                "defaulted": list(self.defaulted)}


@attrs.frozen(kw_only=True)
class Footprint:
    """The memory of one server: the four parts llama.cpp logs (compute 0 where not modelled)."""

    plan: ServingPlan
    weight_bytes: int
    kv_bytes: int
    compute_bytes: int
    output_bytes: int

    @property
    def total_bytes(self) -> int:
        """Weights + KV cache + compute + output."""
        return self.weight_bytes + self.kv_bytes + self.compute_bytes + self.output_bytes

    def as_json(self) -> dict[str, Any]:
        """``total_bytes``, its parts and the inputs they were computed for."""
        return {"total_bytes": self.total_bytes, "weight_bytes": self.weight_bytes, "kv_bytes": self.kv_bytes,
                "compute_bytes": self.compute_bytes, "output_bytes": self.output_bytes, **self.plan.as_json()}


def engine_for(facts: ModelFacts) -> str:
    """The engine a model's files go to: llama.cpp for GGUF, vLLM for safetensors."""
    return "llama.cpp" if facts.source == "gguf" else "vllm"


def plan_for(facts: ModelFacts, context: int | None = None, slots: int | None = None, cache: str | None = None) -> ServingPlan:
    """The plan with the user's values where given, the engine's defaults elsewhere.

    Raises ValueError for a cache type the model's engine does not offer.
    """
    engine = engine_for(facts)
    if cache is not None and cache not in facts.cache_types:
        raise ValueError(f"cache type {cache!r} is not one {engine} offers ({', '.join(facts.cache_types)})")
    defaulted = tuple(name for name, value in (("context", context), ("parallel", slots), ("cache_type", cache)) if value is None)
    return ServingPlan(
        engine=engine,
        context=context or facts.context_length or 4096,
        slots=slots or (LLAMA_CPP_DEFAULT_SLOTS if engine == "llama.cpp" else VLLM_DEFAULT_SLOTS),
        cache=cache or facts.cache_types[0],
        defaulted=defaulted,
    )


def llama_cpp_context(context: int) -> int:
    """The cells llama.cpp allocates for ``-c context``: padded up to 256."""
    return -(-context // CONTEXT_STEP) * CONTEXT_STEP


def footprint(facts: ModelFacts, plan: ServingPlan) -> Footprint:
    """Weights, KV cache, compute and output buffers of ``facts`` served as ``plan``."""
    if plan.engine == "llama.cpp":
        return _llama_cpp(facts, plan)
    return _vllm(facts, plan)


def _llama_cpp(facts: ModelFacts, plan: ServingPlan) -> Footprint:
    n_ctx = llama_cpp_context(plan.context)
    kv = kv_bytes(facts, n_ctx, plan.cache, slots=plan.slots).total if facts.layers else 0
    # Compute buffer, fitted to llama-server's "compute buffer size" (docs/memory.md): the
    # activations of one 512-token micro-batch, plus the f16 attention mask of every KV
    # cache (n_kv x n_ubatch x 2 bytes, full and windowed), plus the queries as q8_0 when
    # the K cache is quantized.
    widths = 4 * (facts.feed_forward_length or 0) + (facts.embedding_length or 0)
    compute = N_UBATCH * F32 * widths
    if facts.layers:
        masked = n_ctx
        if facts.sliding_window:
            masked += swa_cells(facts.sliding_window, n_ctx, slots=plan.slots)
        compute += 2 * N_UBATCH * masked
        if CACHE_TYPES[plan.cache].block_elements > 1:
            compute += int(N_UBATCH * facts.query_width * Q8_0_BYTES_PER_ELEMENT)
    output = F32 * (facts.vocab_size or 0) * plan.slots  # one row of logits a slot
    return Footprint(plan=plan, weight_bytes=facts.weight_bytes, kv_bytes=kv, compute_bytes=compute, output_bytes=output)


def _vllm(facts: ModelFacts, plan: ServingPlan) -> Footprint:
    if not facts.layers:
        return Footprint(plan=plan, weight_bytes=facts.weight_bytes, kv_bytes=0, compute_bytes=0, output_bytes=0)
    per_sequence = -(-plan.context // VLLM_BLOCK) * VLLM_BLOCK
    kv_type = CACHE_TYPES[plan.cache]
    total = 0
    for layer in facts.layers:
        tokens = per_sequence
        if layer.sliding and facts.sliding_window:
            tokens = min(per_sequence, -(-(facts.sliding_window - 1 + VLLM_BATCHED_TOKENS) // VLLM_BLOCK) * VLLM_BLOCK)
        total += tokens * (kv_type.row_bytes(layer.kv_heads * layer.key_length)
                           + kv_type.row_bytes(layer.kv_heads * layer.value_length))
    return Footprint(plan=plan, weight_bytes=facts.weight_bytes, kv_bytes=total * plan.slots, compute_bytes=0, output_bytes=0)
