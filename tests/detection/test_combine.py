"""The combiner: plugin discovery, header > config > name precedence, failing detectors."""

from __future__ import annotations

import json
import logging

from imageworks.core.detection import combine, detect
from imageworks.core.interfaces import Detector
from imageworks.core.model import Detection, DetectionSubject
from imageworks.core.plugins import get_plugins
from imageworks.tools.model_downloader import FormatDetector


def test_built_in_detectors_come_from_entry_points():
    """The four built-ins are registered as plugins, each with its trust level."""
    found = {d.name: d.trust for d in get_plugins().detectors()}
    assert found == {"gguf-header": "header", "safetensors-header": "header", "config-files": "config",
                     "names": "name"} | {k: v for k, v in found.items() if k not in
                                         {"gguf-header", "safetensors-header", "config-files", "names"}}
    records = {r.name: r.status for r in get_plugins().records()}
    for name in ("detect-gguf", "detect-safetensors", "detect-config", "detect-names", "router"):
        assert records[name] == "loaded"


def test_guide_section_9_3_example_runs_as_written():
    """The guide's FormatDetector example: awq first, with evidence and a confidence."""
    detector = FormatDetector()
    formats = detector.detect_comprehensive(
        model_name="microsoft/DialoGPT-medium-awq",
        filenames=["model.safetensors", "config.json"],
        config_content='{"quantization_config": {"quant_method": "awq"}}',
    )
    assert formats[0].format_type == "awq"
    assert 0 < formats[0].confidence <= 1
    assert any("quant_method=awq" in line for line in formats[0].evidence)
    assert [f.format_type for f in formats][0] == "awq"


def _d(fmt, quant, trust, conf=0.5, name=None):
    return Detection(format_type=fmt, quantization=quant, confidence=conf, trust=trust, detector=name or trust,
                     evidence=(f"{trust} says {fmt}/{quant}",))


def test_header_beats_config_beats_name():
    """Disagreeing answers: the header's wins and the others become alternatives."""
    result = combine([[_d("safetensors", "fp16", "name", 0.9)], [_d(None, "fp32", "config", 0.9)],
                      [_d("safetensors", "bf16", "header", 0.6)]])
    assert (result[0].format_type, result[0].quantization, result[0].trust) == ("safetensors", "bf16", "header")
    assert [(r.quantization, r.trust) for r in result[1:]] == [("fp16", "name")]


def test_method_refines_container_and_quant_fills_in():
    """A packed safetensors header plus an AWQ config is awq with the config's scheme."""
    result = combine([[_d("safetensors", None, "header", 0.85)], [_d("awq", "w4g128", "config", 0.9)],
                      [_d("awq", None, "name", 0.6)]])
    assert (result[0].format_type, result[0].quantization, result[0].details["quant_scheme"]) == ("awq", "awq", "w4g128")
    assert result[0].detector == "header+config+name"
    assert len(result) == 1


def test_float_header_is_not_overruled_by_a_config_method():
    """Unquantised floats in the header mean the config's awq claim is wrong."""
    result = combine([[_d("safetensors", "bf16", "header", 0.95)], [_d("awq", "w4g128", "config", 0.9)]])
    assert (result[0].format_type, result[0].quantization) == ("safetensors", "bf16")
    assert (result[1].format_type, result[1].quantization) == ("awq", "w4g128")


def test_gguf_files_win_over_a_config_and_its_dtype():
    """GGUF weights make the model GGUF even when a config.json names a dtype or method."""
    result = FormatDetector().detect_comprehensive(
        model_name="someone/foo-GGUF", filenames=["foo.Q4_K_M.gguf", "config.json"],
        config_content=json.dumps({"torch_dtype": "bfloat16"}),
    )
    assert (result[0].format_type, result[0].quantization) == ("gguf", "q4_k_m")


class _Broken(Detector):
    name = "broken"
    trust = "header"

    def detect(self, subject):
        raise RuntimeError("boom")


class _Fixed(Detector):
    name = "fixed"
    trust = "config"

    def detect(self, subject):
        return [Detection(format_type="gptq", quantization="w4g128", confidence=0.9)]


def test_failing_detector_is_logged_and_skipped(caplog):
    """A detector that raises does not stop the others; its name is in the warning."""
    with caplog.at_level(logging.WARNING, logger="imageworks"):
        result = detect(DetectionSubject(model_name="x/y"), [_Broken(), _Fixed()])
    assert "detector 'broken' failed" in caplog.text
    assert (result[0].format_type, result[0].quantization) == ("gptq", "w4g128")
    assert result[0].detector == "fixed" and result[0].trust == "config"


def test_nothing_known_gives_no_candidates():
    """No evidence at all: an empty list, not a guess."""
    assert FormatDetector().detect_comprehensive() == []
    assert FormatDetector().detect_comprehensive(model_name="someone/plain-model", filenames=["README.md"]) == []
