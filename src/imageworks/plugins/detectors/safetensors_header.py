"""safetensors header detector: dtypes, quantised layouts, parameter count, ``__metadata__``.

Reads only the JSON header of each ``.safetensors`` file (for a sharded set, the shards
named by ``model.safetensors.index.json``). Floating-point weights give ``fp16``,
``bf16``, ``fp32`` or ``fp8``; packed layouts are recognised by their tensor names and,
for GPTQ and AWQ, bits and group size are worked out from the tensor shapes.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Detector
from imageworks.core.model import Detection, DetectionSubject
from imageworks.formats.safetensors_reader import (
    SafetensorsFormatError,
    SafetensorsHeader,
    TensorEntry,
    read_header,
)
from imageworks.plugins.detectors._files import list_files, load_json

log = logging.getLogger("imageworks.detection.safetensors")

FLOAT_NAMES = {"F16": "fp16", "BF16": "bf16", "F32": "fp32", "F64": "fp64",
               "F8_E4M3": "fp8", "F8_E5M2": "fp8", "F8_E4M3FN": "fp8"}
INDEX_SUFFIX = ".safetensors.index.json"


def _weight_sets(names: list[str]) -> dict[str, list[str]]:
    """Weight files per set: an index file names its shards; other files stand alone."""
    sets: dict[str, list[str]] = {}
    for name in names:
        if name.endswith(".safetensors"):
            sets.setdefault(name, [name])
    return sets


def _from_index(root: Path, names: list[str]) -> dict[str, list[str]]:
    sets = _weight_sets(names)
    for name in names:
        if not name.endswith(INDEX_SUFFIX):
            continue
        data = load_json(root / name)
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict):
            continue
        folder = str(Path(name).parent)
        prefix = "" if folder == "." else folder + "/"
        shards = sorted({prefix + str(v) for v in weight_map.values()})
        present = [s for s in shards if s in sets]
        for shard in present:
            sets.pop(shard, None)
        if present:
            sets[name] = present
    return sets


def _gptq_awq(tensors: dict[str, TensorEntry]) -> tuple[str, int | None, int | None] | None:
    """('gptq'|'awq', bits, group) from one packed linear layer's shapes, if present."""
    for name, qweight in tensors.items():
        if not name.endswith(".qweight") or len(qweight.shape) != 2:
            continue
        scales = tensors.get(name[: -len("qweight")] + "scales")
        if scales is None or len(scales.shape) != 2 or scales.shape[0] == 0:
            continue
        rows, cols = qweight.shape
        groups, out = scales.shape
        if cols == out:  # GPTQ packs along the input dimension
            g_idx = tensors.get(name[: -len("qweight")] + "g_idx")
            in_features = g_idx.shape[0] if g_idx and g_idx.shape else None
            if not in_features:
                return "gptq", None, None
            bits = 32 * rows // in_features
            return "gptq", bits, (-1 if groups == 1 else in_features // groups)
        if out and cols and (32 * cols) % out == 0:  # AWQ packs along the output dimension
            return "awq", 32 * cols // out, rows // groups
    return None


def analyse(tensors: dict[str, TensorEntry]) -> dict[str, Any]:
    """Work out format and quantisation facts from a set of tensors."""
    names = tensors.keys()
    facts: dict[str, Any] = {"method": None, "bits": None, "group_size": None, "quantization": None}
    layer = _gptq_awq(tensors)
    if layer:
        facts["method"], facts["bits"], facts["group_size"] = layer
    elif any(n.endswith(".q_weight") for n in names) and any(n.endswith(".q_scale") for n in names):
        facts["method"] = "exl2"
    elif any(".quant_state.bitsandbytes__" in n or n.endswith(".weight.absmax") for n in names):
        facts["method"], facts["quantization"] = "bnb", "bnb-4bit"
    elif any(n.endswith(".SCB") for n in names):
        facts["method"], facts["quantization"] = "bnb", "bnb-8bit"
    elif any(n.endswith("_blocks") for n in names) and any(n.endswith("_scales") for n in names):
        facts["quantization"] = "mxfp4"
    elif any(n.endswith(".weight_global_scale") for n in names):
        facts["quantization"] = "nvfp4"
    elif any(n.endswith(".weight_packed") for n in names):
        facts["packed"] = "compressed-tensors"
    elif any(n.endswith(".biases") for n in names) and any(n.endswith(".scales") for n in names):
        facts["method"] = "mlx"
    by_dtype: Counter[str] = Counter()
    for tensor in tensors.values():
        by_dtype[tensor.dtype] += tensor.elements
    facts["dtypes"] = dict(sorted(by_dtype.items()))
    floats = Counter({k: v for k, v in by_dtype.items() if k in FLOAT_NAMES})
    if facts["method"] == "gptq" or facts["method"] == "awq":
        bits, group = facts["bits"], facts["group_size"]
        if bits:
            facts["quantization"] = f"w{bits}" if group == -1 else (f"w{bits}g{group}" if group else f"int{bits}")
    elif facts["quantization"] is None and facts["method"] is None and "packed" not in facts and floats:
        facts["quantization"] = FLOAT_NAMES[floats.most_common(1)[0][0]]
    facts["tensor_count"] = len(tensors)
    facts["stored_elements"] = sum(by_dtype.values())
    return facts


class SafetensorsHeaderDetector(Detector):
    """Reads the JSON headers of ``.safetensors`` weights in a model folder."""

    name = "safetensors-header"
    trust = "header"

    def detect(self, subject: DetectionSubject) -> list[Detection]:
        """One detection per weight set (a sharded set counts once)."""
        if not subject.directory:
            return []
        root = Path(subject.directory)
        names = list(subject.filenames or list_files(root))
        found = []
        for set_name, shards in _from_index(root, names).items():
            detection = self._detect_set(root, set_name, shards)
            if detection is not None:
                found.append(detection)
        found.sort(key=lambda d: -d.details.get("stored_elements", 0))
        return found

    def _detect_set(self, root: Path, set_name: str, shards: list[str]) -> Detection | None:
        headers: list[SafetensorsHeader] = []
        for shard in shards:
            try:
                headers.append(read_header(root / shard))
            except (SafetensorsFormatError, OSError) as error:
                log.warning("%s: cannot read safetensors header (%s); using other evidence", root / shard, error)
        if not headers:
            return None
        tensors = {name: t for h in headers for name, t in h.tensors.items()}
        facts = analyse(tensors)
        facts["metadata"] = headers[0].metadata
        facts["files"] = [Path(h.path).relative_to(root).as_posix() for h in headers]
        facts["header_bytes_read"] = sum(h.bytes_read for h in headers)
        if not facts.get("method") and "packed" not in facts and facts["quantization"] in {"fp16", "bf16", "fp32"}:
            # Integer tensors of an unquantised model are buffers (position ids), not parameters.
            facts["parameter_count"] = sum(v for k, v in facts["dtypes"].items() if k in FLOAT_NAMES)
        where = set_name if len(shards) == 1 else f"{set_name} ({len(shards)} shards)"
        dtypes = ", ".join(f"{k}={v:,}" for k, v in facts["dtypes"].items())
        evidence = [f"{where}: safetensors header, {facts['tensor_count']} tensors ({dtypes})"]
        if facts["method"]:
            evidence.append(f"tensor layout is {facts['method']}"
                            + (f" ({facts['bits']}-bit, group {facts['group_size']})" if facts["bits"] else ""))
        elif "packed" in facts:
            evidence.append("packed weights (compressed-tensors); the config tells the scheme")
        if facts["metadata"]:
            evidence.append("__metadata__: " + ", ".join(f"{k}={v}" for k, v in sorted(facts["metadata"].items()))[:200])
        return Detection(
            format_type=facts["method"] or "safetensors",
            quantization=facts["quantization"],
            confidence=0.95 if facts["quantization"] else 0.85,
            evidence=tuple(evidence),
            detector=self.name,
            trust=self.trust,
            details=facts,
        )


@hookimpl
def imageworks_register_detectors() -> list[Detector]:
    """Register the safetensors header detector."""
    return [SafetensorsHeaderDetector()]
