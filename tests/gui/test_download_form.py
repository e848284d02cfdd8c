"""The 🌐 Download form's weight choice: the repo's real files from ``analyze --files
--no-memory --json`` on the loopback Hub (metadata only), chosen one by one or by GGUF
quantisation, become ``--weights``."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from imageworks.gui.launcher import PAGE
from tests.model_fixtures import link
from tests.support.fixtures import MINILM_REPO
from tests.support.hub_server import HubServer

GEMMA_REPO = "unsloth/gemma-3-270m-it-GGUF"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"


@pytest.fixture
def gemma_hub(hub: HubServer, gemma_gguf: Path, tmp_path: Path) -> HubServer:
    """The Hub with MiniLM and a GGUF repo holding the real Gemma 3 270M file."""
    link(gemma_gguf, tmp_path / "hub-src" / "gemma" / GEMMA_FILE)
    hub.add_repo(GEMMA_REPO, tmp_path / "hub-src" / "gemma")
    return hub


def inspected(model: str) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    at.text_input(key="dl-model").input(model).run()
    at.button(key="dl-inspect").click().run()
    assert not at.exception, at.exception
    return at


def preview(at: AppTest) -> str:
    return next(c.value for c in at.code if c.value.startswith("imageworks-download download"))


def test_weights_are_chosen_from_the_repos_real_files_with_sizes(hub: HubServer, minilm_dir: Path) -> None:
    at = inspected(MINILM_REPO)
    weights = at.multiselect(key="dl-weights")
    assert any(o.startswith("model.safetensors (") and o.endswith("MiB)") for o in weights.options), weights.options
    assert not any(o.startswith(("config.json", "tokenizer.json")) for o in weights.options)  # not weight files
    assert "--weights" not in preview(at)  # nothing chosen: the download's own choice
    weights.select("model.safetensors").run()
    assert "--weights model.safetensors" in preview(at)
    at.button(key="dl-run").click().run()  # the dry run: the plan holds that weight file and no other
    plan = "\n".join(c.value for c in at.code)
    assert "model.safetensors" in plan and "pytorch_model.bin" not in plan, plan


def test_a_gguf_quantisation_picks_its_files(gemma_hub: HubServer) -> None:
    at = inspected(GEMMA_REPO)
    assert [r for r in gemma_hub.requests_for(f"*/resolve/*/{GEMMA_FILE}") if r.method == "GET"] == []  # no header read
    assert at.selectbox(key="dl-quant").options[1:] == ["q4_k_m"]
    at.selectbox(key="dl-quant").select("q4_k_m").run()
    assert at.multiselect(key="dl-weights").value == [GEMMA_FILE]
    assert f"--weights {GEMMA_FILE}" in preview(at)


def test_a_branch_goes_into_the_model_argument_and_a_missing_repo_is_one_error(hub: HubServer) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    at.text_input(key="dl-model").input("acme/absent").run()
    at.text_input(key="dl-branch").input("dev").run()
    assert "acme/absent@dev" in preview(at)
    at.button(key="dl-inspect").click().run()
    assert not at.exception
    assert any("acme/absent" in e.value for e in at.error), [e.value for e in at.error]
