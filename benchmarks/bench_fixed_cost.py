"""Fixed cost of a download, as processes: ours next to ``hf download`` and curl, and where ours goes.

Run: ``uv run python benchmarks/bench_fixed_cost.py [--runs 5] [--imports 10] [--functions 15]``

Same set-up and runner as ``bench_transfer.py`` (nginx behind the loopback Hub, every
tool a process measured with ``os.wait4``, output and registry checked after each run):

* an instant tiny repo (``config.json`` and a 1 MiB safetensors file) downloaded by ours,
  ``hf download`` and curl (the two ``resolve`` URLs);
* a no-op re-run: the same command again on the installed model (ours and ``hf download``,
  which both check what is there and skip it);
* start-up: ``imageworks-download --help`` (and ``hf --help`` for reference);
* ``list`` of a registry of 3 and of 200 installed entries (``bench_registry.make_registry``);
* the issue-30 targets as ratios of wall times measured in this run: fresh tiny download
  <= 0.5x ``hf download``; no-op re-run, ``--help`` and ``list`` of 200 each <= 0.3x ``hf --help``;
* where our fixed cost goes: the console script once under ``python -X importtime`` (the
  most expensive imports, cumulative) and once under ``cProfile`` (the functions with the
  highest cumulative time; main thread only, so the transfer threads show as waiting).

Every figure is the median of ``--runs`` runs, taken in rounds (each measurement once per
round, so that a shared machine's drift hits every tool alike), each in an empty folder, after one
unmeasured tiny download per tool so that both Python tools run from compiled bytecode,
as installed tools do (see ``keep_bytecode`` in ``bench_transfer.py``). Ours runs with
``IMAGEWORKS_LOAD_PLUGINS=`` (empty: built-in plugins only): the development environment
also has the test suite's example and broken plugins installed, which an installed tool
does not; ``--with-test-plugins`` keeps them.
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_transfer import (
    HF,
    OURS,
    HubServer,
    RemoteFile,
    Sample,
    become_subreaper,
    command,
    fetch_and_check,
    fresh,
    keep_bytecode,
    run_process,
    serve_repo,
    start_nginx,
    verify,
    verify_registry,
    warm_up,
    write_tiny_repo,
)

REPO = "bench/tiny"
NOOP_TARGET = 0.35  # seconds, issue 11
FRESH_OVER_HF = 0.5  # issue 30: fresh tiny download <= 0.5x `hf download`
START_OVER_HF_HELP = 0.3  # issue 30: no-op re-run, --help, list of 200 <= 0.3x `hf --help`
IMPORT_MACHINERY = ("<built-in method builtins.exec>", "<built-in method builtins.__import__>")


def median_sample(samples: list[Sample]) -> Sample:
    """Medians of wall, CPU and peak RSS over runs."""
    return Sample(
        statistics.median(s.wall for s in samples),
        statistics.median(s.cpu for s in samples),
        int(statistics.median(s.rss_kib or 0 for s in samples)),
    )


def first_and_rerun(tool: str, hub: HubServer, remote: list[RemoteFile], run_dir: Path) -> tuple[Sample, Sample]:
    """A download into an empty folder, then the same command again (a no-op), both checked."""
    first = fetch_and_check(tool, hub, REPO, remote, fresh(run_dir))
    again = fetch_and_check(tool, hub, REPO, remote, run_dir)
    if tool == "ours" and "Already downloaded" not in (run_dir / "tool.log").read_text(errors="replace"):
        raise SystemExit("ours: the re-run did not find the model installed")
    shutil.rmtree(run_dir, ignore_errors=True)
    return first, again


def help_sample(argv: list[str], run_dir: Path) -> Sample:
    """Start-up: ``argv`` (a ``--help``) as a process, in an empty folder, away from the user's settings."""
    env = {**os.environ, "HF_HOME": str(run_dir / "hf-home"), "IMAGEWORKS_REGISTRY_DIR": str(run_dir / "registry")}
    return run_process(argv, env=env, cwd=fresh(run_dir), log=run_dir / "tool.log")


def list_sample(entries: int, run_dir: Path) -> Sample:
    """``imageworks-download list`` of a registry of ``entries`` installed entries, as a process."""
    from bench_registry import make_registry

    registry = run_dir / "registry"
    if not registry.exists():
        make_registry(registry, entries)
        install_entries(registry, run_dir / "models")
    env = {**os.environ, "IMAGEWORKS_REGISTRY_DIR": str(registry), "IMAGEWORKS_LOG_DIR": str(run_dir / "logs")}
    sample = run_process([OURS, "list"], env=env, cwd=run_dir, log=run_dir / "tool.log")
    shown = (run_dir / "tool.log").read_text(errors="replace")
    if f"{entries} variant(s)" not in shown:
        raise SystemExit(f"list of {entries}: expected {entries} rows, got: {shown[:300]}")
    return sample


def install_entries(registry: Path, models: Path) -> None:
    """Point every discovered entry at a folder that exists, so ``list`` shows it as installed."""
    import json

    layer = registry / "model_registry.discovered.json"
    entries = json.loads(layer.read_text(encoding="utf-8"))
    for entry in entries:
        folder = models / entry["hf_id"]
        folder.mkdir(parents=True, exist_ok=True)
        entry["download_path"] = str(folder)
    layer.write_text(json.dumps(entries), encoding="utf-8")


def import_times(hub: HubServer, remote: list[RemoteFile], run_dir: Path) -> list[tuple[int, int, int, str]]:
    """(cumulative us, self us, depth, module) of every import of one tiny download of ours."""
    argv, env = command("ours", hub, REPO, remote, fresh(run_dir))
    log = run_dir / "tool.log"
    run_process([sys.executable, "-X", "importtime", *argv], env=env, cwd=run_dir, log=log)
    check_ours(run_dir, remote)
    rows = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("import time:"):
            continue
        own, cumulative, module = line[len("import time:") :].split("|")
        if own.strip().isdigit():  # not the header
            depth = (len(module) - len(module.lstrip()) - 1) // 2
            rows.append((int(cumulative), int(own), depth, module.strip()))
    return sorted(rows, reverse=True)


def profile(hub: HubServer, remote: list[RemoteFile], run_dir: Path) -> pstats.Stats:
    """The ``cProfile`` statistics of one tiny download of ours."""
    argv, env = command("ours", hub, REPO, remote, fresh(run_dir))
    out = run_dir / "profile.out"
    profiled = [sys.executable, "-m", "cProfile", "-o", str(out), *argv]
    run_process(profiled, env=env, cwd=run_dir, log=run_dir / "tool.log")
    check_ours(run_dir, remote)
    return pstats.Stats(str(out))


def top_functions(stats: pstats.Stats, top: int) -> tuple[float, list[tuple[float, float, int, str]]]:
    """Seconds spent importing, and (cumulative s, own s, calls, function) of the ``top`` functions.

    The import machinery's own frames (importlib, ``exec``) are left out of the list:
    they would fill it, and their total is the first figure.
    """
    importing = 0.0
    rows = []
    for key, (_, calls, own, cumulative, _) in stats.stats.items():
        name = where(key)
        if name.endswith("(_find_and_load)"):
            importing = cumulative
        if name.startswith("<frozen importlib") or name in IMPORT_MACHINERY:
            continue
        rows.append((cumulative, own, calls, name))
    return importing, sorted(rows, reverse=True)[:top]


def where(key: tuple[str, int, str]) -> str:
    """``file:line(function)``, the file shortened to its package path."""
    filename, line, function = key
    filename = re.sub(r".*/(site-packages|src|lib/python3\.\d+)/", "", filename)
    return f"{function}" if filename == "~" else f"{filename}:{line}({function})"


def check_ours(run_dir: Path, remote: list[RemoteFile]) -> None:
    """Raise unless a profiled run of ours delivered the files and recorded them."""
    verify("ours", run_dir / "dl" / REPO, remote)
    verify_registry("ours", run_dir / "registry", sum(f.size for f in remote))


def row(what: str, tool: str, sample: Sample) -> str:
    """One Markdown row: wall s, CPU s, peak RSS MiB."""
    return f"| {what} | {tool} | {sample.wall:.3f} | {sample.cpu:.3f} | {sample.rss_kib / 1024:.0f} |"


def print_imports(imports: list[tuple[int, int, int, str]], top: int) -> None:
    """The ``top`` imports by cumulative time, and the total (the sum over top-level imports)."""
    total = sum(cumulative for cumulative, _, depth, _ in imports if depth == 0)
    print(f"`python -X importtime`, one tiny download: {len(imports)} modules, {total / 1000:.0f} ms importing.")
    print(f"The {top} most expensive imports (cumulative: with what they import; depth 0 = imported by nothing else)\n")
    print("| module | depth | cumulative ms | self ms |\n|---|---:|---:|---:|")
    for cumulative, own, depth, module in imports[:top]:
        print(f"| {module} | {depth} | {cumulative / 1000:.1f} | {own / 1000:.1f} |")
    roots = [(c, m) for c, _, depth, m in imports if depth == 0][:top]
    print("\nTop-level imports (they do not overlap): " + ", ".join(f"{m} {c / 1000:.0f} ms" for c, m in roots))


def print_profile(stats: pstats.Stats, top: int) -> None:
    """The ``top`` functions of the profiled tiny download by cumulative time."""
    importing, functions = top_functions(stats, top)
    print(
        f"\n`cProfile`, one tiny download: {stats.total_tt:.3f} s profiled (main thread), "
        f"{importing:.3f} s of it importing."
    )
    print(f"Top {top} functions by cumulative time (import machinery left out)\n")
    print("| function | cumulative s | own s | calls |\n|---|---:|---:|---:|")
    for cumulative, own, calls, name in functions:
        print(f"| `{name}` | {cumulative:.3f} | {own:.3f} | {calls} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement; the median is reported")
    parser.add_argument("--imports", type=int, default=10, help="how many imports to list")
    parser.add_argument("--functions", type=int, default=15, help="how many functions to list")
    parser.add_argument("--with-test-plugins", action="store_true",
                        help="also load the test suite's plugins installed in the development environment")
    args = parser.parse_args()
    become_subreaper()
    if not args.with_test_plugins:
        os.environ["IMAGEWORKS_LOAD_PLUGINS"] = ""  # built-ins only, as an installed tool has

    root = Path(tempfile.mkdtemp(prefix="bench-fixed-"))
    keep_bytecode(root)
    try:
        (root / "www" / "__cdn__").mkdir(parents=True)
        folder = write_tiny_repo(root / "repos" / "tiny")
        nginx, fast, _ = start_nginx(root, 25)
        try:
            with HubServer(lfs_redirect=True, cdn=f"http://localhost:{fast}") as hub:
                remote = serve_repo(hub, root / "www", REPO, folder)
                out = root / "out"
                warm_up(["ours", "hf"], hub, REPO, remote, out)
                for entries in (3, 200):
                    fresh(out / f"list-{entries}")
                # Round by round, each measurement once per round: drift of a shared machine
                # then hits every tool and every command alike, not one block of runs.
                runs: dict[str, list[Sample]] = {}
                for _ in range(args.runs):
                    for tool in ("ours", "hf"):
                        first, again = first_and_rerun(tool, hub, remote, out / tool)
                        runs.setdefault(f"fresh {tool}", []).append(first)
                        runs.setdefault(f"no-op {tool}", []).append(again)
                    runs.setdefault("fresh curl", []).append(fetch_and_check("curl", hub, REPO, remote, fresh(out / "curl")))
                    for tool, argv in (("ours", [OURS, "--help"]), ("hf", [HF, "--help"])):
                        runs.setdefault(f"help {tool}", []).append(help_sample(argv, out / "help"))
                    for entries in (3, 200):
                        runs.setdefault(f"list {entries}", []).append(list_sample(entries, out / f"list-{entries}"))
                medians = {what: median_sample(samples) for what, samples in runs.items()}
                lines = ["| what | tool | wall s | CPU s | peak RSS MiB |", "|---|---|---:|---:|---:|"]
                for tool in ("ours", "hf", "curl"):
                    lines.append(row("tiny repo (config.json + 1 MiB)", tool, medians[f"fresh {tool}"]))
                noop = {tool: medians[f"no-op {tool}"] for tool in ("ours", "hf")}
                for tool, sample in noop.items():
                    lines.append(row("no-op re-run (installed)", tool, sample))
                helps = {tool: medians[f"help {tool}"] for tool in ("ours", "hf")}
                for tool, sample in helps.items():
                    lines.append(row("start-up (--help)", tool, sample))
                lists = {entries: medians[f"list {entries}"] for entries in (3, 200)}
                for entries, sample in lists.items():
                    lines.append(row(f"list ({entries} installed entries)", "ours", sample))
                fresh_wall = {tool: medians[f"fresh {tool}"].wall for tool in ("ours", "hf")}
                imports = import_times(hub, remote, out / "importtime")
                stats = profile(hub, remote, out / "profile")
        finally:
            nginx.terminate()
            nginx.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"Fixed cost, median of {args.runs} runs (CPU = user + sys, children included)\n")
    print("\n".join(lines))
    verdict = "met" if noop["ours"].wall <= NOOP_TARGET else "not met"
    print(f"\nNo-op re-run of ours: {noop['ours'].wall:.3f} s (target <= {NOOP_TARGET} s: {verdict})")
    print("\nTargets (issue 30), ratios of median wall times in this run:\n")
    checks = [
        ("fresh tiny download", fresh_wall["ours"], "hf download", fresh_wall["hf"], FRESH_OVER_HF),
        ("no-op re-run", noop["ours"].wall, "hf --help", helps["hf"].wall, START_OVER_HF_HELP),
        ("--help", helps["ours"].wall, "hf --help", helps["hf"].wall, START_OVER_HF_HELP),
        ("list of 200", lists[200].wall, "hf --help", helps["hf"].wall, START_OVER_HF_HELP),
    ]
    for what, ours, peer, theirs, goal in checks:
        verdict = "met" if ours / theirs <= goal else "NOT met"
        print(f"- {what}: {ours / theirs:.2f}x {peer} (target <= {goal}x: {verdict})")
    print("\n## Where the fixed cost goes\n")
    print_imports(imports, args.imports)
    print_profile(stats, args.functions)

if __name__ == "__main__":
    main()
