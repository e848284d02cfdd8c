"""Destructive commands killed (SIGKILL) at random moments leave the registry as before or as after.

Each case runs the real console script as a subprocess on a fresh copy of one registry
(a few hundred entries over real model folders, a hand-kept curated layer, a backup
set), once to the end for the "after" reference, then again and again killed after a
random delay. After each kill the next opener of the registry runs (as the user's next
command would, finishing an interrupted commit); then every layer file must hold
exactly the bytes of before or exactly those of after, all of them the same side.

Add a command to ``CASES`` to cover it. ``IMAGEWORKS_KILL_ITERATIONS`` sets the kills
per case (default 8: five cases, about 20 s on two cores).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from imageworks.core.config import load_config
from imageworks.core.registry import Registry
from imageworks.model_loader.download_adapter import record_download
from imageworks.plugins import json_journal
from imageworks.plugins.json_registry import JsonRegistryStore

FILES = ("model_registry.curated.json", "model_registry.discovered.json", "model_registry.json")
MODELS = 300
ITERATIONS = int(os.environ.get("IMAGEWORKS_KILL_ITERATIONS", "8"))
BIN = Path(sys.executable).parent
State = dict[str, bytes | None]


@attrs.define(frozen=True)
class Template:
    """The registry every run starts from, and what it holds."""

    registry: Path
    backup_id: str
    purged: str  # a variant in both layers


@attrs.define(frozen=True)
class Case:
    """A destructive command: its program and its arguments for a template."""

    name: str
    program: str
    args: Callable[[Template], list[str]]


CASES = [
    Case("normalize-formats --apply", "imageworks-download",
         lambda t: ["normalize-formats", "--rebuild", "--prune-missing", "--apply"]),
    Case("backups restore", "imageworks-download", lambda t: ["backups", "restore", "--apply", t.backup_id]),
    Case("remove --purge", "imageworks-download", lambda t: ["remove", t.purged, "--purge", "--force"]),
    Case("purge-imported --apply", "imageworks-loader", lambda t: ["purge-imported", "--apply", "--providers", "all"]),
    Case("verify --fix-missing", "imageworks-download", lambda t: ["verify", "--fix-missing", "--quick"]),
    Case("purge-hf --apply", "imageworks-download", lambda t: ["purge-hf", "--apply"]),
    Case("reset-discovered --apply", "imageworks-download", lambda t: ["reset-discovered", "--apply"]),
    Case("apply-simple-slugs --apply", "imageworks-download",
         lambda t: ["apply-simple-slugs", "--apply", "--rename-slugs", "--disambiguate", "index"]),
]


ACCESS_TIME = re.compile(rb'"last_accessed": "[^"]*"')


def read_state(folder: Path) -> State:
    """The bytes of each registry file; the time ``verify`` stamps as ``last_accessed`` differs
    from run to run, so it is masked (whether an entry has one still counts)."""
    return {
        name: ACCESS_TIME.sub(b'"last_accessed": "<time>"', (folder / name).read_bytes()) if (folder / name).exists() else None
        for name in FILES
    }


@pytest.fixture
def template(isolated: Path) -> Template:
    """Model folders, a registry recording them, a backup set, then stale facts and a missing folder."""
    folder = isolated / "template"
    registry = Registry(JsonRegistryStore(folder), load_config())
    weights = isolated / "weights"
    names = []
    with registry.batch():
        for index in range(MODELS):
            model = weights / "acme" / f"model-{index:03d}"
            model.mkdir(parents=True)
            (model / "config.json").write_text(json.dumps({"model_type": "llama", "torch_dtype": "bfloat16"}))
            (model / "model.safetensors").write_bytes(random.Random(index).randbytes(2048))
            names.append(record_download(f"acme/model-{index:03d}", "vllm", "safetensors", "bf16", model, "linux_wsl",
                                         source_provider="local", registry=registry).name)
    (folder / FILES[0]).write_text(json.dumps([{"name": n, "roles": ["chat"]} for n in names[:50]], indent=4))
    backup_id = Path(registry.backup()[0]).parent.name
    with registry.batch():
        for name in names[::3]:
            registry.update(name, lambda _: {"quantization": "q4_0", "download_format": "gguf"})
    shutil.rmtree(weights / "acme" / "model-299")  # for --prune-missing
    return Template(registry=folder, backup_id=backup_id, purged=names[0])


def run(case: Case, template: Template, folder: Path, kill_after: float | None) -> float:
    """Run ``case`` on a fresh copy of the template in ``folder``; SIGKILL it after ``kill_after`` s."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(template.registry, folder)
    env = {**os.environ, "IMAGEWORKS_REGISTRY_DIR": str(folder)}
    started = time.monotonic()
    process = subprocess.Popen([str(BIN / case.program), *case.args(template)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is None:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    else:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    return time.monotonic() - started


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_killed_command_leaves_the_registry_before_or_after(case: Case, template: Template, isolated: Path) -> None:
    before = read_state(template.registry)
    duration = run(case, template, isolated / "reference", None)
    after = read_state(isolated / "reference")
    assert after != before, f"{case.name} changed nothing: the case tests nothing"
    seen: Counter[str] = Counter()
    chooser = random.Random()
    for iteration in range(ITERATIONS):
        folder = isolated / f"run-{iteration}"
        delay = chooser.uniform(0.4, 1.05) * duration  # start-up takes the first part; aim at the work
        run(case, template, folder, delay)
        pending = json_journal.pending(folder)
        JsonRegistryStore(folder).read()  # the user's next command opens the registry
        state = read_state(folder)
        assert state in (before, after), (
            f"{case.name} killed after {delay:.3f}s left a mixture: "
            + ", ".join(f"{n}={'before' if state[n] == before[n] else 'after' if state[n] == after[n] else 'other'}" for n in FILES)
        )
        seen["pending->after" if pending else "before" if state == before else "after"] += 1
        if any(p.name.endswith(".tmp") for p in folder.iterdir()):
            seen["left temporaries (swept by the next write)"] += 1
    print(f"{case.name}: run {duration:.2f}s, kills: {dict(seen)}")
