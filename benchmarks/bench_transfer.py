"""Transfer speed on loopback, every tool timed as a process: ours next to curl, aria2c and ``hf download``.

Run: ``uv run python benchmarks/bench_transfer.py [--single-mib 512] [--big-mib 2048]
[--shard-mib 64] [--shards 8] [--cap-mb 25] [--runs 3] [--tools ...] [--cases ...]``

Users meet our tool as a process, so it is measured as one, started exactly as the peers
are: ``imageworks-download download bench/<kind> --location DIR --non-interactive
--no-aria2`` (``ours``) or ``--aria2`` (``ours-aria2``), with a fresh registry, log and
cache folder per run. Its figure therefore includes start-up, metadata, planning, the
transfer, sha256 verification, detection and recording. ``ours-inproc`` (only when named
in ``--tools``) is the old in-process figure: ``PythonEngine().fetch`` called in this
process, transfer and verification only.

nginx (Debian's) serves the bytes on 127.0.0.1, once unthrottled and once through
``cap_relay.py``, which caps each TCP connection with no burst, like a CDN. The loopback Hub from ``tests/support`` answers
the API and redirects each ``resolve`` URL to nginx under another origin (``localhost``),
as huggingface.co redirects to its CDN, so every tool starts from the same ``resolve`` URLs.

Every process goes through one runner: ``subprocess.Popen`` starts a tiny ``sh`` that puts
the tool in the background and exits; this process is a child subreaper, so the tool
becomes its child and ``os.wait4`` returns its wall time, CPU seconds (user + sys, its
waited-for children included) and peak RSS (``ru_maxrss``, the largest single process
of the tree). The ``sh`` step is there because Linux carries the parent's peak RSS into a
child over ``exec``: spawned from this (large) Python process directly, even ``true``
would report this process's RSS. Spawned from ``sh`` the floor is about 1 MiB.

Reported: MB/s (10^6 bytes of repo per second of process wall time), CPU s per GB and
peak RSS MiB, each the median of ``--runs`` runs. Before timing, every Python tool (ours,
hf) downloads a tiny repo once, unmeasured, so that all runs use compiled bytecode, as
an installed tool does (``keep_bytecode``). Every run starts in an empty folder
after ``sync``; afterwards (outside the timing) every tool's output is checked: exactly the
expected files, each with the right size and sha256, nothing else left behind (no
``.aria2`` control file, no partial file), and for ours one registry entry of the right
size. A tool that did not deliver stops the benchmark. (Plain ``aria2c URL1 URL2`` would
treat the URLs as mirrors of *one* file; the peer therefore gets an input file with one
entry per file.)
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import hashlib
import json
import os
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imageworks.transfer import PythonEngine, RemoteFile, TransferJob
from tests.support.hub_server import HubServer

# nginx serves the bytes unthrottled; the capped port is ``cap_relay.py`` in front of it,
# which paces each TCP connection with no burst (its docstring says why nginx's own
# ``limit_rate`` and ``proxy_download_rate`` would not do).
NGINX_CONF = """
user root;
worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
  log_format timing '$msec $request_time $status $uri';
  access_log {root}/access.log timing;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  server {{ listen 127.0.0.1:{fast}; root {root}/www; }}
}}
"""
CAP_RELAY = Path(__file__).with_name("cap_relay.py")
ACCESS_LOG = Path("/nonexistent/access.log")  # set by start_nginx

PEERS = ("curl", "aria2c", "hf")
# Not a peer, a reference: curl piped through `openssl dgst -sha256`, verifying every byte as ours does.
REFERENCE = "curl+openssl"
OURS_TOOLS = ("ours", "ours-aria2")  # our console script, as a process
TOOLS = "curl,curl+openssl,aria2c,hf,ours"  # also: ours-aria2, ours-inproc (the engine alone, in this process)
BIN = Path(sys.executable).parent  # the project's .venv/bin under ``uv run``
OURS = str(BIN / "imageworks-download")
HF = str(BIN / "hf")
PR_SET_CHILD_SUBREAPER = 36
# Start "$@" in the background with its output in the log file, print its pid, exit.
LAUNCH = 'log=$1; shift; "$@" >"$log" 2>&1 </dev/null & echo $!'


@dataclass(frozen=True)
class Sample:
    """One measured run: wall seconds, CPU seconds (user + sys), peak RSS in KiB (None in process)."""

    wall: float
    cpu: float
    rss_kib: int | None
    wire: float | None = None  # first request's start to last answer's end, as nginx logged them
    peak_streams: int | None = None  # most answers of one file in flight at once
    before_wire: float | None = None  # process start to the first request (the rest of outside is after)


def wire_activity(log: Path, offset: int) -> tuple[float | None, int | None, float | None]:
    """Wire time, peak streams per file and the first request's time (Unix seconds) from
    nginx's access log lines after ``offset``.

    Each line is ``$msec $request_time $status $uri``: an answer's end and duration, so
    its start is their difference (ms resolution). Only the repo's bytes (``/__cdn__/``)
    count. Behind the cap relay nginx may finish up to a socket buffer before the client.
    """
    spans: dict[str, list[tuple[float, float]]] = {}
    with log.open("rb") as handle:
        handle.seek(offset)
        for line in handle.read().decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[3].startswith("/__cdn__/") and parts[2] in ("200", "206"):
                end, took = float(parts[0]), float(parts[1])
                spans.setdefault(parts[3], []).append((end - took, end))
    if not spans:
        return None, None, None
    every = [span for per_file in spans.values() for span in per_file]
    first = min(start for start, _ in every)
    return max(end for _, end in every) - first, max(_peak(per_file) for per_file in spans.values()), first


def _peak(spans: list[tuple[float, float]]) -> int:
    """Most intervals open at one moment (an answer ending as another starts does not overlap it)."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda e: (e[0], e[1]))
    peak = level = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


# -- measuring ---------------------------------------------------------------------------


def become_subreaper() -> None:
    """Make orphaned descendants (the tools started by ``run_process``) children of this process."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def run_process(argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> Sample:
    """Run ``argv`` to completion and measure it with ``os.wait4``; raise if it fails.

    Needs ``become_subreaper()`` first. The tool's stdout and stderr go to ``log``.
    """
    began = time.monotonic()
    launch = ["/bin/sh", "-c", LAUNCH, "sh", str(log), *argv]
    launcher = subprocess.Popen(launch, env=env, cwd=cwd, stdout=subprocess.PIPE)
    pid = int(launcher.communicate()[0])
    _, status, usage = os.wait4(pid, 0)  # the launcher has exited, so the tool is our child now
    wall = time.monotonic() - began
    if os.waitstatus_to_exitcode(status) != 0:
        tail = log.read_text(errors="replace")[-2000:].strip()
        raise SystemExit(f"{Path(argv[0]).name} failed ({os.waitstatus_to_exitcode(status)}): {tail}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def run_in_process(action: Callable[[], object]) -> Sample:
    """Time ``action`` in this process; CPU includes the Hub's threads, RSS is not meaningful."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    action()
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(wall, cpu, None)


# -- serving -----------------------------------------------------------------------------


def write_random(path: Path, mib: int) -> None:
    """A valid safetensors file of exactly ``mib`` MiB: one U8 tensor of incompressible bytes.

    Valid, so that our detection reads a real header as it would on a real model.
    """
    header_size = 128
    payload = mib * 1024 * 1024 - 8 - header_size
    header = json.dumps({"weight": {"dtype": "U8", "shape": [payload], "data_offsets": [0, payload]}})
    generator = random.Random(path.name)
    with path.open("wb") as handle:
        handle.write(header_size.to_bytes(8, "little") + header.ljust(header_size).encode())
        for _ in range(payload // (16 << 20)):
            handle.write(generator.randbytes(16 << 20))
        handle.write(generator.randbytes(payload % (16 << 20)))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Servers:
    """nginx and the cap relay in front of it, stopped together."""

    def __init__(self, processes: list[subprocess.Popen[bytes]]) -> None:
        self.processes = processes

    def terminate(self) -> None:
        for process in self.processes:
            process.terminate()

    def wait(self) -> None:
        for process in self.processes:
            process.wait()


def start_nginx(root: Path, cap_mb: int) -> tuple[Servers, int, int]:
    """nginx serving ``root/www`` unthrottled, and the same at ``cap_mb`` MiB/s per connection.

    nginx logs every answer to ``root/access.log`` (``ACCESS_LOG``), which gives each run's
    wire time and peak streams per file (:func:`wire_activity`).
    """
    global ACCESS_LOG
    ACCESS_LOG = root / "access.log"
    fast, capped = free_port(), free_port()
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, fast=fast), encoding="utf-8")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    processes = [subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"])]
    processes.append(subprocess.Popen([sys.executable, str(CAP_RELAY), str(capped), str(fast), str(cap_mb * 1024 * 1024)]))
    time.sleep(0.5)
    return Servers(processes), fast, capped


def serve_repo(hub: HubServer, www: Path, repo_id: str, folder: Path) -> list[RemoteFile]:
    """Serve ``folder`` as ``repo_id``, its LFS blobs through nginx; return its files by resolve URL."""
    repo = hub.add_repo(repo_id, folder)
    files = list(repo.revisions["main"].files.values())
    for hub_file in files:
        link = www / "__cdn__" / hub_file.sha256
        if hub_file.lfs and not link.exists():
            link.symlink_to(hub_file.source)
    return [RemoteFile(hub.resolve_url(repo_id, f.path), f.path, f.size, f.sha256) for f in files]


def write_tiny_repo(folder: Path) -> Path:
    """An instant repo: ``config.json`` and a 1 MiB ``model.safetensors``."""
    folder.mkdir(parents=True)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64}
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    write_random(folder / "model.safetensors", 1)
    return folder


def keep_bytecode(root: Path) -> None:
    """Let the Python tools started from here (ours, hf) keep compiled bytecode in ``root/pycache``.

    An installed tool runs from ``.pyc`` files after its first start. Without them (uv
    does not compile at install, and ``PYTHONDONTWRITEBYTECODE`` stops Python writing
    them) every start compiles each imported module from source, about 1.5 s here, which
    is not the tool's cost. Only the children see this; the cache lives in ``root``.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(root / "pycache")


def warm_up(tools: list[str], hub: HubServer, repo_id: str, remote: list[RemoteFile], out: Path) -> None:
    """One unmeasured tiny download per Python tool, so its bytecode is compiled before timing."""
    for tool in tools:
        if tool == "hf" or tool in OURS_TOOLS:
            run_tool(tool, hub, repo_id, remote, out / f"warm-up-{tool}")


# -- checking ----------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in 8 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify(tool: str, folder: Path, remote: list[RemoteFile]) -> None:
    """Raise unless ``folder`` holds exactly the expected files, complete and correct."""
    expected = {f.relative_path: f for f in remote}
    found = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(folder).parts  # hf keeps metadata in .cache
    }
    if found != set(expected):
        raise SystemExit(f"{tool}: expected {sorted(expected)}, found {sorted(found)}")
    for name, item in expected.items():
        path = folder / name
        if path.stat().st_size != item.size or sha256_of(path) != item.sha256:
            raise SystemExit(f"{tool}: {name} is incomplete or corrupt")


def verify_registry(tool: str, registry_dir: Path, total: int) -> None:
    """Raise unless our merged registry holds exactly one entry, recorded with ``total`` bytes."""
    data = json.loads((registry_dir / "model_registry.json").read_text(encoding="utf-8"))
    entries = data["models"] if isinstance(data, dict) else data
    if len(entries) != 1 or entries[0].get("download_size_bytes") != total:
        sizes = [e.get("download_size_bytes") for e in entries]
        raise SystemExit(f"{tool}: expected one registry entry of {total} bytes, found sizes {sizes}")


# -- the tools ---------------------------------------------------------------------------


def ours_env(hub: HubServer, run_dir: Path) -> dict[str, str]:
    """Our settings for one run: this Hub, a fresh registry, log, cache and model root."""
    return {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "IMAGEWORKS_REGISTRY_DIR": str(run_dir / "registry"),
        "IMAGEWORKS_LOG_DIR": str(run_dir / "logs"),
        "IMAGEWORKS_CACHE_DIR": str(run_dir / "cache"),
        "IMAGEWORKS_MODEL_ROOT": str(run_dir / "models"),
        "IMAGEWORKS_LMSTUDIO_ROOT": str(run_dir / "lmstudio"),
        "IMAGEWORKS_MAX_CONNECTIONS": "16",
    }


def hf_env(hub: HubServer, run_dir: Path) -> dict[str, str]:
    """``hf download``'s settings for one run: this Hub, a fresh HF_HOME, no progress bars."""
    return {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(run_dir / "hf-home"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_OFFLINE": "0",
    }


def command(
    tool: str, hub: HubServer, repo_id: str, remote: list[RemoteFile], run_dir: Path
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that start ``tool`` to fetch ``repo_id`` into ``run_dir/dl``."""
    target = run_dir / "dl"
    if tool == "curl":  # one connection, files in turn
        argv = ["curl", "-sSfL", "--create-dirs"]
        for item in remote:
            argv += ["-o", str(target / item.relative_path), item.url]
        return argv, dict(os.environ)
    if tool == REFERENCE:  # verifies as ours does: curl | tee FILE | openssl dgst -sha256, files in turn
        steps = ["set -e"]
        for item in remote:
            path = target / item.relative_path
            steps.append(f"mkdir -p {shlex.quote(str(path.parent))}")
            got = f"$(curl -sSfL {shlex.quote(item.url)} | tee {shlex.quote(str(path))} | openssl dgst -sha256 -r | cut -d' ' -f1)"
            steps.append(f'[ "{got}" = {item.sha256} ]')
        return ["sh", "-c", "\n".join(steps)], dict(os.environ)
    if tool == "aria2c":  # plain -x16 -s16 (default -j5), one input entry per file
        listing = run_dir / "aria2-input.txt"
        listing.write_text("".join(f"{f.url}\n  out={f.relative_path}\n" for f in remote), encoding="utf-8")
        argv = ["aria2c", "-q", "-x16", "-s16", "--file-allocation=none", "-d", str(target), "-i", str(listing)]
        return argv, dict(os.environ)
    if tool == "hf":
        return [HF, "download", repo_id, "--local-dir", str(target)], hf_env(hub, run_dir)
    if tool in OURS_TOOLS:
        engine = "--aria2" if tool == "ours-aria2" else "--no-aria2"
        argv = [OURS, "download", repo_id, "--location", str(target), "--non-interactive", engine]
        return argv, ours_env(hub, run_dir)
    raise SystemExit(f"unknown tool {tool!r}")


def downloaded(tool: str, run_dir: Path, repo_id: str) -> Path:
    """Where ``tool`` puts the repo's files: ours under ``<location>/<owner>/<repo>``."""
    return run_dir / "dl" / repo_id if tool in OURS_TOOLS else run_dir / "dl"


def fetch_and_check(tool: str, hub: HubServer, repo_id: str, remote: list[RemoteFile], run_dir: Path) -> Sample:
    """One measured run of ``tool`` in ``run_dir``, its output checked afterwards (not timed)."""
    os.sync()  # dirty pages of the previous run are not this run's cost
    if tool == "ours-inproc":
        job = TransferJob(remote, run_dir / "dl", max_connections=16)
        sample = run_in_process(lambda: PythonEngine().fetch(job))
    else:
        argv, env = command(tool, hub, repo_id, remote, run_dir)
        offset = ACCESS_LOG.stat().st_size if ACCESS_LOG.exists() else 0
        started = time.time()
        sample = run_process(argv, env=env, cwd=run_dir, log=run_dir / "tool.log")
        if ACCESS_LOG.exists():
            wire, peak, first = wire_activity(ACCESS_LOG, offset)
            before = first - started if first is not None else None
            sample = dataclasses.replace(sample, wire=wire, peak_streams=peak, before_wire=before)
    verify(tool, downloaded(tool, run_dir, repo_id), remote)
    if tool in OURS_TOOLS:
        verify_registry(tool, run_dir / "registry", sum(f.size for f in remote))
    return sample


def fresh(run_dir: Path) -> Path:
    """``run_dir``, emptied."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    return run_dir


def run_tool(tool: str, hub: HubServer, repo_id: str, remote: list[RemoteFile], run_dir: Path) -> Sample:
    """``fetch_and_check`` in an empty ``run_dir``, removed afterwards."""
    sample = fetch_and_check(tool, hub, repo_id, remote, fresh(run_dir))
    shutil.rmtree(run_dir, ignore_errors=True)
    return sample


# -- reporting ---------------------------------------------------------------------------


def summary(samples: list[Sample], total: int) -> dict[str, float | None]:
    """Medians over runs: MB/s, CPU s per GB, peak RSS MiB (None in process), wall, time
    outside the wire (wall minus nginx's wire time) and the most streams on one file (max)."""
    rss = [s.rss_kib for s in samples if s.rss_kib is not None]
    outside = [s.wall - s.wire for s in samples if s.wire is not None]
    before = [s.before_wire for s in samples if s.before_wire is not None]
    peaks = [s.peak_streams for s in samples if s.peak_streams is not None]
    return {
        "mbps": statistics.median(total / s.wall / 1e6 for s in samples),
        "cpu_per_gb": statistics.median(s.cpu / (total / 1e9) for s in samples),
        "rss_mib": statistics.median(rss) / 1024 if rss else None,
        "wall": statistics.median(s.wall for s in samples),
        "outside": statistics.median(outside) if outside else None,
        "before": statistics.median(before) if before else None,
        "peak": float(max(peaks)) if peaks else None,
    }


def outside_table(rows: list[dict], tools: list[str]) -> str:
    """Markdown: wall s / outside the wire s (before the first request + after the last answer) / peak streams per file."""
    lines = ["| scenario | files | " + " | ".join(tools) + " |", "|---|---|" + "---:|" * len(tools)]
    for row in rows:
        cells = []
        for tool in tools:
            got = row[tool]
            outside = f"{got['outside']:.2f}" if got["outside"] is not None else "—"
            if got["outside"] is not None and got["before"] is not None:
                outside += f" ({got['before']:.2f} + {got['outside'] - got['before']:.2f})"
            peak = f"{got['peak']:.0f}" if got["peak"] is not None else "—"
            cells.append(f"{got['wall']:.2f} / {outside} / {peak}")
        lines.append(f"| {row['scenario']} | {row['case']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(rows: list[dict], tools: list[str]) -> list[str]:
    """Issue 30's ratios, each with its verdict, for the tools that ran."""
    found = []

    def check(row: dict, peer: str, goal: float) -> None:
        if {"ours", peer} <= set(tools):
            ratio = row["ours"]["mbps"] / row[peer]["mbps"]
            verdict = "met" if ratio >= goal else "NOT met"
            found.append(f"{row['scenario']}, {row['case']}: ours {ratio:.2f}x {peer} (target >= {goal}x: {verdict})")

    for row in rows:
        if row["scenario"] == "unthrottled":
            check(row, "curl", 0.8)
            check(row, REFERENCE, 1.5)
        else:
            check(row, "aria2c", 1.0)
            if row["case"].startswith("1 x"):
                check(row, "hf", 5.0)
    return found


def speed_table(rows: list[dict], tools: list[str]) -> str:
    """Markdown: MB/s per tool, ours over the best peer and over hf."""
    peers = [t for t in tools if t in PEERS]
    lines = [
        "| scenario | files | " + " | ".join(tools) + " | ours ÷ best peer | ours ÷ hf |",
        "|---|---|" + "---:|" * (len(tools) + 2),
    ]
    for row in rows:
        cells = [f"{row[t]['mbps']:.0f}" for t in tools]
        best = max(peers, key=lambda t: row[t]["mbps"]) if peers else None
        ratio = f"{row['ours']['mbps'] / row[best]['mbps']:.2f} ({best})" if best and "ours" in tools else "—"
        versus_hf = f"{row['ours']['mbps'] / row['hf']['mbps']:.1f}x" if {"ours", "hf"} <= set(tools) else "—"
        lines.append(f"| {row['scenario']} | {row['case']} | " + " | ".join(cells) + f" | {ratio} | {versus_hf} |")
    return "\n".join(lines)


def cost_table(rows: list[dict], tools: list[str]) -> str:
    """Markdown: CPU s/GB and peak RSS MiB per tool, ours' CPU over aria2c's."""
    lines = [
        "| scenario | files | " + " | ".join(tools) + " | ours CPU ÷ aria2c |",
        "|---|---|" + "---:|" * (len(tools) + 1),
    ]
    for row in rows:
        cells = []
        for tool in tools:
            rss = row[tool]["rss_mib"]
            cells.append(f"{row[tool]['cpu_per_gb']:.2f} s / " + (f"{rss:.0f} MiB" if rss is not None else "—"))
        ratio = "—"
        if {"ours", "aria2c"} <= set(tools):
            ratio = f"{row['ours']['cpu_per_gb'] / row['aria2c']['cpu_per_gb']:.2f}"
        lines.append(f"| {row['scenario']} | {row['case']} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------


def make_repos(root: Path, args: argparse.Namespace) -> dict[str, Path]:
    """The source folders of the chosen cases: ``single``, ``big`` (one file each), ``shards``."""
    repos = {}
    for kind in args.cases.split(","):
        folder = root / "repos" / kind
        folder.mkdir(parents=True)
        if kind in ("single", "big"):
            write_random(folder / "model.safetensors", args.single_mib if kind == "single" else args.big_mib)
        elif kind == "shards":
            for index in range(args.shards):
                write_random(folder / f"model-{index + 1:05d}-of-{args.shards:05d}.safetensors", args.shard_mib)
        else:
            raise SystemExit(f"unknown case {kind!r} (single, big, shards)")
        repos[kind] = folder
    return repos


def measure_case(
    tools: list[str], runs: int, hub: HubServer, repo_id: str, remote: list[RemoteFile], out: Path, label: str
) -> dict:
    """Every tool ``runs`` times on one repo; a row of summaries, progress printed per tool."""
    total = sum(f.size for f in remote)
    row: dict = {"case": f"{len(remote)} x {remote[0].size >> 20} MiB"}
    for tool in tools:
        samples = [run_tool(tool, hub, repo_id, remote, out / tool) for _ in range(runs)]
        row[tool] = summary(samples, total)
        spread = " ".join(f"{total / s.wall / 1e6:.0f}" for s in samples)
        print(f"{label:>24} {row['case']:>14} {tool:>12} {row[tool]['mbps']:8.0f} MB/s  ({spread})", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single-mib", type=int, default=512)
    parser.add_argument("--big-mib", type=int, default=2048)
    parser.add_argument("--shard-mib", type=int, default=64)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--cap-mb", type=int, default=25, help="per-connection cap (benchmarks/cap_relay.py), MiB/s")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool and case; the median is reported")
    parser.add_argument("--tools", default=TOOLS, help=f"comma-separated, default {TOOLS}; also ours-inproc, curl+sha256")
    parser.add_argument("--scenarios", default="unthrottled,capped")
    parser.add_argument("--cases", default="single,big,shards")
    args = parser.parse_args()
    tools = args.tools.split(",")
    become_subreaper()

    root = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    keep_bytecode(root)
    try:
        (root / "www" / "__cdn__").mkdir(parents=True)
        repos = make_repos(root, args)
        tiny = write_tiny_repo(root / "repos" / "tiny")
        nginx, fast, capped = start_nginx(root, args.cap_mb)
        scenarios = {"unthrottled": ("unthrottled", fast), "capped": (f"{args.cap_mb} MB/s per connection", capped)}
        rows = []
        try:
            with HubServer(lfs_redirect=True, cdn=f"http://localhost:{fast}") as hub:
                warm_up(tools, hub, "bench/tiny", serve_repo(hub, root / "www", "bench/tiny", tiny), root / "out")
            for key in args.scenarios.split(","):
                label, port = scenarios[key]
                with HubServer(lfs_redirect=True, cdn=f"http://localhost:{port}") as hub:
                    for kind, folder in repos.items():
                        remote = serve_repo(hub, root / "www", f"bench/{kind}", folder)
                        row = measure_case(tools, args.runs, hub, f"bench/{kind}", remote, root / "out", label)
                        rows.append({"scenario": label, **row})
        finally:
            nginx.terminate()
            nginx.wait()
        print("\nMB/s (10^6 bytes of repo per second of process wall time), median of", args.runs, "runs\n")
        print(speed_table(rows, tools))
        print("\nCPU seconds (user + sys, children included) per GB / peak RSS, median\n")
        print(cost_table(rows, tools))
        print("\nWall s / time outside the wire s (wall minus first request to last answer, from nginx's log;"
              " in brackets: before the first request + after the last answer) / most streams on one file,"
              " median (streams: max)\n")
        print(outside_table(rows, tools))
        print("\nTargets (issue 30)\n")
        print("\n".join(f"- {line}" for line in targets(rows, tools)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
