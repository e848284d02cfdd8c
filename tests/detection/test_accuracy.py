"""Accuracy on real public repositories' file lists and configs (tests/data/detection).

Each case is one test; ``test_accuracy_report`` prints the overall figure that
docs/detection.md quotes and fails if it drops below 90 %.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imageworks.tools.model_downloader import FormatDetector

CASES = json.loads((Path(__file__).parents[1] / "data" / "detection" / "repos.json").read_text())["cases"]


def _detect(case):
    config = json.dumps(case["config"]) if case["config"] is not None else None
    found = FormatDetector().detect_comprehensive(
        model_name=case["model_name"], filenames=case["filenames"], config_content=config
    )
    return (found[0].format_type, found[0].quantization) if found else (None, None)


def _scheme(case):
    config = json.dumps(case["config"]) if case["config"] is not None else None
    found = FormatDetector().detect_comprehensive(
        model_name=case["model_name"], filenames=case["filenames"], config_content=config
    )
    return found[0].details.get("quant_scheme")


@pytest.mark.parametrize("case", CASES, ids=[c["source"].split(" ")[0] for c in CASES])
def test_real_repository(case):
    """Format and quantisation as an expert would name them (AWQ: ``awq``, its scheme beside it)."""
    assert _detect(case) == (case["expected"]["format"], case["expected"]["quantization"])
    if "quant_scheme" in case["expected"]:
        assert _scheme(case) == case["expected"]["quant_scheme"]


def test_accuracy_report(capsys):
    """Overall accuracy (format and quantisation both right), printed for the docs."""
    right = sum(_detect(c) == (c["expected"]["format"], c["expected"]["quantization"]) for c in CASES)
    formats = sum(_detect(c)[0] == c["expected"]["format"] for c in CASES)
    with capsys.disabled():
        print(f"\ndetection accuracy: {right}/{len(CASES)} exact, {formats}/{len(CASES)} format")
    assert right / len(CASES) >= 0.9
