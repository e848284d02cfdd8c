"""Config-file detection: schemes from config.json and side files, bad JSON."""

from __future__ import annotations

import json
import logging

import pytest

from imageworks.plugins.detectors.config_files import bpw, from_quantization_config, weight_scheme
from imageworks.tools.model_downloader import FormatDetector


def test_vocabulary_helpers():
    """w{bits}g{group}, w{bits} for group -1, int{bits} without a group, EXL2 bpw."""
    assert weight_scheme(4, 128) == "w4g128"
    assert weight_scheme(4, -1) == "w4"
    assert weight_scheme(8, None) == "int8"
    assert weight_scheme(None, 128) is None
    assert bpw(4) == "4.0bpw" and bpw(4.65) == "4.65bpw" and bpw(6.0) == "6.0bpw"


@pytest.mark.parametrize(
    ("qc", "expected"),
    [
        ({"quant_method": "awq", "bits": 4, "group_size": 128}, ("awq", "w4g128")),
        ({"quant_method": "gptq", "bits": 4, "group_size": -1}, ("gptq", "w4")),
        ({"quant_method": "bitsandbytes", "load_in_8bit": True}, ("bnb", "bnb-8bit")),
        ({"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}, ("bnb", "bnb-4bit")),
        ({"quant_method": "exl2", "bits": 6.5}, ("exl2", "6.5bpw")),
        ({"quant_method": "fp8", "activation_scheme": "dynamic"}, ("safetensors", "fp8")),
        ({"quant_method": "mxfp4"}, ("safetensors", "mxfp4")),
        ({"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized", "config_groups": {}},
         ("safetensors", "nvfp4")),
        ({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": 8, "type": "float"}}}},
         ("safetensors", "fp8")),
        ({"quant_method": "squeezellm", "wbits": 4}, ("safetensors", "squeezellm")),
        ({"quant_method": "something-new"}, (None, None)),
    ],
)
def test_quantization_config_schemes(qc, expected):
    """Each method maps to the DESIGN.md vocabulary."""
    fmt, quant, _ = from_quantization_config(qc)
    assert (fmt, quant) == expected


def test_side_files_in_directory(tmp_path):
    """AutoAWQ's quant_config.json (w_bit/q_group_size) names awq w4g128 on disk."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"torch_dtype": "float16"}))
    (folder / "quant_config.json").write_text(json.dumps({"zero_point": True, "q_group_size": 128, "w_bit": 4,
                                                          "version": "GEMM"}))
    (folder / "model.safetensors").write_bytes(b"")
    best = FormatDetector().detect_directory(folder)[0]
    assert (best.format_type, best.quantization, best.details["quant_scheme"]) == ("awq", "awq", "w4g128")
    assert any("quant_config.json" in line for line in best.evidence)


def test_invalid_json_config_warns_and_falls_back(tmp_path, caplog):
    """A damaged config.json is a warning; the file names still decide."""
    with caplog.at_level(logging.WARNING, logger="imageworks"):
        best = FormatDetector().detect_comprehensive(
            model_name="TheBloke/Foo-7B-GPTQ", filenames=["model.safetensors"], config_content="{not json"
        )[0]
    assert "not valid JSON" in caplog.text
    assert (best.format_type, best.trust) == ("gptq", "name")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text('{"quantization_config": ')
    with caplog.at_level(logging.WARNING, logger="imageworks"):
        FormatDetector().detect_directory(folder)
    assert "config.json: not valid JSON" in caplog.text


def test_mlx_quantization_and_dtype():
    """MLX top-level quantization gives mlx/w4g64; a plain dtype gives the float name."""
    mlx = FormatDetector().detect_comprehensive(
        filenames=["model.safetensors"], config_content=json.dumps({"quantization": {"bits": 4, "group_size": 64}})
    )[0]
    assert (mlx.format_type, mlx.quantization) == ("mlx", "w4g64")
    plain = FormatDetector().detect_comprehensive(
        filenames=["model.safetensors"], config_content=json.dumps({"dtype": "bfloat16"})
    )[0]
    assert (plain.format_type, plain.quantization) == ("safetensors", "bf16")
