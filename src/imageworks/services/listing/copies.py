"""One copy, many stores: which registry entries hold the same weight files.

The same GGUF often sits in a Hugging Face folder, the Ollama blob store and an LM Studio
folder at once. Entries are matched by the sha256 of their weight files as recorded in
``artifacts.files`` — digests established at download (Hub LFS ids), taken from Ollama
blob names, or hashed once by an inventory — so nothing is re-hashed to find them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from imageworks.core.model import RegistryEntry

MIN_SHARED_BYTES = 1024 * 1024  # small files (configs, tokenizers) are identical across unrelated models


def shared_weights(entries: Iterable[RegistryEntry]) -> dict[str, list[str]]:
    """Entry name -> names of the other entries holding at least one identical weight file."""
    holders: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        for artifact in entry.artifacts.files:
            if artifact.sha256 and artifact.size >= MIN_SHARED_BYTES:
                holders[artifact.sha256].add(entry.name)
    shared: dict[str, set[str]] = defaultdict(set)
    for names in holders.values():
        if len(names) > 1:
            for name in names:
                shared[name] |= names - {name}
    return {name: sorted(others) for name, others in shared.items()}
