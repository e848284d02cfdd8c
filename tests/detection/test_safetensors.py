"""safetensors header detection: real MiniLM, shards, quantised layouts and bad headers."""

from __future__ import annotations

import json
import logging
import struct

import pytest

from imageworks.formats.safetensors_reader import SafetensorsFormatError, read_header
from imageworks.tools.model_downloader import FormatDetector


def test_real_minilm_is_safetensors_fp32(minilm_dir):
    """The real snapshot is fp32 from its header; parameters exclude the int64 buffer."""
    best = FormatDetector().detect_directory(minilm_dir)[0]
    assert (best.format_type, best.quantization, best.trust) == ("safetensors", "fp32", "header")
    facts = best.details["safetensors-header"]
    assert facts["parameter_count"] == 22_713_216
    assert facts["metadata"] == {"format": "pt"}
    assert facts["header_bytes_read"] < 16 * 1024


def test_sharded_set_through_index(tmp_path, make_safetensors):
    """Shards named by model.safetensors.index.json are one bf16 model."""
    folder = tmp_path / "m"
    make_safetensors(folder / "model-00001-of-00002.safetensors", {"a.weight": ("BF16", [4, 4])})
    make_safetensors(folder / "model-00002-of-00002.safetensors", {"b.weight": ("BF16", [4, 2])})
    index = {"metadata": {"total_size": 48}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                                            "b.weight": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    results = FormatDetector().detect_directory(folder)
    assert (results[0].format_type, results[0].quantization) == ("safetensors", "bf16")
    assert results[0].details["safetensors-header"]["parameter_count"] == 24
    assert sum(1 for r in results if r.format_type == "safetensors") == 1


@pytest.mark.parametrize(
    ("tensors", "expected"),
    [
        # GPTQ: qweight [in/8, out], scales [in/group, out], g_idx [in]
        ({"l.qweight": ("I32", [512, 1024]), "l.qzeros": ("I32", [32, 128]), "l.scales": ("F16", [32, 1024]),
          "l.g_idx": ("I32", [4096])}, ("gptq", "w4g128")),
        ({"l.qweight": ("I32", [1024, 1024]), "l.scales": ("F16", [1, 1024]), "l.g_idx": ("I32", [4096])},
         ("gptq", "w8")),
        # AWQ: qweight [in, out/8], scales [in/group, out]
        ({"l.qweight": ("I32", [4096, 128]), "l.qzeros": ("I32", [64, 128]), "l.scales": ("F16", [64, 1024])},
         ("awq", "awq", "w4g64")),
        ({"l.weight": ("U8", [8, 1]), "l.weight.absmax": ("F32", [4]),
          "l.weight.quant_state.bitsandbytes__nf4": ("U8", [10])}, ("bnb", "bnb-4bit")),
        ({"l.weight": ("F8_E4M3", [64, 64]), "l.weight_scale": ("F32", [1]), "e.weight": ("BF16", [8, 8])},
         ("safetensors", "fp8")),
        ({"l.mlp.experts.down_proj_blocks": ("U8", [4, 8]), "l.mlp.experts.down_proj_scales": ("U8", [4]),
          "e.weight": ("BF16", [8, 8])}, ("safetensors", "mxfp4")),
        ({"l.q_weight": ("I32", [4, 4]), "l.q_scale": ("I32", [4]), "l.q_groups": ("I16", [2])}, ("exl2", None)),
        ({"l.weight": ("F16", [8, 8])}, ("safetensors", "fp16")),
    ],
)
def test_layouts_from_tensor_names_and_shapes(tmp_path, make_safetensors, tensors, expected):
    """Packed layouts are named from the header alone; GPTQ/AWQ bits and groups from shapes."""
    make_safetensors(tmp_path / "m" / "model.safetensors", tensors)
    best = FormatDetector().detect_directory(tmp_path / "m")[0]
    assert (best.format_type, best.quantization) == expected[:2]
    if len(expected) == 3:  # AWQ: quantization names the method, the bits/group scheme is kept beside it
        assert best.details["quant_scheme"] == expected[2]


def test_huge_header_length_is_refused_and_falls_back(tmp_path, caplog):
    """A header claiming 2**40 bytes is refused without reading; the config decides."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 2**40) + b"{}")
    (folder / "config.json").write_text(json.dumps({"torch_dtype": "float16"}))
    with pytest.raises(SafetensorsFormatError, match="claims"):
        read_header(folder / "model.safetensors")
    with caplog.at_level(logging.WARNING, logger="imageworks"):
        best = FormatDetector().detect_directory(folder)[0]
    assert "cannot read safetensors header" in caplog.text
    assert (best.format_type, best.quantization) == ("safetensors", "fp16")
    assert best.trust == "config"


def test_header_longer_than_file_and_garbage_json(tmp_path):
    """Lengths past the end of the file and non-JSON headers are errors, not crashes."""
    short = tmp_path / "short.safetensors"
    short.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(SafetensorsFormatError):
        read_header(short)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(struct.pack("<Q", 4) + b"\xff\xfe{[")
    with pytest.raises(SafetensorsFormatError, match="not valid JSON"):
        read_header(garbage)
    (tmp_path / "tiny.safetensors").write_bytes(b"abc")
    with pytest.raises(SafetensorsFormatError):
        read_header(tmp_path / "tiny.safetensors")
