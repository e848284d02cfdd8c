"""The memory estimate on the command line: the ``--gpu-mem SIZE`` option and the lines
``analyze`` and ``list --details`` print (docs/memory.md). The figures are the core's
(:mod:`imageworks.services.memory.estimate`); this module only words them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from imageworks.cli._output import human_size
from imageworks.core.errors import ImageworksError

if TYPE_CHECKING:  # the estimate is imported when a command prints one, not to build --help
    from imageworks.services.memory.estimate import ContextFit, Margin, MemoryEstimate, ServingInputs

FC = TypeVar("FC", bound=Callable[..., Any])

SOURCES = {"gguf": "gguf header", "config.json": "config.json + safetensors headers"}
# What the options' help and choices say, copied from the memory services (a test keeps them
# equal) so that building --help imports no estimate: GGUF_CACHE_TYPES + SAFETENSORS_CACHE_TYPES
# of core.memory_facts, DEFAULT_MARGIN.describe() of services.memory.estimate and the slot
# defaults of services.memory.serving.
CACHE_TYPE_CHOICES = ("f16", "q8_0", "q4_0", "fp8")
DEFAULT_MARGIN_TEXT = "1.0 GiB + 10%"
LLAMA_CPP_DEFAULT_SLOTS = 4
VLLM_DEFAULT_SLOTS = 1


class MemorySize(click.ParamType[Any, int]):
    """``24GiB``, ``24G``, ``16384MiB``... as bytes (core's :func:`parse_size`)."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """Bytes, or a usage error (one line, exit 1) naming the bad value."""
        from imageworks.services.memory.estimate import parse_size

        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ImageworksError as error:
            self.fail(str(error), param, ctx)


def gpu_mem_option() -> Callable[[FC], FC]:
    """The ``--gpu-mem SIZE`` option shared by ``analyze`` and ``list``."""
    return click.option(
        "--gpu-mem", "gpu_bytes", type=MemorySize(), metavar="SIZE",
        help=f"GPU memory (24GiB, 16384MiB): also show the largest context that fits, after a margin of {DEFAULT_MARGIN_TEXT}.",
    )


def serving_options() -> Callable[[FC], FC]:
    """``--context N``, ``--parallel N``, ``--cache-type T`` (shared by ``analyze`` and ``list``),
    folded into one ``serving`` argument (:class:`ServingInputs`)."""

    def decorate(function: Any) -> Any:
        for option in reversed([
            click.option("--context", type=click.IntRange(1), metavar="TOKENS",
                         help="Context the server is given (default: the model's own length, as llama-server -c 0 and vLLM)."),
            click.option("--parallel", type=click.IntRange(1, 1024), metavar="N",
                         help=f"Slots sharing that context (default: llama-server's {LLAMA_CPP_DEFAULT_SLOTS}, unified KV cache; vLLM: {VLLM_DEFAULT_SLOTS} sequence)."),
            click.option("--cache-type", type=click.Choice(CACHE_TYPE_CHOICES),
                         help="KV cache type (default: f16; GGUF offers f16/q8_0/q4_0, safetensors f16/fp8)."),
        ]):
            function = option(function)
        return function

    return decorate


def serving_inputs(context: int | None, parallel: int | None, cache_type: str | None) -> ServingInputs:
    """The three options as one value."""
    from imageworks.services.memory.estimate import ServingInputs

    return ServingInputs(context=context, parallel=parallel, cache_type=cache_type)


def serving_line(found: MemoryEstimate) -> str | None:
    """``server total 312.4 MiB = weights ... + KV ... + compute ... + output ... (llama.cpp, 4096 tokens x 4 slots, f16; defaults: ...)``."""
    if found.serving is None:
        return f"server total: not estimated ({found.serving_problem})" if found.serving_problem else None
    f = found.serving
    plan = f.plan
    said = f"; engine defaults for {', '.join(plan.defaulted)}" if plan.defaulted else ""
    return (f"server total {human_size(f.total_bytes)} = weights {human_size(f.weight_bytes)} + KV {human_size(f.kv_bytes)}"
            f" + compute {human_size(f.compute_bytes)} + output {human_size(f.output_bytes)}"
            f" ({plan.engine}: {plan.context} tokens, {plan.slots} slot(s), {plan.cache} cache{said})")


def estimate_lines(found: MemoryEstimate, margin: Margin | None = None) -> list[str]:
    """The estimate in a few lines: facts and weights, KV cache per cache type, and the
    largest context per cache type when a GPU size was given (``margin``: the default margin unless given)."""
    from imageworks.services.memory.estimate import DEFAULT_MARGIN, kv_bytes_per_1k, kv_bytes_per_1k_past_window

    margin = DEFAULT_MARGIN if margin is None else margin
    facts = found.facts
    what = ", ".join(x for x in (SOURCES.get(facts.source, facts.source), facts.architecture) if x)
    context = f", context length {facts.context_length}" if facts.context_length else ""
    lines = [f"{what}: weights {human_size(facts.weight_bytes)}{context}"]
    if not facts.layers:
        lines.append(f"no KV cache: {facts.no_kv_reason}" if facts.no_kv_reason else "no KV cache")
    total = serving_line(found)
    if total:
        lines.append(total)
    for cache in facts.cache_types if facts.layers else ():
        if facts.sliding_window:
            past = human_size(kv_bytes_per_1k_past_window(facts, cache).total)
            line = (f"KV cache {cache}: {past} per extra 1k tokens past the {facts.sliding_window}-token window"
                    f" ({facts.sliding_layers} of {len(facts.layers)} layers slide;"
                    f" {human_size(kv_bytes_per_1k(facts, cache).total)} per 1k on every layer)")
        else:
            line = f"KV cache {cache}: {human_size(kv_bytes_per_1k(facts, cache).total)} per 1k tokens"
        lines.append(line)
    if found.fits:
        first = found.fits[0]
        lines.append(
            f"on {human_size(first.gpu_bytes)} (margin {human_size(first.margin_bytes)} = {margin.describe()}): "
            + ", ".join(_fit(fit) for fit in found.fits)
        )
    return lines


def files_label(files: tuple[str, ...]) -> str:
    """The files an estimate is for, shortened: ``a.gguf``, ``model-00001... +3 more``."""
    if len(files) <= 2:
        return ", ".join(files)
    return f"{files[0]} +{len(files) - 1} more"


def _fit(fit: ContextFit) -> str:
    if not fit.fits:
        return f"{fit.cache} does not fit (the weights leave no room)"
    return f"{fit.cache} {fit.max_context} tokens{' (model maximum)' if fit.capped_by_model else ''}"


def max_context_cell(found: MemoryEstimate | None) -> str:
    """The table cell for ``list --gpu-mem``: the first cache type's largest context."""
    if found is None or not found.fits:
        return ""
    fit = found.fits[0]
    return "no fit" if not fit.fits else f"{fit.max_context}{'' if not fit.capped_by_model else ' (max)'}"
