"""Choosing which files of a repository to download (guide 6.1 and 7.1).

Always: configs, tokenizer and processor files, README/LICENSE and other small
non-weight files. Weights: one format when the repo carries several (chosen by
``--format``, else ``preferred_formats``), exactly the ``--weights`` files when given,
and one GGUF quantisation (asked for, or the preferred one under
``--non-interactive``) with its split parts and vision projector. ``--include-optional``
adds the extras: alternative exports (onnx/, openvino/, original/), images, training
leftovers.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

import attrs

from imageworks.core.errors import ImageworksError
from imageworks.core.naming import split_quant
from imageworks.providers.huggingface.metadata import RepoFile, RepoSnapshot

CONTAINERS = {".safetensors": "safetensors", ".bin": "pytorch", ".pt": "pytorch", ".pth": "pytorch", ".gguf": "gguf", ".onnx": "onnx"}
OPTIONAL_DIRS = ("onnx/", "openvino/", "coreml/", "original/", "tflite/", "runs/", "checkpoints/")
OPTIONAL_NAMES = re.compile(r"(^|/)(training_args\.bin|optimizer\.(pt|bin)|scheduler\.pt|rng_state.*\.pth|trainer_state\.json)$")
OPTIONAL_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".pdf", ".mp4", ".h5", ".msgpack", ".ot", ".tflite", ".mlmodel")
LARGE_EXTRA_BYTES = 100 * 1024 * 1024
GGUF_PREFERENCE = ("q4_k_m", "q5_k_m", "q4_k_s", "q6_k", "q8_0", "q5_k_s", "q4_0", "iq4_xs", "bf16", "f16")
# Formats users name (guide 4.2) -> the container holding those weights.
FORMAT_CONTAINERS = {
    "gguf": "gguf",
    "safetensors": "safetensors", "awq": "safetensors", "gptq": "safetensors", "exl2": "safetensors",
    "exl3": "safetensors", "bnb": "safetensors", "mlx": "safetensors", "fp16": "safetensors",
    "bf16": "safetensors", "fp8": "safetensors", "fp32": "safetensors", "compressed-tensors": "safetensors",
    "pytorch": "pytorch", "bin": "pytorch", "onnx": "onnx",
}

QuantChooser = Callable[[list[str]], str]


@attrs.frozen
class Selection:
    """The files to fetch and why."""

    files: tuple[RepoFile, ...]
    weight_format: str | None
    gguf_quant: str | None = None
    skipped: tuple[str, ...] = ()

    @property
    def total_size(self) -> int:
        """Bytes to fetch."""
        return sum(f.size for f in self.files)


def container_of(path: str) -> str | None:
    """The weight container a file name stands for, or None for a non-weight file."""
    lowered = path.lower()
    if OPTIONAL_NAMES.search(lowered):
        return None
    return CONTAINERS.get(PurePosixPath(lowered).suffix)


def is_optional(file: RepoFile) -> bool:
    """Extras left out unless ``--include-optional``."""
    lowered = file.path.lower()
    return (
        lowered.startswith(OPTIONAL_DIRS)
        or bool(OPTIONAL_NAMES.search(lowered))
        or lowered.endswith(OPTIONAL_SUFFIXES)
        or (container_of(file.path) is None and file.size > LARGE_EXTRA_BYTES)
    )


def gguf_groups(files: Sequence[RepoFile]) -> dict[str, list[RepoFile]]:
    """GGUF weight files grouped by model (split parts together), projectors left out."""
    by_path = {f.path: f for f in files if container_of(f.path) == "gguf"}
    if not by_path:
        return {}
    from imageworks.services.memory.local_facts import gguf_models  # it brings the header readers: only for GGUF files

    return {key: [by_path[p] for p in parts] for key, parts in gguf_models(list(by_path)).items()}


def quant_label(key: str) -> str:
    """The quant a GGUF group key names (``Model-Q4_K_M.gguf`` -> ``q4_k_m``)."""
    return split_quant(PurePosixPath(key).stem)[1] or PurePosixPath(key).stem


def _closest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.3)
    return f"closest: {', '.join(close)}" if close else f"the repo has: {', '.join(options[:8])}"


def choose_files(
    snapshot: RepoSnapshot,
    *,
    format_hint: str | None = None,
    preferred_formats: Sequence[str] = ("awq", "safetensors", "gguf"),
    weights: Sequence[str] = (),
    include_optional: bool = False,
    choose_quant: QuantChooser | None = None,
) -> Selection:
    """Pick the files to download from ``snapshot``."""
    candidates = [f for f in snapshot.files if include_optional or not is_optional(f)]
    # Extras travel whatever weight format is chosen: onnx/model.onnx is an extra, not a rival format.
    extras = [f for f in snapshot.files if include_optional and is_optional(f)]
    by_container: dict[str, list[RepoFile]] = {}
    for file in candidates:
        if file in extras:
            continue
        container = container_of(file.path)
        if container:
            by_container.setdefault(container, []).append(file)
    support = [f for f in candidates if container_of(f.path) is None and f not in extras] + extras
    skipped = tuple(sorted(f.path for f in snapshot.files if f not in candidates))

    if weights:
        known = {f.path: f for f in snapshot.files}
        chosen = []
        for wanted in weights:
            if wanted not in known:
                raise ImageworksError(f"{snapshot.repo_id} has no file {wanted!r}", _closest(wanted, sorted(known)))
            chosen.append(known[wanted])
        fmt = container_of(chosen[0].path)
        return Selection(files=tuple(support + chosen), weight_format=fmt, skipped=skipped)

    container = _pick_container(snapshot.repo_id, by_container, format_hint, preferred_formats)
    if container is None:
        return Selection(files=tuple(support), weight_format=None, skipped=skipped)
    chosen = by_container[container]
    quant = None
    if container == "gguf":
        chosen, quant = _pick_gguf(snapshot, chosen, candidates, choose_quant)
    index_suffix = ".safetensors.index.json" if container == "safetensors" else ".bin.index.json"
    support = [f for f in support if not f.path.endswith((".safetensors.index.json", ".bin.index.json")) or f.path.endswith(index_suffix)]
    return Selection(files=tuple(support + chosen), weight_format=container, gguf_quant=quant, skipped=skipped)


def _pick_container(
    repo_id: str, by_container: dict[str, list[RepoFile]], format_hint: str | None, preferred: Sequence[str]
) -> str | None:
    if not by_container:
        return None
    if format_hint:
        wanted = FORMAT_CONTAINERS.get(format_hint.lower())
        if wanted is None:
            raise ImageworksError(f"unknown format {format_hint!r}", f"use one of: {', '.join(sorted(FORMAT_CONTAINERS))}")
        if wanted in by_container:
            return wanted
        if wanted == "safetensors" and "pytorch" in by_container:
            return "pytorch"
        raise ImageworksError(f"{repo_id} has no {format_hint} weights", f"it has: {', '.join(sorted(by_container))}")
    for name in (*preferred, "safetensors", "pytorch", "gguf", "onnx"):
        container = FORMAT_CONTAINERS.get(name.lower())
        if container in by_container:
            return container
    return sorted(by_container)[0]


def _pick_gguf(
    snapshot: RepoSnapshot, gguf_files: list[RepoFile], candidates: list[RepoFile], choose_quant: QuantChooser | None
) -> tuple[list[RepoFile], str | None]:
    groups = gguf_groups(gguf_files)
    projectors = [f for f in candidates if container_of(f.path) == "gguf" and "mmproj" in f.path.lower()]
    if not groups:
        return projectors, None
    labels = {quant_label(key): key for key in groups}
    if len(groups) == 1:
        label = next(iter(labels))
    elif choose_quant is not None:
        label = choose_quant(sorted(labels))
        if label not in labels:
            raise ImageworksError(f"{snapshot.repo_id} has no quantisation {label!r}", _closest(label, sorted(labels)))
    else:
        label = next((q for q in GGUF_PREFERENCE if q in labels), sorted(labels)[0])
    projector = projectors[:1]  # one projector serves every quant of a vision model
    return groups[labels[label]] + projector, label
