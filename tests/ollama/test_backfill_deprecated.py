"""backfill-ollama-paths leaves deprecated entries deprecated (issue 27, item 6)."""

from __future__ import annotations

import pytest

from imageworks.app import open_registry
from imageworks.core.config import load_config
from imageworks.core.model import RegistryEntry
from tests.ollama.helpers import FakeOllamaStore
from tests.support.cli import cli


def test_a_deprecated_placeholder_stays_one(capsys: pytest.CaptureFixture[str], store: FakeOllamaStore, tiny_gguf) -> None:
    store.add_model("llama3:8b", store.add_blob(tiny_gguf()))
    registry = open_registry(load_config())
    registry.upsert(RegistryEntry(name="old-llama3-ollama", backend="ollama", served_model_id="llama3:8b",
                                  download_path="ollama://llama3:8b", deprecated=True))
    registry.upsert(RegistryEntry(name="llama3-ollama", backend="ollama", served_model_id="llama3:8b"))
    report = cli(capsys, "backfill-ollama-paths", "--json").json()
    actions = {item["variant"]: (item["action"], item.get("reason")) for item in report["items"]}
    assert actions["old-llama3-ollama"] == ("skip", "deprecated (left as it is)")
    assert actions["llama3-ollama"][0] == "update"
    entries = {e.name: e for e in open_registry(load_config()).entries()}
    assert entries["old-llama3-ollama"].is_logical and entries["old-llama3-ollama"].deprecated
    assert not entries["llama3-ollama"].is_logical
    assert cli(capsys, "purge-deprecated", "--placeholders-only", "--apply").code == 0
    assert set({e.name for e in open_registry(load_config()).entries()}) == {"llama3-ollama"}
