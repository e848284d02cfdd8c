"""Transfer speed on loopback: our engines next to curl, plain aria2c and ``hf download``.

Run: ``uv run python benchmarks/bench_transfer.py [--single-mib 1024] [--shard-mib 128]
[--shards 8] [--cap-mb 25] [--runs 3] [--tools ...]``

nginx (Debian's) serves the bytes on 127.0.0.1, once unthrottled and once with
``limit_rate`` per connection, like a CDN. The loopback Hub from ``tests/support`` answers
the API and redirects each ``resolve`` URL to nginx, as huggingface.co redirects to its CDN,
so every tool starts from the same ``resolve`` URLs. Our engines also verify sha256; the
peers do not. Prints MB/s (10^6 bytes per second, wall clock, process start to last byte),
the median of ``--runs`` runs.

Every run starts in an empty folder after ``sync``, and afterwards every tool's output is
checked (outside the timing): each expected file present with the right size and sha256,
and nothing else left behind (no ``.aria2`` control file, no partial file). A tool that
did not deliver complete, correct files stops the benchmark. (Plain ``aria2c URL1 URL2``
would treat the URLs as mirrors of *one* file; the peer therefore gets an input file with
one entry per file.)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imageworks.providers.huggingface.transfer import Aria2Engine, PythonEngine, RemoteFile, TransferJob
from tests.support.hub_server import HubServer

NGINX_CONF = """
user root;
worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  server {{ listen 127.0.0.1:{fast}; root {root}/www; }}
  server {{ listen 127.0.0.1:{capped}; root {root}/www; limit_rate {cap}m; }}
}}
"""

TOOLS = "curl,aria2c,hf,ours-python,ours-aria2"  # also: ours-default (what select_engine() picks)


def write_random(path: Path, mib: int) -> None:
    """Incompressible bytes, written in 16 MiB blocks."""
    generator = random.Random(path.name)
    with path.open("wb") as handle:
        for _ in range(mib // 16):
            handle.write(generator.randbytes(16 * 1024 * 1024))
        handle.write(generator.randbytes((mib % 16) * 1024 * 1024))


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_nginx(root: Path, cap_mb: int) -> tuple[subprocess.Popen[bytes], int, int]:
    fast, capped = free_port(), free_port()
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, fast=fast, capped=capped, cap=cap_mb), encoding="utf-8")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"])
    time.sleep(0.5)
    return process, fast, capped


def sha256_of(path: Path) -> str:
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


def run_once(tool: str, hub: HubServer, repo_id: str, remote: list[RemoteFile], out: Path) -> float:
    """Seconds one run of ``tool`` takes, its output checked afterwards (not timed)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    action = _runner(tool, hub, repo_id, remote, out)
    os.sync()  # dirty pages of the previous run are not this run's cost
    began = time.monotonic()
    action()
    elapsed = time.monotonic() - began
    verify(tool, out / "dl", remote)
    shutil.rmtree(out, ignore_errors=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single-mib", type=int, default=1024)
    parser.add_argument("--shard-mib", type=int, default=128)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--cap-mb", type=int, default=25, help="nginx limit_rate per connection, MB/s")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool and case; the median is reported")
    parser.add_argument("--tools", default=TOOLS)
    parser.add_argument("--scenarios", default="unthrottled,capped")
    parser.add_argument("--cases", default="single,shards")
    args = parser.parse_args()
    tools = args.tools.split(",")

    root = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    try:
        www = root / "www" / "__cdn__"
        www.mkdir(parents=True)
        repos = {"single": root / "single", "shards": root / "shards"}
        repos = {kind: folder for kind, folder in repos.items() if kind in args.cases.split(",")}
        if "single" in repos:
            repos["single"].mkdir()
            write_random(repos["single"] / "model.safetensors", args.single_mib)
        if "shards" in repos:
            repos["shards"].mkdir()
            for index in range(args.shards):
                name = f"model-{index + 1:05d}-of-{args.shards:05d}.safetensors"
                write_random(repos["shards"] / name, args.shard_mib)
        nginx, fast, capped = start_nginx(root, args.cap_mb)
        scenarios = {"unthrottled": ("unthrottled", fast), "capped": (f"{args.cap_mb} MB/s per connection", capped)}
        rows = []
        try:
            for key in args.scenarios.split(","):
                scenario, port = scenarios[key]
                with HubServer(lfs_redirect=True, cdn=f"http://localhost:{port}") as hub:
                    for kind, folder in repos.items():
                        repo = hub.add_repo(f"bench/{kind}", folder)
                        files = list(repo.revisions["main"].files.values())
                        for hub_file in files:
                            link = www / hub_file.sha256
                            if not link.exists():
                                link.symlink_to(hub_file.source)
                        remote = [
                            RemoteFile(hub.resolve_url(f"bench/{kind}", f.path), f.path, f.size, f.sha256)
                            for f in files
                        ]
                        total = sum(f.size for f in files)
                        row = {"scenario": scenario, "case": f"{len(files)} x {files[0].size >> 20} MiB"}
                        for tool in tools:
                            seconds = [
                                run_once(tool, hub, f"bench/{kind}", remote, root / "out" / tool)
                                for _ in range(args.runs)
                            ]
                            rates = [total / s / 1e6 for s in seconds]
                            row[tool] = statistics.median(rates)
                            spread = " ".join(f"{r:.0f}" for r in rates)
                            print(
                                f"{scenario:>26} {row['case']:>14} {tool:>12} {row[tool]:8.0f} MB/s  ({spread})",
                                flush=True,
                            )
                        rows.append(row)
        finally:
            nginx.terminate()
            nginx.wait()
        print()
        print("| scenario | files | " + " | ".join(tools) + " |")
        print("|---|---|" + "---:|" * len(tools))
        for row in rows:
            print(f"| {row['scenario']} | {row['case']} | " + " | ".join(f"{row[t]:.0f}" for t in tools) + " |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _runner(tool: str, hub: HubServer, repo_id: str, remote: list[RemoteFile], out: Path) -> Callable[[], object]:
    target = out / "dl"
    if tool == "curl":  # one connection, files in turn
        argv = ["curl", "-sSfL", "--create-dirs"]
        for item in remote:
            argv += ["-o", str(target / item.relative_path), item.url]
        return lambda: subprocess.run(argv, check=True)
    if tool == "aria2c":  # plain -x16 -s16 (default -j5), one input entry per file
        listing = out / "aria2-input.txt"
        listing.write_text("".join(f"{f.url}\n  out={f.relative_path}\n" for f in remote), encoding="utf-8")
        argv = ["aria2c", "-q", "-x16", "-s16", "--file-allocation=none", "-d", str(target), "-i", str(listing)]
        return lambda: subprocess.run(argv, check=True)
    if tool == "hf":
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_OFFLINE": "0"}
        env["HF_HOME"] = str(out / ".hf-home")
        argv = [str(Path(sys.executable).with_name("hf")), "download", repo_id, "--local-dir", str(target)]
        return lambda: _quiet(argv, env)
    if tool == "ours-default":
        from imageworks.providers.huggingface.transfer import select_engine

        engine = select_engine()
    else:
        engine = PythonEngine() if tool == "ours-python" else Aria2Engine()
    return lambda: engine.fetch(TransferJob(remote, target, max_connections=16))


def _quiet(argv: list[str], env: dict[str, str]) -> None:
    """Run a tool whose chatter (hints, lock notices) would clutter the table; show it only on failure."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


if __name__ == "__main__":
    main()
