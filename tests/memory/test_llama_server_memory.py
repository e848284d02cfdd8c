"""The serving estimate against the real llama-server's own log, for Gemma 3 270M Q4_K_M:
contexts 4k/16k/32k x cache types f16/q8_0/q4_0 x 1 and 4 slots, each total (weights + KV +
compute + output) within 5% of what llama.cpp reports it allocated.

The server is started with the very flags ``serve-llama-server`` writes for that plan
(:func:`llama_server_command`; port 0: the kernel picks a free one, no race with other
tests), plus ``--no-repack`` (the CPU backend's repacked weight
copies exist on CPU only, not on the GPU the estimate is for) and ``-lv 4`` (the memory
lines are INFO); each start is stopped as soon as its compute buffer is logged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.core.model import RegistryEntry
from imageworks.formats.gguf_reader import read_header
from imageworks.services.memory.local_facts import gguf_facts
from imageworks.services.memory.serving import footprint, plan_for
from imageworks.services.serve.commands import LaunchOptions, llama_server_command
from tests.support.llama_server import executable, mib_figures, startup_log

pytestmark = pytest.mark.large
MiB = 1024**2
MATRIX = [(context, cache, slots) for context in (4096, 16384, 32768) for cache in ("f16", "q8_0", "q4_0") for slots in (1, 4)]


@pytest.fixture(scope="module")
def gemma_entry(gemma_gguf: Path) -> RegistryEntry:
    """A registry entry for the real GGUF, as scan records it."""
    return RegistryEntry(name="gemma-3-270m-gguf-q4_k_m", backend="gguf", download_format="gguf",
                         download_path=str(gemma_gguf.parent), download_files=[gemma_gguf.name])


@pytest.mark.parametrize(("context", "cache", "slots"), MATRIX)
def test_total_within_five_percent(gemma_gguf: Path, gemma_entry: RegistryEntry, context: int, cache: str, slots: int) -> None:
    facts = gguf_facts([read_header(gemma_gguf)])
    plan = plan_for(facts, context, slots, cache)
    estimated = footprint(facts, plan)
    command = llama_server_command(gemma_entry, LaunchOptions(port=0, executable=str(executable()), plan=plan))
    lines, _ = startup_log([*command.argv, "--no-repack"])
    logged = mib_figures(lines)
    assert logged["compute"] > 0, "".join(lines[-20:])
    measured = sum(logged.values()) * MiB
    error = estimated.total_bytes / measured - 1
    assert abs(error) <= 0.05, (logged, estimated)
    # each part is right on its own too, not just the sum
    assert abs(estimated.weight_bytes / MiB - logged["model"]) < 0.01
    assert abs(estimated.kv_bytes / MiB - logged["kv"]) < 0.02
    assert abs(estimated.output_bytes / MiB - logged["output"]) < 0.01

