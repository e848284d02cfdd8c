"""How much GPU memory a model needs before you launch it, from its headers alone.

Three figures (``docs/memory.md`` gives every formula and where it comes from):

- **weights**: the bytes of the tensor data (GGUF: the tensor table's sizes;
  safetensors: elements times dtype size from each file's JSON header);
- **KV cache**: per token and layer, ``n_kv_heads * (key_length * bytes_K +
  value_length * bytes_V)``, per cache type (f16 = 2 bytes an element, q8_0 = 34 bytes
  per block of 32, q4_0 = 18 per 32; fp8 = 1). Layers with a sliding window hold at most
  ``pad256(min(n_ctx, window + n_ubatch))`` tokens, as llama.cpp sizes its SWA cache;
- **largest context** that fits a GPU: ``gpu - margin - weights`` spent on the KV cache,
  where the margin is a fixed 1 GiB plus 10% of the GPU, rounded down to a multiple of
  256 tokens and capped at the model's trained context length.

Everything here is pure: the facts come from plain mappings (a GGUF header's scalar
keys, a ``config.json``), so this module reads no file and knows no format reader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from imageworks.core.errors import ImageworksError
from imageworks.core.memory_facts import (
    GGUF_CACHE_TYPES,
    SAFETENSORS_CACHE_TYPES,
    HeaderFacts,
    LayerAttention,
    ModelFacts,
)

if TYPE_CHECKING:
    from imageworks.core.plans import SourceAnalysis

KiB, MiB, GiB = 1024, 1024**2, 1024**3
TOKENS_PER_K = 1024  # "per 1k tokens" means 1024: contexts are sized in powers of two
CONTEXT_STEP = 256  # llama.cpp pads its caches to 256 cells; the fitted context is a multiple
N_UBATCH = 512  # llama.cpp's default micro-batch (-ub), part of its SWA cache size


@attrs.frozen
class CacheType:
    """A KV cache element type: ``block_bytes`` bytes for every ``block_elements`` elements."""

    name: str
    block_elements: int
    block_bytes: int

    def row_bytes(self, elements: int) -> int:
        """Bytes of ``elements`` values, whole blocks (ggml's row size)."""
        blocks = -(-elements // self.block_elements)
        return blocks * self.block_bytes


#: ggml's type sizes (``ggml.c`` type traits): q8_0 = fp16 scale + 32 int8; q4_0 = scale + 16 bytes.
CACHE_TYPES: dict[str, CacheType] = {
    "f16": CacheType("f16", 1, 2),
    "q8_0": CacheType("q8_0", 32, 34),
    "q4_0": CacheType("q4_0", 32, 18),
    "fp8": CacheType("fp8", 1, 1),
}


@attrs.frozen(kw_only=True)
class Margin:
    """Memory kept back from the KV cache: ``fixed_bytes`` plus ``fraction`` of the GPU.

    The defaults: 1 GiB is llama.cpp's ``--fit-target`` default (the headroom its ``--fit``
    leaves per device for compute buffers and the driver); 10% is what vLLM's default
    ``--gpu-memory-utilization 0.9`` leaves to everything else on the card.
    """

    fixed_bytes: int = GiB
    fraction: float = 0.10

    def of(self, gpu_bytes: int) -> int:
        """The margin for a GPU of ``gpu_bytes``."""
        return self.fixed_bytes + int(gpu_bytes * self.fraction)

    def describe(self) -> str:
        """One line for humans: ``1.0 GiB + 10%``."""
        return f"{self.fixed_bytes / GiB:.1f} GiB + {self.fraction:.0%}"


DEFAULT_MARGIN = Margin()


@attrs.frozen(kw_only=True)
class KVBytes:
    """KV cache bytes, keys and values apart (their lengths or types may differ)."""

    key: int
    value: int

    @property
    def total(self) -> int:
        """Keys plus values."""
        return self.key + self.value


def swa_cells(window: int, n_ctx: int, n_ubatch: int = N_UBATCH, slots: int = 1) -> int:
    """Cells a sliding-window layer caches at context ``n_ctx`` with ``slots`` sequences in one
    unified cache (llama.cpp's ``llama_kv_cache_iswa``: ``GGML_PAD(min(n_ctx, n_swa * n_seq +
    n_ubatch), 256)``, where ``n_seq`` is the slot count when the cache is unified, else 1)."""
    return _pad(min(n_ctx, window * slots + n_ubatch), CONTEXT_STEP)


def kv_bytes(facts: ModelFacts, n_ctx: int, cache: str = "f16", value_cache: str | None = None, slots: int = 1) -> KVBytes:
    """KV cache bytes at context ``n_ctx`` (shared by ``slots`` sequences, one unified cache),
    ``cache`` for keys and ``value_cache`` (default: the same) for values."""
    k_type, v_type = CACHE_TYPES[cache], CACHE_TYPES[value_cache or cache]
    key = value = 0
    for layer in facts.layers:
        sliding = layer.sliding and facts.sliding_window
        cells = swa_cells(facts.sliding_window or 0, n_ctx, slots=slots) if sliding else n_ctx
        key += k_type.row_bytes(layer.kv_heads * layer.key_length) * cells
        value += v_type.row_bytes(layer.kv_heads * layer.value_length) * cells
    return KVBytes(key=key, value=value)


def kv_bytes_per_1k(facts: ModelFacts, cache: str = "f16") -> KVBytes:
    """KV bytes of 1024 tokens in every layer, windows ignored (the slope of a model
    without sliding windows, and the issue's ``n_layers * n_kv_heads * head_dim * 2 *
    bytes`` formula)."""
    full = attrs.evolve(facts, sliding_window=None)
    return kv_bytes(full, TOKENS_PER_K, cache)


def kv_bytes_per_1k_past_window(facts: ModelFacts, cache: str = "f16") -> KVBytes:
    """What each further 1024 tokens costs once the windows are full: the full-attention
    layers only."""
    full_layers = attrs.evolve(facts, layers=tuple(layer for layer in facts.layers if not layer.sliding))
    return kv_bytes(full_layers, TOKENS_PER_K, cache)


@attrs.frozen(kw_only=True)
class ContextFit:
    """The largest context whose KV cache fits beside the weights on one GPU."""

    gpu_bytes: int
    margin_bytes: int
    cache: str
    max_context: int  # 0: not even the weights fit
    kv_bytes: int  # at max_context
    capped_by_model: bool  # the model's own context length was the limit, not memory

    @property
    def fits(self) -> bool:
        """Whether the weights and at least one step of context fit."""
        return self.max_context > 0


def fit_context(facts: ModelFacts, gpu_bytes: int, cache: str = "f16", margin: Margin = DEFAULT_MARGIN) -> ContextFit:
    """The largest context (a multiple of 256, or the model's own length) that fits ``gpu_bytes``."""
    margin_bytes = margin.of(gpu_bytes)
    budget = gpu_bytes - margin_bytes - facts.weight_bytes
    limit = facts.context_length
    if budget <= 0:
        return ContextFit(gpu_bytes=gpu_bytes, margin_bytes=margin_bytes, cache=cache, max_context=0, kv_bytes=0,
                          capped_by_model=False)
    if not facts.layers:  # no KV cache: the whole trained context fits once the weights do
        return ContextFit(gpu_bytes=gpu_bytes, margin_bytes=margin_bytes, cache=cache, max_context=limit or 0,
                          kv_bytes=0, capped_by_model=limit is not None)
    if limit is not None and kv_bytes(facts, limit, cache).total <= budget:
        return ContextFit(gpu_bytes=gpu_bytes, margin_bytes=margin_bytes, cache=cache, max_context=limit,
                          kv_bytes=kv_bytes(facts, limit, cache).total, capped_by_model=True)
    # kv_bytes grows with n_ctx: binary search the largest step count that fits.
    low, high = 0, (limit // CONTEXT_STEP) if limit is not None else _steps_upper_bound(facts, budget, cache)
    while low < high:
        mid = (low + high + 1) // 2
        if kv_bytes(facts, mid * CONTEXT_STEP, cache).total <= budget:
            low = mid
        else:
            high = mid - 1
    best = low * CONTEXT_STEP
    return ContextFit(gpu_bytes=gpu_bytes, margin_bytes=margin_bytes, cache=cache, max_context=best,
                      kv_bytes=kv_bytes(facts, best, cache).total if best else 0, capped_by_model=False)


def _steps_upper_bound(facts: ModelFacts, budget: int, cache: str) -> int:
    """Enough 256-token steps to overshoot ``budget`` (for a model of unknown length)."""
    per_step = kv_bytes_per_1k_past_window(facts, cache).total * CONTEXT_STEP // TOKENS_PER_K
    if per_step <= 0:
        return 1 << 20  # only sliding layers: memory never limits; cap at a million steps
    return budget // per_step + 2 + (facts.sliding_window or 0) // CONTEXT_STEP


def _pad(value: int, step: int) -> int:
    return -(-value // step) * step


@attrs.frozen(kw_only=True)
class ServingInputs:
    """What the user says about the server (``--context``, ``--parallel``, ``--cache-type``);
    None: the engine's default (:mod:`imageworks.services.memory.serving`)."""

    context: int | None = None
    parallel: int | None = None
    cache_type: str | None = None


@attrs.frozen(kw_only=True)
class MemoryEstimate:
    """Facts plus the figures ``analyze`` and ``list`` show, for one target GPU or none, and the
    whole server's footprint (``serving``: a :class:`~imageworks.services.memory.serving.Footprint`,
    or None with ``serving_problem`` saying why)."""

    facts: ModelFacts
    fits: tuple[ContextFit, ...] = ()
    serving: Any = None
    serving_problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``memory`` object of ``list --json`` (and of each ``analyze --json`` item's
        ``estimate``), docs/memory.md."""
        facts = self.facts
        kv: dict[str, Any] = {}
        if facts.layers:
            for name in facts.cache_types:
                per_1k = kv_bytes_per_1k(facts, name)
                past = kv_bytes_per_1k_past_window(facts, name)
                kv[name] = {
                    "key_bytes_per_1k_tokens": per_1k.key,
                    "value_bytes_per_1k_tokens": per_1k.value,
                    # what one more 1k tokens of context costs: past the windows, only the full layers grow
                    "bytes_per_1k_tokens": past.total if facts.sliding_window else per_1k.total,
                    "bytes_per_1k_tokens_all_layers": per_1k.total,
                    "bytes_per_1k_tokens_past_window": past.total if facts.sliding_window else None,
                    "bytes_at_context_length": kv_bytes(facts, facts.context_length, name).total
                    if facts.context_length else None,
                }
        return {
            "total_bytes": self.serving.total_bytes if self.serving is not None else None,
            "serving": self.serving.as_json() if self.serving is not None else None,
            "serving_problem": self.serving_problem,
            "source": facts.source,
            "architecture": facts.architecture,
            "weight_bytes": facts.weight_bytes,
            "context_length": facts.context_length,
            "layers": len(facts.layers),
            "sliding_window": facts.sliding_window,
            "sliding_window_layers": facts.sliding_layers,
            "kv_cache": kv,
            "no_kv_cache_reason": facts.no_kv_reason,
            "fit": [
                {
                    "gpu_bytes": fit.gpu_bytes,
                    "margin_bytes": fit.margin_bytes,
                    "cache_type": fit.cache,
                    "max_context": fit.max_context,
                    "kv_bytes": fit.kv_bytes,
                    "capped_by_model": fit.capped_by_model,
                }
                for fit in self.fits
            ],
        }


def estimate(facts: ModelFacts, gpu_bytes: int | None = None, margin: Margin = DEFAULT_MARGIN,
             serving: ServingInputs | None = None) -> MemoryEstimate:
    """Figures for ``facts``; with ``gpu_bytes``, the largest context per cache type; the whole
    server's footprint for ``serving`` (the engine's defaults where it says nothing)."""
    from imageworks.services.memory.serving import footprint, plan_for  # serving builds on this module

    fits: tuple[ContextFit, ...] = ()
    if gpu_bytes is not None:
        types = facts.cache_types if facts.layers else facts.cache_types[:1]
        fits = tuple(fit_context(facts, gpu_bytes, name, margin) for name in types)
    wanted = serving or ServingInputs()
    try:
        plan = plan_for(facts, wanted.context, wanted.parallel, wanted.cache_type)
    except ValueError as error:
        return MemoryEstimate(facts=facts, fits=fits, serving_problem=str(error))
    return MemoryEstimate(facts=facts, fits=fits, serving=footprint(facts, plan))


def estimate_item(item: HeaderFacts, gpu_bytes: int | None = None, margin: Margin = DEFAULT_MARGIN,
                  serving: ServingInputs | None = None) -> MemoryEstimate | None:
    """The figures for one model's header facts (and ``gpu_bytes``), None without facts."""
    return estimate(item.facts, gpu_bytes, margin, serving) if item.facts is not None else None


def item_json(item: HeaderFacts, gpu_bytes: int | None = None, margin: Margin = DEFAULT_MARGIN,
              serving: ServingInputs | None = None) -> dict[str, Any]:
    """One item of ``analyze --json``'s ``memory`` list: label, files, estimate (the
    :meth:`MemoryEstimate.as_json` shape, or null) and problem."""
    found = estimate_item(item, gpu_bytes, margin, serving)
    return {
        "label": item.label,
        "files": list(item.files),
        "estimate": found.as_json() if found is not None else None,
        "problem": item.problem,
    }


def analysis_json(analysis: SourceAnalysis, with_files: bool = False, gpu_bytes: int | None = None,
                  margin: Margin = DEFAULT_MARGIN, serving: ServingInputs | None = None) -> dict[str, Any]:
    """``analyze --json``: the source's analysis with each model's ``memory`` figures,
    fitted to ``gpu_bytes`` when given, the server's total for ``serving``."""
    data = analysis.as_json(with_files)
    data["memory"] = [item_json(item, gpu_bytes, margin, serving) for item in analysis.memory]
    return data


# -- sizes on the command line ------------------------------------------------------

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``24GiB``, ``24G``, ``24 GB``, ``16384MiB`` as bytes.

    Binary units throughout: GPU memory is sold and reported in GiB (a "24 GB" card has
    24 GiB; ``nvidia-smi`` shows MiB), so ``GB`` and ``GiB`` mean the same here. A bare
    number is bytes. Raises :class:`ImageworksError` with a one-line reason otherwise.
    """
    match = _SIZE.fullmatch(text or "")
    if not match or (not match[2] and match[3]):
        raise ImageworksError(f"not a memory size: {text!r}", "write it like 24GiB, 24G or 16384MiB")
    power = " KMGT".index(match[2].upper() or " ")
    value = int(float(match[1]) * 1024**power)
    if value <= 0:
        raise ImageworksError(f"memory size must be positive: {text!r}")
    return value


# -- facts from a GGUF header -------------------------------------------------------

#: Architectures whose sliding-window layout llama.cpp hard-codes in its loader
#: (``hparams.set_swa_pattern(n)``: layer ``il`` slides when ``il % n < n - 1``), used when
#: the header has no ``<arch>.attention.sliding_window_pattern``. Window sizes llama.cpp
#: assumes when the header has none are in :data:`GGUF_DEFAULT_WINDOWS`.
GGUF_SWA_PATTERNS: dict[str, int] = {"gemma2": 2, "gemma3": 6, "cohere2": 4, "llama4": 4, "gpt-oss": 2}
GGUF_DEFAULT_WINDOWS: dict[str, int] = {"gemma2": 4096, "llama4": 8192}
#: Architectures whose GGUF has no KV cache per token (state-space or RWKV models).
RECURRENT_ARCHES = frozenset({"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})


def swa_pattern(n_layers: int, period: int) -> tuple[bool, ...]:
    """llama.cpp's ``set_swa_pattern(period)``: which layers slide (period 0: all)."""
    return tuple(period == 0 or (il % period) < (period - 1) for il in range(n_layers))


def facts_from_gguf(
    fields: Mapping[str, Any], array_values: Mapping[str, Sequence[Any]], weight_bytes: int,
    vocab_size: int | None = None,
) -> ModelFacts:
    """Facts from a GGUF header's scalar keys (``fields``) and small numeric arrays.

    Keys: ``<arch>.block_count``, ``.attention.head_count``, ``.attention.head_count_kv``
    (scalar or one per layer), ``.embedding_length``, ``.attention.key_length`` /
    ``value_length`` (else ``embedding_length / head_count``, as llama.cpp), their ``_swa``
    forms, ``.context_length``, ``.attention.causal``, ``.attention.sliding_window`` and
    ``.attention.sliding_window_pattern`` (a period or one flag per layer);
    ``.feed_forward_length`` and ``vocab_size`` (the length of ``tokenizer.ggml.tokens``,
    else ``<arch>.vocab_size``) size the compute and output buffers.
    """
    arch = fields.get("general.architecture")
    if not isinstance(arch, str):
        return ModelFacts(source="gguf", architecture=None, weight_bytes=weight_bytes, context_length=None,
                          no_kv_reason="the header names no architecture")

    def key(name: str) -> Any:
        return fields.get(f"{arch}.{name}", array_values.get(f"{arch}.{name}"))

    context = _int(key("context_length"))

    def make(**more: Any) -> ModelFacts:
        return ModelFacts(source="gguf", architecture=arch, weight_bytes=weight_bytes, context_length=context,
                          cache_types=GGUF_CACHE_TYPES, embedding_length=_int(key("embedding_length")),
                          feed_forward_length=_per_layer_first(key("feed_forward_length")),
                          vocab_size=vocab_size or _int(key("vocab_size")),
                          head_count=_per_layer_first(key("attention.head_count")), **more)

    if arch in RECURRENT_ARCHES:
        return make(no_kv_reason=f"{arch} is recurrent: a fixed state, no KV cache per token")
    if key("attention.causal") is False:
        return make(no_kv_reason=f"{arch} is an encoder (non-causal attention): no KV cache")
    n_layers, n_embd = _int(key("block_count")), _int(key("embedding_length"))
    n_heads = _per_layer_first(key("attention.head_count"))
    if not n_layers or not n_heads:
        return make(no_kv_reason="the header lacks block_count or attention.head_count")
    head_dim = n_embd // n_heads if n_embd else None
    # llama.cpp caches n_embd_head_k * n_head_kv per token (key_length, else n_embd / n_head).
    k_len = _int(key("attention.key_length")) or head_dim
    v_len = _int(key("attention.value_length")) or head_dim
    if not k_len or not v_len:
        return make(no_kv_reason="the header gives no key/value length or embedding length")
    kv_heads = (
        _per_layer(key("attention.head_count_kv"), n_layers)
        or _per_layer(key("attention.head_count"), n_layers)
        or (n_heads,) * n_layers
    )
    window = _int(key("attention.sliding_window")) or GGUF_DEFAULT_WINDOWS.get(arch)
    sliding = _gguf_sliding(key("attention.sliding_window_pattern"), arch, n_layers) if window else (False,) * n_layers
    k_swa = _int(key("attention.key_length_swa")) or k_len
    v_swa = _int(key("attention.value_length_swa")) or v_len
    layers = tuple(
        LayerAttention(kv_heads=h, key_length=k_swa if s else k_len, value_length=v_swa if s else v_len, sliding=s)
        for h, s in zip(kv_heads, sliding, strict=True)
    )
    return make(layers=layers, sliding_window=window if any(sliding) else None)


def _gguf_sliding(pattern: Any, arch: str, n_layers: int) -> tuple[bool, ...]:
    if isinstance(pattern, (list, tuple)) and len(pattern) == n_layers:
        return tuple(bool(x) for x in pattern)  # one flag per layer: True slides
    period = _int(pattern)
    if period is None:
        period = GGUF_SWA_PATTERNS.get(arch)
    if period is None:
        return (False,) * n_layers  # llama.cpp uses no window for other architectures
    return swa_pattern(n_layers, period)


# -- facts from a Hugging Face config.json ------------------------------------------

#: ``model_type``s of encoder-only models: no KV cache (they attend to the whole input).
ENCODER_TYPES = frozenset(
    {"bert", "roberta", "xlm-roberta", "distilbert", "electra", "deberta", "deberta-v2", "mpnet", "albert",
     "camembert", "nomic_bert", "modernbert", "jina_bert", "new", "t5encoder"}
)
#: Defaults transformers' config classes supply when a config.json leaves a key out
#: (Gemma 3's multimodal configs omit them from ``text_config``), from ``Gemma3TextConfig``.
CONFIG_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma3_text": {
        "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "hidden_size": 2304,
        "num_hidden_layers": 26, "max_position_embeddings": 131072, "sliding_window": 4096,
        "sliding_window_pattern": 6,
    },
}
#: Sliding-window periods transformers hard-codes for configs without ``layer_types``
#: (every ``n``-th layer is full attention, as in llama.cpp).
CONFIG_SWA_PATTERNS: dict[str, int] = {"gemma2": 2, "gemma3_text": 6, "cohere2": 4}


def text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The language model's part of ``config``: ``text_config`` (or ``llm_config``) of a
    multimodal config, else ``config`` itself."""
    for name in ("text_config", "llm_config", "language_config"):
        inner = config.get(name)
        if isinstance(inner, Mapping) and inner:
            return inner
    return config


def facts_from_config(config: Mapping[str, Any], weight_bytes: int) -> ModelFacts:
    """Facts from a ``config.json`` (``num_hidden_layers``, ``num_attention_heads``,
    ``num_key_value_heads``, ``hidden_size``, ``head_dim``, ``max_position_embeddings``,
    ``sliding_window`` with ``layer_types`` / ``sliding_window_pattern`` /
    ``use_sliding_window``), nested ``text_config`` first."""
    text = text_config(config)
    model_type = str(text.get("model_type") or config.get("model_type") or "") or None
    values = {**CONFIG_DEFAULTS.get(model_type or "", {}), **{k: v for k, v in text.items() if v is not None}}
    context = _int(values.get("max_position_embeddings")) or _int(values.get("max_sequence_length"))

    def make(**more: Any) -> ModelFacts:
        return ModelFacts(source="config.json", architecture=model_type, weight_bytes=weight_bytes,
                          context_length=context, cache_types=SAFETENSORS_CACHE_TYPES,
                          embedding_length=_int(values.get("hidden_size")),
                          feed_forward_length=_int(values.get("intermediate_size")),
                          vocab_size=_int(values.get("vocab_size")),
                          head_count=_int(values.get("num_attention_heads")), **more)

    if model_type in ENCODER_TYPES:
        return make(no_kv_reason=f"{model_type} is an encoder: no KV cache")
    n_layers, n_heads = _int(values.get("num_hidden_layers")), _int(values.get("num_attention_heads"))
    hidden = _int(values.get("hidden_size"))
    if not n_layers or not n_heads:
        return make(no_kv_reason="config.json lacks num_hidden_layers or num_attention_heads")
    head_dim = _int(values.get("head_dim")) or (hidden // n_heads if hidden else None)
    if not head_dim:
        return make(no_kv_reason="config.json gives neither head_dim nor hidden_size")
    kv_heads = _int(values.get("num_key_value_heads")) or n_heads  # absent: multi-head attention
    window = _int(values.get("sliding_window"))
    sliding = _config_sliding(values, model_type, n_layers) if window else (False,) * n_layers
    layers = tuple(
        LayerAttention(kv_heads=kv_heads, key_length=head_dim, value_length=head_dim, sliding=s) for s in sliding
    )
    return make(layers=layers, sliding_window=window if any(sliding) else None)


def _config_sliding(values: Mapping[str, Any], model_type: str | None, n_layers: int) -> tuple[bool, ...]:
    types = values.get("layer_types")
    if isinstance(types, list) and len(types) == n_layers:
        return tuple(t == "sliding_attention" for t in types)
    if values.get("use_sliding_window") is False:
        return (False,) * n_layers  # Qwen2 and friends carry a window they do not use
    period = _int(values.get("sliding_window_pattern")) or CONFIG_SWA_PATTERNS.get(model_type or "")
    if period:
        return swa_pattern(n_layers, period)
    if values.get("use_sliding_window") is True or model_type in {"mistral", "mixtral"}:
        first_full = _int(values.get("max_window_layers"))
        return tuple(first_full is None or il >= first_full for il in range(n_layers))
    return (False,) * n_layers


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return int(value)


def _per_layer_first(value: Any) -> int | None:
    if isinstance(value, (list, tuple)):
        return next((_int(v) for v in value if _int(v)), None)
    return _int(value)


def _per_layer(value: Any, n_layers: int) -> tuple[int, ...] | None:
    if isinstance(value, (list, tuple)) and len(value) == n_layers:
        return tuple(_int(v) or 0 for v in value)
    single = _int(value)
    return None if single is None else (single,) * n_layers
