"""Save a screenshot of each tab of the Models page under ``docs/screenshots/``.

``uv run python scripts/gui_screenshots.py [--out DIR]`` builds a small registry in a
temporary folder (three generated models, recorded with ``imageworks-download scan``),
starts ``imageworks-gui`` on loopback against it and drives Debian's chromium with
Playwright (``/usr/bin/chromium``; never ``playwright install``) through the five tabs,
saving a 1280x800 PNG of each. The 📥 tab is shot with a background download running
from the test suite's loopback Hub (``tests/support/hub_server.py``, throttled), which
is cancelled afterwards. Nothing leaves the machine and the user's registry is never
touched: every imageworks folder points into the temporary one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import gguf
import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
TABS = [
    ("📚 Browse & Manage", "browse"),
    ("📥 Download & Import", "download"),
    ("🔧 Registry Maintenance", "maintenance"),
    ("🔌 Backends", "backends"),
    ("⚙️ Advanced Operations", "advanced"),
]


def safetensors(path: Path, size: int, seed: int) -> None:
    """A valid one-tensor safetensors file of about ``size`` bytes."""
    count = size // 4
    header = json.dumps({"weight": {"dtype": "F32", "shape": [count], "data_offsets": [0, count * 4]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + random.Random(seed).randbytes(count * 4))


ATTENTION = {"num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 2048,
             "max_position_embeddings": 131072}


def hf_model(folder: Path, model_type: str, size: int, seed: int) -> None:
    """A Hugging Face style folder: config, tokenizer, README with a licence, weights."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_type": model_type, "architectures": ["Model"], **ATTENTION}  # a 1B-class shape: the memory columns fill
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer.json").write_text(json.dumps({"version": "1.0"}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# A small example model\n")
    safetensors(folder / "model.safetensors", size, seed)


def gguf_model(path: Path) -> None:
    """A small GGUF written with the ``gguf`` package (Q4_K_M file type, a chat template)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("Little Llama")
    writer.add_file_type(15)  # MOSTLY_Q4_K_M
    writer.add_chat_template("{{ messages }}")
    writer.add_block_count(ATTENTION["num_hidden_layers"])
    writer.add_head_count(ATTENTION["num_attention_heads"])
    writer.add_head_count_kv(ATTENTION["num_key_value_heads"])
    writer.add_embedding_length(ATTENTION["hidden_size"])
    writer.add_context_length(ATTENTION["max_position_embeddings"])
    writer.add_tensor("token_embd.weight", np.zeros((64, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def populate(base: Path, hub_url: str) -> dict[str, str]:
    """Point every imageworks folder into ``base``, write three models and scan them; return the environment."""
    env = {**os.environ,
           "HOME": str(base / "home"),
           "IMAGEWORKS_REGISTRY_DIR": str(base / "registry"),
           "IMAGEWORKS_LOG_DIR": str(base / "logs"),
           "IMAGEWORKS_MODEL_ROOT": str(base / "weights"),
           "IMAGEWORKS_LMSTUDIO_ROOT": str(base / "lmstudio"),
           "IMAGEWORKS_CACHE_DIR": str(base / "cache"),
           "HF_ENDPOINT": hub_url,
           "HF_HUB_OFFLINE": "0",
           "IMAGEWORKS_DISABLE_PLUGINS": "broken"}  # the test suite's deliberately failing plugin
    for name in ("HF_TOKEN", "IMAGEWORKS_REGISTRY_BACKEND", "IMAGEWORKS_REGISTRY_DSN"):
        env.pop(name, None)
    (base / "home").mkdir(parents=True)
    hf_model(base / "weights" / "sentence-transformers" / "mini-embedder", "bert", 3 << 20, 1)
    hf_model(base / "weights" / "acme" / "little-llama-1b", "llama", 6 << 20, 2)
    gguf_model(base / "lmstudio" / "acme" / "little-llama-1b-GGUF" / "little-llama-1b-q4_k_m.gguf")
    for root in ("weights", "lmstudio"):
        subprocess.run([sys.executable, "-m", "imageworks.cli", "scan", "--base", str(base / root)],
                       env=env, cwd=base, check=True, stdout=subprocess.DEVNULL)
    return env


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shoot(out: Path) -> list[Path]:
    """Take the five screenshots into ``out``; return their paths."""
    from playwright.sync_api import sync_playwright

    from imageworks.gui import jobs
    from imageworks.gui.launcher import serving

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.hub_server import HubServer

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory(prefix="imageworks-shots-") as tmp, HubServer() as hub:
        hf_model(Path(tmp) / "hub" / "tiny-chat", "llama", 24 << 20, 3)
        hub.add_repo("acme/tiny-chat-7b", Path(tmp) / "hub" / "tiny-chat")
        hub.bandwidth = 256 * 1024  # per connection: still running when the tab is shot
        env = populate(Path(tmp), hub.url)
        os.chdir(tmp)  # no pyproject.toml of a checkout configures the GUI
        with serving(free_port(), env=env) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            for label, name in TABS:
                page.get_by_role("tab", name=label).click(timeout=30000)
                panel = page.get_by_role("tabpanel", name=label)
                if name == "download":
                    panel.get_by_label("Model (owner/repo[@branch])").fill("acme/tiny-chat-7b")
                    panel.get_by_label("Model (owner/repo[@branch])").press("Enter")
                    panel.get_by_text("imageworks-download download").first.wait_for(timeout=10000)
                    panel.get_by_text("Dry run", exact=True).click()
                    panel.get_by_role("button", name="Download", exact=True).click()
                    panel.get_by_text(re.compile(r"MiB of .* \([1-9]\d?%\) .* files")).first.wait_for(timeout=60000)
                    panel.get_by_text("Download jobs").scroll_into_view_if_needed()
                    page.screenshot(path=str(out / f"{name}.png"))
                    saved.append(out / f"{name}.png")
                    continue
                if name == "advanced":
                    panel.get_by_role("combobox", name="Variant to remove", exact=True).click()
                    page.get_by_role("option", name="little-llama-1b-gguf-q4_k_m", exact=True).click()
                    panel.get_by_text("imageworks-download remove").first.wait_for(timeout=10000)
                if name == "browse":  # with a GPU size, so the memory columns are filled
                    panel.get_by_label("GPU memory (24GiB: largest context that fits)").fill("24GiB")
                    panel.get_by_label("GPU memory (24GiB: largest context that fits)").press("Enter")
                    panel.get_by_text("imageworks-download list --gpu-mem 24GiB").wait_for(timeout=10000)
                    panel.locator("canvas").last.wait_for(timeout=10000)  # the chart
                page.wait_for_timeout(2500)  # charts and the grid draw after the script run
                path = out / f"{name}.png"
                page.screenshot(path=str(path))
                saved.append(path)
            browser.close()
        for job in jobs.jobs(Path(env["IMAGEWORKS_LOG_DIR"]) / jobs.FOLDER_NAME):
            job.cancel()  # the temporary folder goes away now
    return saved


def main() -> int:
    """Parse the arguments and take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder for the PNGs (default: {OUT})")
    ns = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"Error: {CHROMIUM} is missing (apt-get install chromium fonts-noto-color-emoji)", file=sys.stderr)
        return 1
    for path in shoot(ns.out.resolve()):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
