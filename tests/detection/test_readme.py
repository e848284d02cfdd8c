"""README capture: hash, signals, licence order, bad files."""

from __future__ import annotations

import hashlib
import logging

from imageworks.services.acquire.readme import capture_readme, readme_signals


def test_real_minilm_readme(minilm_dir):
    """The real card: apache-2.0 from front matter, hashed, sentence-transformers named."""
    info = capture_readme(minilm_dir)
    assert info["readme_file"] == "README.md"
    assert info["license"] == "apache-2.0"
    assert info["readme_signals"]["license_source"] == "front-matter"
    assert info["readme_sha256"] == hashlib.sha256((minilm_dir / "README.md").read_bytes()).hexdigest()
    assert "sentence-transformers" in info["readme_signals"]["backends"]


def test_signals_from_text():
    """Quant schemes, backends and reasoning hints, whole words only."""
    text = ("Serve with vLLM or SGLang; run the GGUF in LM Studio, Ollama or llama.cpp (llama-server). "
            "AWQ w4g128 and GPTQ builds, 4.0bpw EXL2, MLX via mlx-lm, TGI too. Supports thinking mode with "
            "<think> tags. Licensed under the Apache License, Version 2.0.")
    signals = readme_signals(text)
    assert {"awq", "gptq", "gguf", "exl2", "bpw", "wNgM", "mlx"} <= set(signals["quant_schemes"])
    assert {"vllm", "sglang", "lm-studio", "ollama", "llama.cpp", "mlx", "tgi"} <= set(signals["backends"])
    assert {"thinking", "think-tags"} <= set(signals["reasoning_hints"])
    assert (signals["license"], signals["license_source"]) == ("apache-2.0", "text")
    assert readme_signals("a stgi awqward mlxx ollamas")["backends"] == []


def test_front_matter_licence_beats_text(tmp_path):
    """Front matter first; a licence mentioned in the text does not override it."""
    (tmp_path / "README.md").write_text("---\nlicense: llama3.1\ntags: [x]\n---\nAlso see the MIT License.\n")
    assert capture_readme(tmp_path)["license"] == "llama3.1"


def test_licence_file_when_readme_says_nothing(tmp_path):
    """No licence in the README: the LICENSE file's text names it."""
    (tmp_path / "README.md").write_text("# A model\n")
    (tmp_path / "LICENSE").write_text("MIT License\n\nCopyright (c) 2024 someone\n")
    info = capture_readme(tmp_path)
    assert info["license"] == "mit" and info["readme_signals"]["license_source"] == "LICENSE"


def test_binary_readme_warns_and_keeps_going(tmp_path, caplog):
    """A binary README gives a warning, a hash and no signals."""
    (tmp_path / "README.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00" + bytes(range(256)))
    with caplog.at_level(logging.WARNING, logger="imageworks"):
        info = capture_readme(tmp_path)
    assert "looks binary" in caplog.text
    assert info["readme_signals"] == {} and info["readme_sha256"] and info["license"] is None


def test_large_readme_is_not_hashed(tmp_path):
    """Over 10 MiB: no sha256, signals still taken from the start."""
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n" + "x" * (10 * 1024 * 1024 + 1))
    info = capture_readme(tmp_path)
    assert info["readme_sha256"] is None and info["license"] == "mit"


def test_no_readme(tmp_path):
    """An empty folder gives empty fields, not an error."""
    assert capture_readme(tmp_path) == {"readme_file": None, "readme_sha256": None, "readme_signals": {},
                                        "license": None}
