"""Many writers at once on both backends, and writers killed mid-transaction on PostgreSQL.

Each writer process records its own model, increments one shared counter (a
read-modify-write: the classic lost update) and removes an entry of its own, so a lost
update shows as a missing model, a surviving entry or a low count.
``IMAGEWORKS_LOAD_WRITERS`` sets the process count (default 12: two cores; the 50-writer
run is ``benchmarks/bench_registry_backends.py --writers 50``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from imageworks.app import open_registry
from imageworks.core.model import RegistryEntry
from tests.support.backends import BackendUnderTest

WRITERS = int(os.environ.get("IMAGEWORKS_LOAD_WRITERS", "12"))
WRITER = Path(__file__).with_name("load_writer.py")


def seed_old_entries(count: int) -> None:
    registry = open_registry()
    with registry.batch():
        registry.upsert(RegistryEntry(name="counter", backend="vllm"))
        for i in range(count):
            registry.upsert(RegistryEntry(name=f"old-{i}", backend="vllm"))


def test_concurrent_writers_lose_nothing(registry_backend: BackendUnderTest) -> None:
    seed_old_entries(WRITERS)
    processes = [subprocess.Popen([sys.executable, str(WRITER), str(i)]) for i in range(WRITERS)]
    assert [p.wait(300) for p in processes] == [0] * WRITERS
    entries = {e.name: e for e in open_registry().entries()}
    assert set(entries) == {"counter"} | {f"model-{i}-vllm" for i in range(WRITERS)}
    assert entries["counter"].extra["hits"] == WRITERS


KILLED_BATCH = """
import sys, time
from pathlib import Path
from imageworks.app import open_registry
from imageworks.model_loader.download_adapter import record_download
from imageworks.plugins import postgres_registry

ready = Path(sys.argv[1])
real = postgres_registry.PostgresRegistryStore._write
def write_then_wait(self, *args):
    real(self, *args)  # every row is written, the transaction not committed
    ready.touch()
    time.sleep(60)
postgres_registry.PostgresRegistryStore._write = write_then_wait
registry = open_registry()
with registry.batch():
    for i in range(200):
        record_download(f"new/model-{i}", "vllm", None, None, f"ollama://new-{i}", None, registry=registry)
    registry.delete("old-0", backup=False)
"""


def test_a_writer_killed_after_writing_its_rows_leaves_nothing(postgres_dsn: str, isolated: Path) -> None:
    seed_old_entries(3)
    before = open_registry().store.export_layers()
    ready = isolated / "ready"
    child = subprocess.Popen([sys.executable, "-c", KILLED_BATCH, str(ready)])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the writer never reached its commit"
        time.sleep(0.05)
    with psycopg.connect(postgres_dsn, autocommit=True) as watcher:  # the rows are there, uncommitted
        (state,) = watcher.execute("SELECT state FROM pg_stat_activity WHERE application_name = 'imageworks'").fetchone()
        assert state == "idle in transaction"
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert open_registry().store.export_layers() == before
    started = time.monotonic()
    open_registry().check_writable()  # the server dropped the dead writer's lock
    assert time.monotonic() - started < 5


RANDOM_BATCH = """
from imageworks.app import open_registry
from imageworks.model_loader.download_adapter import record_download
registry = open_registry()
with registry.batch():
    for i in range(300):
        record_download(f"new/model-{i}", "vllm", None, None, f"ollama://new-{i}", None, registry=registry)
    for i in range(3):
        registry.delete(f"old-{i}", backup=False)
"""


def names() -> tuple[frozenset[str], frozenset[str]]:
    layers = open_registry().layers()
    return frozenset(layers.curated), frozenset(layers.discovered)


def test_writers_killed_at_random_moments_leave_before_or_after(postgres_dsn: str) -> None:
    """Entry names, not bytes: each run records its own download times."""
    seed_old_entries(3)
    files = open_registry().store.export_layers()
    before = names()
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", RANDOM_BATCH], check=True)
    elapsed = time.monotonic() - started
    after = names()
    assert len(after[1]) == len(before[1]) + 300 - 3
    outcomes = []
    for _ in range(6):
        open_registry().store.import_layers(files, backup_first=False)
        assert names() == before
        child = subprocess.Popen([sys.executable, "-c", RANDOM_BATCH])
        time.sleep(random.uniform(0.2, 1.0) * elapsed)  # start-up, the batch, the commit: anywhere
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        state = names()
        assert state in (before, after)
        outcomes.append("after" if state == after else "before")
    assert "before" in outcomes  # at least one kill landed before the commit
