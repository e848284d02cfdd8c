"""The Browse tab under Streamlit's AppTest: where a variant is visible, the share form, dedupe and its undo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from imageworks.gui import commands
from imageworks.gui.launcher import PAGE
from imageworks.providers.ollama import store as store_module
from imageworks.providers.ollama.store import read_store
from tests.model_fixtures import write_gguf
from tests.share.conftest import Copies, Stores


def page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def codes(at: AppTest) -> list[str]:
    return [c.value for c in at.code]


@pytest.fixture(autouse=True)
def no_real_ollama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No form may reach this machine's Ollama server or service store."""
    monkeypatch.setenv("IMAGEWORKS_OLLAMA_HOST", "127.0.0.1:9")  # the discard port: nobody answers
    monkeypatch.setattr(store_module, "SERVICE_STORE", tmp_path / "no-service-store")


def test_share_form_dry_runs_then_links_and_the_page_shows_where(stores: Stores) -> None:
    source = write_gguf(stores.weights / "acme" / "tiny-GGUF" / "tiny-q4_k_m.gguf", tokens=300, seed=9)
    assert commands.run("download", ["scan", "--base", str(stores.weights)]).exit_code == 0
    name = "tiny-gguf-q4_k_m"
    at = page()
    assert f"imageworks-download share --to ollama,lmstudio,hf-cache --dry-run --json -- {name}" in codes(at)
    at.button(key=f"share-{name}-run").click().run()
    assert at.success and list((stores.ollama / "blobs").iterdir()) == []  # the dry run wrote nothing
    at.checkbox(key=f"share-{name}-dry-run").uncheck().run()
    assert at.button(key=f"share-{name}-run").disabled  # not before it is confirmed
    at.checkbox(key=f"share-{name}-confirm").check().run()
    assert f"imageworks-download share --to ollama,lmstudio,hf-cache --json -- {name}" in codes(at)
    at.button(key=f"share-{name}-run").click().run()
    assert not at.exception and at.success
    (model,) = read_store(stores.ollama)
    assert model.problem is None and model.model_blob is not None and os.path.samefile(model.model_blob, source)
    assert "Visible in other apps (3 link(s))" in [c.value for c in at.caption]  # drawn again after the run
    links = next(d.value for d in at.dataframe if "method" in d.value.columns)
    assert sorted(set(links["app"])) == ["hf-cache", "lmstudio", "ollama"]


def test_dedupe_finds_folds_and_undoes(copies: Copies, stores: Stores) -> None:
    at = page()
    assert "imageworks-download dedupe --json" in codes(at)
    at.button(key="dedupe-run").click().run()
    assert next(m.value for m in at.metric if m.label == "reclaimable bytes") == str(3 * copies.paths[0].stat().st_size)
    assert len({p.stat().st_ino for p in copies.paths}) == 4
    at.checkbox(key="dedupe-dry-run").uncheck().run()
    at.checkbox(key="dedupe-confirm").check().run()
    assert "imageworks-download dedupe --apply --json" in codes(at)
    at.button(key="dedupe-run").click().run()
    assert len({p.stat().st_ino for p in copies.paths}) == 1
    fold = next(c.value for c in at.caption if c.value.startswith("Folded 3 file(s); undo with ID "))
    at.text_input(key="dedupe-undo-id").input(fold.rsplit(" ", 1)[-1]).run()
    at.button(key="dedupe-undo-run").click().run()
    assert at.success and len({p.stat().st_ino for p in copies.paths}) == 4
