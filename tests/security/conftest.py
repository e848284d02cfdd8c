"""Fixtures for the security tests, everything inside ``tmp_path``.

Hostile servers: ``hostile(scenario)`` starts a hostile Hub whose redirects point at a
``witness`` origin. ``sandbox`` fingerprints every file under ``tmp_path`` except the
places a download may write (the store roots, the registry, the log, the Hugging Face
home, ``XDG_CACHE_HOME`` where the entry-point cache lives), plus a planted "victim"
folder and an ssh key folder; ``sandbox.assert_untouched()``
fails if anything outside those places was created, changed or deleted.

Hostile stores: a fake weights root, secrets and an Ollama store; the "secret" files a
hostile store aims at are built inside ``tmp_path`` and every test asserts they are
unchanged byte for byte.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.model_fixtures import write_gguf
from tests.ollama.conftest import no_real_ollama, store  # noqa: F401  (fixtures; no_real_ollama is autouse)
from tests.support.hostile_hub import HostileHub, Scenario, Witness

TOKEN = "hf_hostiletestsecret0123456789"
WRITABLE = ("weights", "lmstudio", "registry", "logs", "hf-home", "hf-cache", "xdg-cache")


class Sandbox:
    """Everything under ``root`` a download must not touch, fingerprinted."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.victim = root / "victim"
        self.victim.mkdir(exist_ok=True)
        (self.victim / "existing.txt").write_text("precious\n", encoding="utf-8")
        ssh = root / "home" / ".ssh"
        ssh.mkdir(parents=True, exist_ok=True)
        (ssh / "authorized_keys").write_text("ssh-ed25519 AAAA user@host\n", encoding="utf-8")
        self.before = self.fingerprint()

    def fingerprint(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for folder, dirs, files in os.walk(self.root):
            relative = Path(folder).relative_to(self.root)
            if relative.parts and relative.parts[0] in WRITABLE:
                dirs[:] = []
                continue
            for name in dirs + files:
                if not relative.parts and name in WRITABLE:
                    continue
                path = Path(folder, name)
                key = str(relative / name)
                if path.is_symlink():
                    found[key] = "link:" + os.readlink(path)
                elif path.is_file():
                    found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
                elif path.is_dir():
                    found[key] = "dir"
        return found

    def assert_untouched(self) -> None:
        after = self.fingerprint()
        created = sorted(set(after) - set(self.before))
        deleted = sorted(set(self.before) - set(after))
        changed = sorted(k for k in set(after) & set(self.before) if after[k] != self.before[k])
        assert not (created or deleted or changed), f"outside the allowed folders: created {created}, deleted {deleted}, changed {changed}"


@pytest.fixture
def sandbox(isolated: Path) -> Sandbox:
    """The watched sandbox (create it after any setup of your own under ``tmp_path``)."""
    return Sandbox(isolated)


@pytest.fixture
def witness() -> Iterator[Witness]:
    """The other origin hostile redirects point at."""
    with Witness() as server:
        yield server


@pytest.fixture
def hostile(witness: Witness, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileHubFactory]:
    """A factory: ``hostile(scenario)`` starts a hostile Hub for it and points HF_ENDPOINT at it."""
    started: list[HostileHub] = []
    monkeypatch.setenv("HF_HOME", str(isolated / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("IMAGEWORKS_STALL_TIMEOUT", "4")  # seconds with (almost) no byte before a transfer fails

    def start(scenario: Scenario) -> HostileHub:
        hub = HostileHub(scenario, witness).start()
        started.append(hub)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        return hub

    yield start
    for hub in started:
        hub.stop()


HostileHubFactory = object  # a callable Scenario -> HostileHub; typed loosely for fixtures


SECRET = b"root:$6$rounds=5000$saltsalt$0123456789abcdefHASHHASHHASH:19000:0:99999:7:::\nsecond line\n"




@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside every store and root that no command may read, change or delete."""
    path = tmp_path / "secrets" / "db-password"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> Callable[..., bytes]:
    """Bytes of a small valid GGUF (``tiny_gguf(seed=1)`` for other bytes)."""
    counter = iter(range(10**6))
    return lambda file_type=15, seed=0: write_gguf(
        tmp_path / "gguf-build" / f"tiny-{next(counter)}.gguf", file_type, "llama", tokens=None, seed=seed, name=f"tiny {seed}"
    ).read_bytes()
