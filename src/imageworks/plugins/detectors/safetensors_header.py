"""safetensors header detector: dtypes, quantised layouts, parameter count, ``__metadata__``.

Reads only the JSON header of each ``.safetensors`` file (for a sharded set, the shards
named by ``model.safetensors.index.json``). Floating-point weights give ``fp16``,
``bf16``, ``fp32`` or ``fp8``; packed layouts are recognised by their tensor names and,
for GPTQ and AWQ, bits and group size are worked out from the tensor shapes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Detector
from imageworks.core.model import Detection, DetectionSubject
from imageworks.plugins.detectors._files import list_files, load_json

if TYPE_CHECKING:  # the reader loads when a header is read, not at every start
    from imageworks.formats.safetensors_reader import SafetensorsHeader, TensorEntry

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


def _ends(names: Collection[str], *suffixes: str) -> bool:
    """Whether, for each of ``suffixes``, some tensor name ends with it."""
    return all(any(n.endswith(suffix) for n in names) for suffix in suffixes)


#: Packed layouts told by tensor names, asked in order after GPTQ/AWQ: (when, the facts it gives).
_LAYOUTS: tuple[tuple[Callable[[Collection[str]], bool], dict[str, Any]], ...] = (
    (lambda names: _ends(names, ".q_weight", ".q_scale"), {"method": "exl2"}),
    (lambda names: any(".quant_state.bitsandbytes__" in n for n in names) or _ends(names, ".weight.absmax"),
     {"method": "bnb", "quantization": "bnb-4bit"}),
    (lambda names: _ends(names, ".SCB"), {"method": "bnb", "quantization": "bnb-8bit"}),
    (lambda names: _ends(names, "_blocks", "_scales"), {"quantization": "mxfp4"}),
    (lambda names: _ends(names, ".weight_global_scale"), {"quantization": "nvfp4"}),
    (lambda names: _ends(names, ".weight_packed"), {"packed": "compressed-tensors"}),
    (lambda names: _ends(names, ".biases", ".scales"), {"method": "mlx"}),
)


def _layout(tensors: dict[str, TensorEntry]) -> dict[str, Any]:
    """The quantised layout's facts (method, bits, group size, quantisation, packed), if any."""
    layer = _gptq_awq(tensors)
    if layer:
        method, bits, group = layer
        return {"method": method, "bits": bits, "group_size": group}
    names = tensors.keys()
    return next((dict(facts) for applies, facts in _LAYOUTS if applies(names)), {})


def _quantization(facts: dict[str, Any], by_dtype: Counter[str]) -> str | None:
    """The quantisation: from GPTQ/AWQ bits and group, else the layout's, else the main float dtype."""
    quantization: str | None = facts["quantization"]
    if facts["method"] in ("gptq", "awq"):
        bits, group = facts["bits"], facts["group_size"]
        if bits:
            return f"w{bits}" if group == -1 else (f"w{bits}g{group}" if group else f"int{bits}")
        return quantization
    floats = Counter({k: v for k, v in by_dtype.items() if k in FLOAT_NAMES})
    if quantization is None and facts["method"] is None and "packed" not in facts and floats:
        return FLOAT_NAMES[floats.most_common(1)[0][0]]
    return quantization


def analyse(tensors: dict[str, TensorEntry]) -> dict[str, Any]:
    """Work out format and quantisation facts from a set of tensors."""
    facts: dict[str, Any] = {"method": None, "bits": None, "group_size": None, "quantization": None}
    facts.update(_layout(tensors))
    by_dtype: Counter[str] = Counter()
    for tensor in tensors.values():
        by_dtype[tensor.dtype] += tensor.elements
    facts["dtypes"] = dict(sorted(by_dtype.items()))
    facts["quantization"] = _quantization(facts, by_dtype)
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
        from imageworks.formats.safetensors_reader import SafetensorsFormatError, read_header

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
