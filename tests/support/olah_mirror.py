"""olah, a Hugging Face mirror nobody here wrote, serving real repos on 127.0.0.1.

olah (PyPI) in offline mode serves git repositories from ``mirrors-path``:
``<mirrors>/models/<org>/<repo>`` on branch ``main``. :func:`build_git_mirror` turns a
model folder into such a repository the way the Hub stores one: large weight files
become Git LFS pointer files, their bytes go to ``.git/lfs/objects/<aa>/<bb>/<oid>``
(hard links to the source; no ``git-lfs`` binary needed).

Its behaviour differs from huggingface.co, which is the point (see
``docs/testing.md``): model info without a revision answers 401, ``siblings`` carry
names only, sizes and LFS digests come from the tree and ``paths-info`` APIs and from
``HEAD``, a missing file is a 404 with ``X-Error-Code: EntryNotFound`` ... and ``GET`` on
``resolve`` ignores ``Range`` (200, the whole file, chunked).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import requests

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".onnx", ".h5", ".msgpack", ".ot")
LFS_MIN_SIZE = 10 * 1024 * 1024
GIT = ["git", "-c", "user.name=imageworks-tests", "-c", "user.email=tests@imageworks.invalid", "-c", "init.defaultBranch=main"]


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def build_git_mirror(source: Path, mirrors: Path, repo_id: str) -> Path:
    """Commit the files of ``source`` as ``repo_id`` under ``mirrors/models``; returns the repo folder."""
    repo = mirrors / "models" / repo_id
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    subprocess.run([*GIT, "init", "-q", str(repo)], check=True)
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = file.relative_to(source)
        if relative.parts[0] == ".git":
            continue
        target = repo / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        size = file.stat().st_size
        if file.suffix in LFS_SUFFIXES or size >= LFS_MIN_SIZE:
            oid = sha256_file(file)
            store = repo / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
            store.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(file.resolve(), store)
            except OSError:
                shutil.copyfile(file, store)
            target.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n")
        else:
            shutil.copyfile(file, target)
    subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-q", "-m", "mirror"], check=True)
    return repo


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OlahServer:
    """One olah process on 127.0.0.1, stopped on exit.

    With ``upstream`` (another Hub's URL, such as a second olah) it runs as a caching proxy:
    online, fetching what it does not hold from ``upstream`` in blocks and keeping them
    under ``workdir``. Without, it serves the git repositories under ``mirrors`` offline.
    """

    def __init__(self, mirrors: Path | None, workdir: Path, upstream: str | None = None) -> None:
        self.mirrors = mirrors
        self.upstream = upstream
        self.workdir = workdir
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The endpoint to give clients (``HF_ENDPOINT``)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, probe_repo: str) -> Self:
        """Start olah and wait until ``probe_repo`` answers (at most 60 s)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "olah.toml"
        config.write_text(
            "[basic]\n"
            'host = "127.0.0.1"\n'
            f"port = {self.port}\n"
            f'repos-path = "{self.workdir / "cache"}"\n'
            f'log-path = "{self.workdir / "logs"}"\n'
            f'mirror-netloc = "127.0.0.1:{self.port}"\n'
            f'mirror-lfs-netloc = "127.0.0.1:{self.port}"\n'
            + (f'mirrors-path = ["{self.mirrors}"]\n' if self.mirrors is not None else "")
            + (self._upstream_lines() if self.upstream else "")
            + "[accessibility]\n"
            + f"offline = {'false' if self.upstream else 'true'}\n",
            encoding="utf-8",
        )
        log = (self.workdir / "olah.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from olah.server import cli; cli()", "-c", str(config)],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_PROXY": "*"},
        )
        deadline = time.monotonic() + 60
        probe = f"{self.url}/api/models/{probe_repo}/revision/main"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"olah exited with {self.process.returncode}: {(self.workdir / 'olah.log').read_text()[-2000:]}")
            try:
                if requests.get(probe, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("olah did not answer within 60 s")

    def _upstream_lines(self) -> str:
        """``[basic]`` settings that make olah fetch from ``upstream`` over plain HTTP."""
        assert self.upstream is not None
        scheme, _, netloc = self.upstream.partition("://")
        return f'hf-scheme = "{scheme}"\nhf-netloc = "{netloc}"\nhf-lfs-netloc = "{netloc}"\n'

    def stop(self) -> None:
        """Stop the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
