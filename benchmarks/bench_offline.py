"""A re-run of an installed model when the Hub cannot be asked: ours next to ``hf download``.

Run: ``uv run python benchmarks/bench_offline.py [--runs 5]``

Both tools download a tiny repo (``config.json`` and a 1 MiB safetensors file) from the
loopback Hub, then run the same command again, as processes, three ways:

* ``HF_HUB_OFFLINE=1``;
* the Hub refuses the connection (``HF_ENDPOINT`` on a closed loopback port);
* the Hub's name does not resolve (``HF_ENDPOINT=http://hub.imageworks-bench.invalid``;
  ``.invalid`` never resolves, RFC 6761; on a machine without DNS the lookup fails at once).

For each: the median wall time over ``--runs``, the exit status and the last line the
tool printed. The table goes to docs/benchmarks.md ("Offline").
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.hub_server import HubServer

BIN = Path(sys.executable).parent  # the project's .venv/bin under ``uv run``
REPO = "bench/tiny"
DEAD_NAME = "http://hub.imageworks-bench.invalid"


def write_tiny_repo(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    (folder / "model.safetensors").write_bytes(os.urandom(1024 * 1024))
    return folder


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(tool: str, hub: HubServer, run_dir: Path) -> dict[str, str]:
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "HF_HOME": str(run_dir / "hf-home")}
    if tool == "ours":
        env.update(IMAGEWORKS_REGISTRY_DIR=str(run_dir / "registry"), IMAGEWORKS_LOG_DIR=str(run_dir / "logs"),
                   IMAGEWORKS_CACHE_DIR=str(run_dir / "cache"), IMAGEWORKS_MODEL_ROOT=str(run_dir / "models"),
                   IMAGEWORKS_LMSTUDIO_ROOT=str(run_dir / "lmstudio"))
    return env


def argv(tool: str, run_dir: Path) -> list[str]:
    if tool == "ours":
        return [str(BIN / "imageworks-download"), "download", REPO, "--no-aria2"]
    return [str(BIN / "hf"), "download", REPO]  # into HF_HOME's cache, as users run it


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    began = time.monotonic()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - began
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return wall, done.returncode, (lines[-1] if lines else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "HF_HUB_OFFLINE=1": {"HF_HUB_OFFLINE": "1"},
        "Hub refuses the connection": {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"},
        "Hub name does not resolve": {"HF_ENDPOINT": DEAD_NAME},
    }
    rows = []
    with tempfile.TemporaryDirectory() as scratch, HubServer() as hub:
        root = Path(scratch)
        hub.add_repo(REPO, write_tiny_repo(root / "repo"))
        for tool in ("ours", "hf"):
            run_dir = root / tool
            run_dir.mkdir()
            env = environment(tool, hub, run_dir)
            wall, code, last = run(argv(tool, run_dir), env, run_dir)
            if code != 0:
                raise SystemExit(f"{tool}: the first download failed: {last}")
            for case, change in cases.items():
                samples = [run(argv(tool, run_dir), {**env, **change}, run_dir) for _ in range(args.runs)]
                codes = {code for _, code, _ in samples}
                rows.append((case, tool, statistics.median(w for w, _, _ in samples), codes, samples[-1][2]))
    print("| Hub | tool | wall (s, median) | exit | last line |")
    print("|---|---|---:|---|---|")
    for case, tool, wall, codes, last in rows:
        shown = last if len(last) <= 150 else last[:147] + "..."
        print(f"| {case} | {tool} | {wall:.2f} | {', '.join(map(str, sorted(codes)))} | {shown.replace('|', '/')} |")


if __name__ == "__main__":
    main()
