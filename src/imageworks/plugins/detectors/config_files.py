"""Config-file detector: ``quantization_config`` and friends, MLX ``quantization``, dtype.

Sources, in the order they are consulted: ``config.json`` (``quantization_config``, the
older ``compression_config``, MLX's top-level ``quantization``, ``torch_dtype``/``dtype``),
then the stand-alone ``quant_config.json`` (AutoAWQ), ``quantize_config.json``
(AutoGPTQ) and ``quantization_config.json``. The vocabulary is DESIGN.md section 5.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Detector
from imageworks.core.model import Detection, DetectionSubject
from imageworks.formats import bounded_json
from imageworks.plugins.detectors._files import MAX_JSON_BYTES, load_json

log = logging.getLogger("imageworks.detection.config")

DTYPES = {"float16": "fp16", "half": "fp16", "bfloat16": "bf16", "float32": "fp32", "float": "fp32",
          "float8_e4m3fn": "fp8", "float8_e5m2": "fp8"}
SIDE_FILES = ("quant_config.json", "quantize_config.json", "quantization_config.json")
METHOD_FORMATS = {"awq": "awq", "gptq": "gptq", "exl2": "exl2", "exl3": "exl3", "bitsandbytes": "bnb", "bnb": "bnb"}


def weight_scheme(bits: Any, group: Any) -> str | None:
    """``w{bits}g{group}``, ``w{bits}`` for per-channel (group -1), else ``int{bits}``."""
    if not isinstance(bits, int | float) or isinstance(bits, bool) or bits <= 0:
        return None
    bits = int(bits)
    if isinstance(group, int) and not isinstance(group, bool):
        return f"w{bits}" if group <= 0 else f"w{bits}g{group}"
    return f"int{bits}"


def bpw(bits: Any) -> str | None:
    """EXL2/EXL3 bits per weight as written in repo names: 4 -> ``4.0bpw``, 4.65 -> ``4.65bpw``."""
    if not isinstance(bits, int | float) or isinstance(bits, bool):
        return None
    value = float(bits)
    return f"{value:.1f}bpw" if value.is_integer() else f"{value:g}bpw"


def _compressed_tensors(qc: dict[str, Any]) -> str | None:
    """w4a16, w8a8, fp8, nvfp4, mxfp4 ... from compressed-tensors ``config_groups``."""
    fmt = str(qc.get("format") or "").lower()
    if "nvfp4" in fmt:
        return "nvfp4"
    if "mxfp4" in fmt:
        return "mxfp4"
    groups = qc.get("config_groups")
    if not isinstance(groups, dict):
        return "fp8" if "float-quantized" in fmt else None
    for group in groups.values():
        weights = group.get("weights") if isinstance(group, dict) else None
        if not isinstance(weights, dict):
            continue
        wbits, wtype = weights.get("num_bits"), str(weights.get("type") or "int").lower()
        acts = group.get("input_activations")
        abits = acts.get("num_bits") if isinstance(acts, dict) else None
        atype = str(acts.get("type") or "int").lower() if isinstance(acts, dict) else None
        if wtype == "float" and wbits == 4:
            return "mxfp4" if weights.get("group_size") == 32 else "nvfp4"  # NVFP4 uses groups of 16
        if wtype == "float" and wbits == 8:
            return "fp8"
        if atype == "float" and abits == 8 and wbits:
            return f"w{wbits}a8"  # W4A8-FP8 style; activations fp8
        if wbits:
            return f"w{wbits}a{abits or 16}"
    return None


def from_quantization_config(qc: dict[str, Any]) -> tuple[str | None, str | None, str]:
    """(format, quantization, what was seen) for one ``quantization_config`` object."""
    method = str(qc.get("quant_method") or "").lower().replace("_", "-")
    if not method:
        if "w_bit" in qc or "q_group_size" in qc:
            method = "awq"
        elif qc.get("load_in_4bit") or qc.get("load_in_8bit"):
            method = "bitsandbytes"
        elif "bits" in qc and ("desc_act" in qc or "damp_percent" in qc or "sym" in qc):
            method = "gptq"
        elif "config_groups" in qc:
            method = "compressed-tensors"
    seen = f"quant_method={method or '?'}"
    if method in ("awq", "gptq"):
        bits = qc.get("bits", qc.get("w_bit"))
        group = qc.get("group_size", qc.get("q_group_size"))
        shown = "".join(f", {k}={v}" for k, v in (("bits", bits), ("group_size", group)) if v is not None)
        return METHOD_FORMATS[method], weight_scheme(bits, group), seen + shown
    if method in ("exl2", "exl3"):
        return method, bpw(qc.get("bits")), f"{seen}, bits={qc.get('bits')}"
    if method in ("bitsandbytes", "bnb"):
        four = qc.get("load_in_4bit") or qc.get("_load_in_4bit")
        eight = qc.get("load_in_8bit") or qc.get("_load_in_8bit")
        quant = "bnb-4bit" if four else ("bnb-8bit" if eight else None)
        return "bnb", quant, f"{seen}, load_in_4bit={bool(four)}, load_in_8bit={bool(eight)}"
    if method in ("compressed-tensors", "sparseml"):
        return "safetensors", _compressed_tensors(qc), f"{seen}, format={qc.get('format')}"
    if method in ("fp8", "fbgemm-fp8", "fp-quant"):
        return "safetensors", "fp8" if "fp8" in method else None, seen
    if method == "mxfp4":
        return "safetensors", "mxfp4", seen
    if method in ("aqlm", "hqq", "eetq", "squeezellm", "quanto", "torchao", "higgs", "vptq", "spqr", "bitnet"):
        bits = qc.get("bits") or qc.get("nbits")
        return "safetensors", method if not isinstance(bits, int) else f"{method}-{bits}bit", seen
    if method:
        return None, None, f"{seen} (not a scheme this detector knows)"
    return None, None, "quantization_config without a recognisable method"


def _mlx(q: dict[str, Any]) -> tuple[str, str | None, str]:
    mode = str(q.get("mode") or "affine").lower()
    if mode != "affine":
        return "mlx", mode, f"MLX quantization mode={mode}"
    bits, group = q.get("bits"), q.get("group_size")
    return "mlx", weight_scheme(bits, group), f"MLX quantization bits={bits}, group_size={group}"


class ConfigFilesDetector(Detector):
    """Reads config.json and the stand-alone quantisation configs."""

    name = "config-files"
    trust = "config"

    def detect(self, subject: DetectionSubject) -> list[Detection]:
        """The scheme named by the config files, or the dtype when nothing is quantised."""
        sources: list[tuple[str, Any]] = []
        if subject.config_content is not None:
            try:
                sources.append(("config.json", bounded_json.loads(subject.config_content, "config.json", max_bytes=MAX_JSON_BYTES)))
            except bounded_json.JSONLimitError as error:
                log.warning("config.json content is not valid JSON (%s); falling back to other evidence", error)
        elif subject.directory and _listed("config.json", subject):
            data = load_json(Path(subject.directory) / "config.json")
            if data is not None:
                sources.append(("config.json", data))
        if subject.directory:
            for side in (name for name in SIDE_FILES if _listed(name, subject)):
                data = load_json(Path(subject.directory) / side)
                if data is not None:
                    sources.append((side, data))
        found = []
        for label, data in sources:
            if not isinstance(data, dict):
                log.warning("%s is not a JSON object; ignored", label)
                continue
            detection = self._one(label, data)
            if detection is not None:
                found.append(detection)
        found.sort(key=lambda d: (d.format_type is None, d.quantization is None, -d.confidence))
        return found

    def _one(self, label: str, data: dict[str, Any]) -> Detection | None:
        nested = data.get("text_config")
        text_config: dict[str, Any] = nested if isinstance(nested, dict) else {}
        qc = data.get("quantization_config") or data.get("compression_config") or text_config.get("quantization_config")
        if label != "config.json" and qc is None:
            qc = data  # the side files are the quantisation config themselves
        fmt: str | None = None
        quant: str | None = None
        evidence: list[str] = []
        if isinstance(data.get("quantization"), dict) and label == "config.json":
            fmt, quant, seen = _mlx(data["quantization"])
            evidence.append(f"{label}: {seen}")
        elif isinstance(qc, dict):
            fmt, quant, seen = from_quantization_config(qc)
            evidence.append(f"{label}: quantization_config {seen}")
        dtype = data.get("torch_dtype") or data.get("dtype") or text_config.get("torch_dtype") or text_config.get("dtype")
        if isinstance(dtype, str) and dtype:
            evidence.append(f"{label}: dtype={dtype}")
            if quant is None and fmt is None:
                quant = DTYPES.get(dtype.lower().removeprefix("torch."))
        if fmt is None and quant is None:
            return None
        return Detection(
            format_type=fmt,
            quantization=quant,
            confidence=0.9 if fmt else 0.7,
            evidence=tuple(evidence),
            detector=self.name,
            trust=self.trust,
            details={"source": label, "dtype": dtype},
        )


def _listed(name: str, subject: DetectionSubject) -> bool:
    """Whether the folder's ``name`` belongs to the subject: with a file list, only the
    listed files do (files fetched from a ``--support-repo`` are left out of it)."""
    return not subject.filenames or name in subject.filenames


@hookimpl
def imageworks_register_detectors() -> list[Detector]:
    """Register the config-file detector."""
    return [ConfigFilesDetector()]
