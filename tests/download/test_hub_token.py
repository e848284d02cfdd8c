"""Our token reader finds the token ``huggingface_hub.get_token()`` finds, in every place it looks.

Each case runs in a fresh interpreter (``huggingface_hub`` fixes its paths when first
imported) with only the environment and files the case gives, and asks both: our
``stored_token()`` against ``get_token()``, and our ``hub_token()`` (what a request
carries) against the ``Authorization`` header ``build_hf_headers()`` makes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json
from imageworks.providers.huggingface import hub_token
import huggingface_hub
from huggingface_hub.utils import build_hf_headers

def outcome(call):
    try:
        return call()
    except Exception:  # ours says ImageworksError where theirs raises IsADirectoryError: both refuse
        return "error"

def sent():
    header = build_hf_headers().get("authorization")
    return header.removeprefix("Bearer ") if header else None

print(json.dumps({
    "ours": outcome(hub_token.stored_token), "theirs": outcome(huggingface_hub.get_token),
    "ours sent": outcome(hub_token.hub_token), "theirs sent": outcome(sent),
}))
"""
DEFAULT = ".cache/huggingface/token"  # under HOME
FAR = 4102444800  # 2100-01-01

CASES: dict[str, tuple[dict[str, str], dict[str, str | bytes | None]]] = {
    # name: (environment, {file under the case's HOME: content; None = a folder})
    "nothing": ({}, {}),
    "HF_TOKEN": ({"HF_TOKEN": "hf_env"}, {}),
    "HF_TOKEN trimmed": ({"HF_TOKEN": "  hf_env\r\n"}, {}),
    "HUGGING_FACE_HUB_TOKEN": ({"HUGGING_FACE_HUB_TOKEN": "hf_old"}, {}),
    "empty HF_TOKEN, then the old name": ({"HF_TOKEN": "", "HUGGING_FACE_HUB_TOKEN": "hf_old"}, {}),
    "blank HF_TOKEN, then the file": ({"HF_TOKEN": " \n "}, {DEFAULT: "hf_file"}),
    "HF_TOKEN before the file": ({"HF_TOKEN": "hf_env"}, {DEFAULT: "hf_file"}),
    "the default file": ({}, {DEFAULT: "hf_file\n"}),
    "XDG_CACHE_HOME": ({"XDG_CACHE_HOME": "{home}/xdg"}, {"xdg/huggingface/token": "hf_xdg", DEFAULT: "hf_not_this"}),
    "HF_HOME": ({"HF_HOME": "{home}/hf-home", "XDG_CACHE_HOME": "{home}/xdg"}, {"hf-home/token": "hf_home"}),
    "HF_HOME with ~ and $VAR": ({"HF_HOME": "~/hh/$SUB", "SUB": "x"}, {"hh/x/token": "hf_expanded"}),
    "HF_TOKEN_PATH": ({"HF_TOKEN_PATH": "{home}/elsewhere/tok", "HF_HOME": "{home}/hf-home"},
                      {"elsewhere/tok": "hf_path", "hf-home/token": "hf_not_this"}),
    "line breaks inside": ({}, {DEFAULT: "hf_a\r\nbc\n"}),
    "an empty file": ({}, {DEFAULT: ""}),
    "a blank file": ({}, {DEFAULT: " \n \n"}),
    "the token file is a folder": ({}, {DEFAULT: None}),
    "the token file is not text": ({}, {DEFAULT: b"hf_\xff\xfe"}),
    "implicit token disabled": ({"HF_HUB_DISABLE_IMPLICIT_TOKEN": "1", "HF_TOKEN": "hf_env"}, {}),
    "implicit token disabled, file": ({"HF_HUB_DISABLE_IMPLICIT_TOKEN": "on"}, {DEFAULT: "hf_file"}),
    "implicit token not disabled": ({"HF_HUB_DISABLE_IMPLICIT_TOKEN": "no", "HF_TOKEN": "hf_env"}, {}),
    "staging": ({"HUGGINGFACE_CO_STAGING": "TRUE", "HF_HOME": "{home}/hf-home"},
                {".cache/huggingface_staging/token": "hf_staging", "hf-home/token": "hf_not_this"}),
    "stored tokens, no refresh token": ({}, {DEFAULT: "hf_file", ".cache/huggingface/stored_tokens": "[main]\nhf_token = hf_file\n"}),
    "browser login, far from expiry": ({}, {DEFAULT: "hf_oauth", ".cache/huggingface/stored_tokens":
                                            f"[web]\nhf_token = hf_oauth\nrefresh_token = hf_r\nexpires_at = {FAR}\n"}),
}


def run_probe(home: Path, environment: dict[str, str]) -> dict[str, str | None]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.update({name: value.replace("{home}", str(home)) for name, value in environment.items()})
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=home, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, str | None] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("case", list(CASES))
def test_our_token_reader_agrees_with_get_token(case: str, tmp_path: Path) -> None:
    environment, files = CASES[case]
    home = tmp_path / "case-home"  # the isolation fixture has its own HOME here already
    home.mkdir()
    for name, content in files.items():
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    found = run_probe(home, environment)
    assert found["ours"] == found["theirs"], found
    assert found["ours sent"] == found["theirs sent"], found
    if case == "nothing":
        assert found["ours"] is None
    elif files or environment.get("HF_TOKEN", "").strip() or environment.get("HUGGING_FACE_HUB_TOKEN"):
        assert found["ours"] is None or found["ours"] == "error" or found["ours"].startswith("hf_"), found
        assert found["ours"] != "hf_not_this"
