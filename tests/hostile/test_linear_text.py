"""Text from outside is handled in linear time: adversarial input at the read cap, time bounded.

The bound is generous (a loaded machine); a backtracking pattern takes minutes to hours on
these inputs (the old README licence pattern took 15 s on 20k spaces and hours at 2 MiB).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from imageworks.core.logs import redact
from imageworks.core.model import DetectionSubject
from imageworks.core.naming import normalize_name, split_quant
from imageworks.plugins.detectors.names import NamesDetector
from imageworks.providers.ollama.refs import pull_name
from imageworks.services.acquire.readme import MAX_SCANNED, capture_readme, licence_from_text, readme_signals

BOUND = 2.0  # seconds; the README case runs in about 0.2 s at the cap
CAP = MAX_SCANNED


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _fill(head: str, unit: str, tail: str, size: int = CAP) -> str:
    return head + unit * ((size - len(head) - len(tail)) // len(unit)) + tail


README_CASES = {
    "licence key then spaces then #": _fill("---\nlicense: a", " ", "#\n---\n"),
    "licence key then spaces, no front matter end": _fill("---\nlicense: a", " ", "#"),
    "licence key then newlines": _fill("---\nlicense:", "\n", "x"),
    "front matter opened, dashes lines": _fill("---\n", "\n--- x", ""),
    "letters": _fill("", "a", ""),
    "digits before bpw": _fill("", "1", " bpw"),
    "dotted numbers": _fill("", "1.", "bpw"),
    "spaces": _fill("", " ", ""),
    "apache license then commas": _fill("apache license", ", ", "x"),
    "licence mit spacing": _fill("license:", " ", "mi"),
    "quant prefixes": _fill("", "q1_", ""),
    "iq tokens glued": _fill("", "xiq4_xs", ""),
    "almost tokens": _fill("", "awqx ggufz ", ""),
    "thinking runs": _fill("", "thinking  ", "x"),
    "chain of": _fill("", "chain-of-", ""),
}


@pytest.mark.parametrize("text", README_CASES.values(), ids=README_CASES.keys())
def test_readme_signals_at_the_read_cap(text: str) -> None:
    """Every README signal and the licence at 2 MiB of adversarial text: well under the bound."""
    assert len(text.encode()) <= CAP
    assert _timed(lambda: readme_signals(text)) < BOUND


def test_capture_readme_reads_the_cap_in_time(tmp_path: Path) -> None:
    """The whole capture (read, hash, signals, licence) of a hostile 3 MiB README folder."""
    (tmp_path / "README.md").write_text(_fill("---\nlicense: a", " ", "#\n---\n", 3 * CAP // 2))
    elapsed = _timed(lambda: capture_readme(tmp_path))
    assert elapsed < BOUND, f"capture_readme took {elapsed:.2f} s"
    assert capture_readme(tmp_path)["readme_file"] == "README.md"  # front matter unclosed within the cap: no licence


def test_the_fast_patterns_still_find_what_the_old_ones_did() -> None:
    """Whole tokens only, the licence as before; YAML comments and quotes handled."""
    signals = readme_signals("Run 4.65bpw or 6 bpw EXL2, q4_K_M, IQ2_XS; reasoning effort; enable_thinking; CoT.")
    assert {"bpw", "exl2", "k-quants"} <= set(signals["quant_schemes"])
    assert {"reasoning", "reasoning-effort", "thinking", "chain-of-thought"} <= set(signals["reasoning_hints"])
    assert "bpw" not in readme_signals("x4bpw and 123456789012345678901234567890bpw")["quant_schemes"]
    assert readme_signals("sentence-transformers only")["backends"] == ["sentence-transformers"]
    assert licence_from_text("---\nlicense: 'MIT' # the licence\n---\n") == ("mit", "front-matter")
    assert licence_from_text("---\nLicence:\n  - apache-2.0\n---\nbody") == ("apache-2.0", "front-matter")
    assert licence_from_text("---\ntitle: x\n---\nUnder the Apache License, Version 2.0 and the MIT license") == (
        "apache-2.0", "text")
    assert licence_from_text("mylicense: mit") is None


NAME_CASES = {
    "quant underscores": "q4" + "_k" * 200_000,
    "at signs": "@" * 400_000,
    "dashes": "-" * 400_000,
    "glued quant tokens": "xq4_k_m" * 60_000,
    "digits before bpw": "1" * 400_000 + "bpw",
    "bits and groups": "4bit-" * 80_000,
}


@pytest.mark.parametrize("name", NAME_CASES.values(), ids=NAME_CASES.keys())
def test_names_from_a_hub_or_a_store(name: str) -> None:
    """Naming and Ollama reference parsing on 400 KB names (a Hub or store name is far shorter)."""
    assert _timed(lambda: (normalize_name(name), split_quant(name), pull_name(name), pull_name("ollama://" + name))) < BOUND
    subject = DetectionSubject(model_name=f"org/{name}", filenames=(f"{name}.safetensors", f"{name}.gguf", f"{name}.bin"))
    assert _timed(lambda: NamesDetector().detect(subject)) < BOUND


LOG_CASES = {
    "authorization spaces": _fill("authorization", " ", "x"),
    "password quote escapes": _fill("password='", "\\a", ""),
    "uri user runs": _fill("", "://a:b", ""),
    "bearer runs": _fill("", "bearer ", ""),
    "key flags": _fill("", "--api-key ", ""),
}


@pytest.mark.parametrize("text", LOG_CASES.values(), ids=LOG_CASES.keys())
def test_log_redaction(text: str) -> None:
    """Redaction runs on every log line, including text a server sent."""
    assert _timed(lambda: redact(text)) < BOUND
