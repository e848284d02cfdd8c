"""Transfer speed on loopback: our engines next to curl, plain aria2c and ``hf download``.

Run: ``uv run python benchmarks/bench_transfer.py [--single-mib 1024] [--shard-mib 128]
[--shards 8] [--cap-mb 25] [--tools ...]``

nginx (Debian's) serves the bytes on 127.0.0.1, once unthrottled and once with
``limit_rate`` per connection, like a CDN. The loopback Hub from ``tests/support`` answers
the API and redirects each ``resolve`` URL to nginx, as huggingface.co redirects to its CDN,
so every tool starts from the same ``resolve`` URLs. Our engines also verify sha256; the
peers do not. Prints MB/s (10^6 bytes per second, wall clock, process start to last byte).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imageworks.providers.huggingface.transfer import Aria2Engine, PythonEngine, RemoteFile, TransferJob  # noqa: E402
from tests.support.hub_server import HubServer  # noqa: E402

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


def timed(action: Callable[[], object], total_bytes: int) -> float:
    began = time.monotonic()
    action()
    return total_bytes / (time.monotonic() - began) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single-mib", type=int, default=1024)
    parser.add_argument("--shard-mib", type=int, default=128)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--cap-mb", type=int, default=25, help="nginx limit_rate per connection, MB/s")
    parser.add_argument("--tools", default="curl,aria2c,hf,ours-python,ours-aria2")
    args = parser.parse_args()
    tools = args.tools.split(",")

    root = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    try:
        www = root / "www" / "__cdn__"
        www.mkdir(parents=True)
        repos = {"single": root / "single", "shards": root / "shards"}
        repos["single"].mkdir()
        write_random(repos["single"] / "model.safetensors", args.single_mib)
        repos["shards"].mkdir()
        for index in range(args.shards):
            name = f"model-{index + 1:05d}-of-{args.shards:05d}.safetensors"
            write_random(repos["shards"] / name, args.shard_mib)
        nginx, fast, capped = start_nginx(root, args.cap_mb)
        rows = []
        try:
            for scenario, port in (("unthrottled", fast), (f"{args.cap_mb} MB/s per connection", capped)):
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
                            out = root / "out" / tool
                            shutil.rmtree(out, ignore_errors=True)
                            out.mkdir(parents=True)
                            row[tool] = timed(_runner(tool, hub, f"bench/{kind}", remote, out), total)
                            shutil.rmtree(out, ignore_errors=True)
                            print(f"{scenario:>26} {row['case']:>14} {tool:>12} {row[tool]:8.0f} MB/s", flush=True)
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
    urls = [f.url for f in remote]
    if tool == "curl":
        argv = ["curl", "-sSfL", "--parallel-max", "1"]
        for url, item in zip(urls, remote, strict=True):
            argv += ["-o", str(out / item.relative_path), url]
        return lambda: subprocess.run(argv, check=True)
    if tool == "aria2c":
        argv = ["aria2c", "-q", "-x16", "-s16", "--file-allocation=none", "-d", str(out), *urls]
        return lambda: subprocess.run(argv, check=True)
    if tool == "hf":
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_OFFLINE": "0"}
        env["HF_HOME"] = str(out / ".hf-home")
        argv = [str(Path(sys.executable).with_name("hf")), "download", repo_id, "--local-dir", str(out / "dl")]
        return lambda: subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    engine = PythonEngine() if tool == "ours-python" else Aria2Engine()
    return lambda: engine.fetch(TransferJob(remote, out / "dl", max_connections=16))


if __name__ == "__main__":
    main()
