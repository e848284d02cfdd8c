"""The 📚, 🔧, 🔌 and ⚙️ tabs of the Models page in a real browser: Debian's chromium against ``imageworks-gui``.

One server and one browser serve the whole module (a fresh page, so a fresh Streamlit
session, per test). The server gets its own folders under a module temporary directory
through its process environment; the registry is seeded before it starts (two scanned
models and a logical entry naming a closed port), and a test that needs more writes it
in the server's configuration (the page reads the registry on every rerun). The Ollama
host is the loopback fake Ollama API.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from imageworks.app import open_registry
from imageworks.core import plugins
from imageworks.gui import commands
from imageworks.gui.launcher import serving
from tests.gui.browser import cells, choose, free_port, launch, needs_chromium, open_page, panel, row
from tests.model_fixtures import write_gguf
from tests.ollama.helpers import FakeOllamaServer, tags_entry
from tests.support.fixtures import write_tiny_repo
from tests.support.isolation import ISOLATED_VARIABLES, process_environment

pytestmark = needs_chromium
BROWSE, MAINTENANCE, BACKENDS, ADVANCED = (
    "📚 Browse & Manage",
    "🔧 Registry Maintenance",
    "🔌 Backends",
    "⚙️ Advanced Operations",
)
ALPHA = "alpha-vllm-safetensors"  # what scan names org/alpha (safetensors) and org/beta-GGUF (a Q4_K_M GGUF)
BETA = "beta-gguf-q4_k_m"
GONE = "gone-vllm"  # a logical entry whose server is a closed loopback port
PYPROJECT = '[project]\nname = "x"\n\n[tool.imageworks.model-downloader]\nmax_connections = 3\n'


@dataclass
class Gui:
    """The module's running page and what it was started with."""

    url: str
    base: Path  # the server's working folder; registry, logs, weights, home are under it
    env: dict[str, str]
    ollama: FakeOllamaServer
    closed: str  # the base URL of GONE's server: nobody listens there

    @contextlib.contextmanager
    def as_server(self) -> Iterator[None]:
        """Configure this process as the server is (environment, working folder, plugins) for the block."""
        with pytest.MonkeyPatch.context() as mp:
            for name in ISOLATED_VARIABLES:
                mp.delenv(name, raising=False)
            for name, value in self.env.items():
                mp.setenv(name, value)
            mp.chdir(self.base)
            plugins.reset_plugins()
            try:
                yield
            finally:
                plugins.reset_plugins()

    def entries(self) -> dict[str, Any]:
        """The server's registry, by variant name."""
        with self.as_server():
            return {e.name: e for e in open_registry().entries()}


@pytest.fixture(scope="module")
def gui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gui]:
    """``imageworks-gui`` on a seeded registry of its own, with the fake Ollama as its Ollama host."""
    base = tmp_path_factory.mktemp("gui-tabs")
    write_tiny_repo(base / "models" / "org" / "alpha")
    write_gguf(base / "models" / "org" / "beta-GGUF" / "beta.Q4_K_M.gguf", 15)
    (base / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    with FakeOllamaServer() as ollama, contextlib.ExitStack() as running:
        ollama.models = [tags_entry("gemma3:270m", "0" * 64)]
        env = process_environment(base, IMAGEWORKS_OLLAMA_HOST=ollama.url, OLLAMA_MODELS=str(base / "no-ollama-store"))
        gui = Gui("", base, env, ollama, f"http://127.0.0.1:{free_port()}/v1")
        with gui.as_server():
            scan = commands.run("download", ["scan", "--base", str(base / "models")])
            assert scan.exit_code == 0, scan.stderr
            open_registry().update(GONE, lambda _: {"backend": "vllm", "backend_config": {"base_url": gui.closed}})
            gui.url = running.enter_context(serving(free_port(), env=env))  # started here: the cwd is base
        assert set(gui.entries()) == {ALPHA, BETA, GONE}
        yield gui


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium for the whole module."""
    with sync_playwright() as p:
        chromium = launch(p)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(gui: Gui, browser: Browser) -> Iterator[Page]:
    """A fresh page (its own browser context, so its own Streamlit session) on the module's server."""
    tab = open_page(browser, gui.url)
    try:
        yield tab
    finally:
        tab.context.close()


# -- 📚 Browse & Manage ------------------------------------------------------------------


def test_a_filter_reduces_the_grid_and_the_details_show_the_variant(gui: Gui, page: Page) -> None:
    browse = panel(page, BROWSE)
    expect(cells(browse, ALPHA)).to_have_count(1, timeout=20000)
    expect(cells(browse, BETA)).to_have_count(1)
    choose(browse, "Format", "gguf")
    expect(browse.get_by_text("imageworks-download list --format gguf", exact=True)).to_be_visible(timeout=10000)
    expect(cells(browse, ALPHA)).to_have_count(0)
    expect(cells(browse, BETA)).to_have_count(1)
    expect(browse.get_by_role("combobox", name="Variant", exact=True)).to_have_value(BETA)
    facts = {
        "display name": "beta (Q4 K M)",
        "format": "gguf",
        "quantization": "q4_k_m",
        "path": str(gui.base / "models" / "org" / "beta-GGUF"),
    }
    for field, value in facts.items():
        expect(cells(row(browse, field), value)).to_have_count(1)

    choose(browse, "Format", "(any)")
    browse.get_by_role("textbox", name="Search (any field)", exact=True).fill("ORG/ALPHA")
    browse.get_by_role("textbox", name="Search (any field)", exact=True).press("Enter")
    expect(cells(browse, BETA)).to_have_count(0, timeout=10000)
    expect(cells(browse, ALPHA)).to_have_count(1)
    expect(cells(row(browse, "licence"), "mit")).to_have_count(1)
    expect(cells(row(browse, "path"), str(gui.base / "models" / "org" / "alpha"))).to_have_count(1)


def test_save_roles_writes_them_to_the_curated_layer(gui: Gui, page: Page) -> None:
    browse = panel(page, BROWSE)
    choose(browse, "Variant", ALPHA)
    roles = browse.get_by_role("textbox", name="Roles, comma-separated", exact=True)
    roles.fill("caption, chat")
    roles.press("Enter")
    command = f"imageworks-download set-roles --role caption --role chat -- {ALPHA}"
    expect(browse.get_by_text(command, exact=True)).to_be_visible(timeout=10000)
    browse.get_by_role("button", name="Save roles", exact=True).click()
    expect(browse.get_by_text("exit status 0", exact=True)).to_be_visible(timeout=20000)
    curated = json.loads((gui.base / "registry" / "model_registry.curated.json").read_text(encoding="utf-8"))
    assert {"name": ALPHA, "roles": ["caption", "chat"]} in curated
    assert gui.entries()[ALPHA].roles == ["caption", "chat"]


# -- 🔧 Registry Maintenance ---------------------------------------------------------------


def test_purge_deprecated_is_a_dry_run_until_cleared_and_confirmed(gui: Gui, page: Page) -> None:
    with gui.as_server():
        open_registry().update("old-vllm", lambda _: {"backend": "vllm", "deprecated": True})
    maintenance = panel(page, MAINTENANCE)
    purge = maintenance.locator(".st-key-purge-run")  # Normalize, Purge and Cleanup each have a "Dry run" and a button
    expect(maintenance.get_by_text("imageworks-download purge-deprecated --json", exact=True)).to_be_visible(
        timeout=20000
    )
    purge.get_by_role("button", name="Run", exact=True).click()
    expect(cells(row(maintenance, "old-vllm"), "remove")).to_have_count(1, timeout=20000)
    assert "old-vllm" in gui.entries()  # a dry run writes nothing

    maintenance.locator(".st-key-purge-dry-run").get_by_text(
        "Dry run (show the plan, write nothing)", exact=True
    ).click()
    expect(purge.get_by_role("button", name="Run", exact=True)).to_be_disabled(timeout=10000)
    maintenance.get_by_text("I confirm: this removes deprecated entries from both layers", exact=True).click()
    expect(maintenance.get_by_text("imageworks-download purge-deprecated --json --apply", exact=True)).to_be_visible(
        timeout=10000
    )
    purge.get_by_role("button", name="Run", exact=True).click()
    expect(maintenance.get_by_text("exit status 0", exact=True)).to_be_visible(timeout=20000)
    assert set(gui.entries()) == {ALPHA, BETA, GONE}
    assert list((gui.base / "registry" / "backups").iterdir())  # "Back up first" stayed ticked


# -- 🔌 Backends ---------------------------------------------------------------------------


def test_backends_shows_the_ollama_host_reachable_and_a_closed_port_unreachable(gui: Gui, page: Page) -> None:
    backends = panel(page, BACKENDS)
    ollama = row(backends, gui.ollama.url)
    expect(ollama).to_have_count(1, timeout=20000)
    for value in ("Ollama", "✓", "gemma3:270m"):
        expect(cells(ollama, value)).to_have_count(1)
    closed = row(backends, gui.closed)
    for value in ("OpenAI-style", "✗", GONE):
        expect(cells(closed, value)).to_have_count(1)
    expect(closed.get_by_role("gridcell", name=re.compile("Connection refused"), include_hidden=True)).to_have_count(1)
    assert "GET /api/tags" in gui.ollama.requests


# -- ⚙️ Advanced Operations ------------------------------------------------------------------


def test_verify_one_variant_and_the_profiles_tables(gui: Gui, page: Page) -> None:
    advanced = panel(page, ADVANCED)
    expect(cells(row(advanced, "max_connections"), "3")).to_have_count(1, timeout=20000)  # 📊 Profiles
    expect(cells(row(advanced, "max_connections"), f"pyproject {gui.base / 'pyproject.toml'}")).to_have_count(1)
    expect(cells(row(advanced, "log_dir"), str(gui.base / "logs"))).to_have_count(1)
    expect(cells(row(advanced, "log_dir"), "env IMAGEWORKS_LOG_DIR")).to_have_count(1)
    expect(advanced.get_by_text(f"[tool.imageworks] of {gui.base / 'pyproject.toml'}", exact=True)).to_be_visible()

    choose(advanced, "Variant", ALPHA)  # the Verify box; Remove's is "Variant to remove"
    expect(advanced.get_by_text(f"imageworks-download verify -- {ALPHA}", exact=True)).to_be_visible(timeout=10000)
    advanced.get_by_role("button", name="Verify", exact=True).click()
    expect(advanced.get_by_text("exit status 0", exact=True)).to_be_visible(timeout=20000)
    expect(advanced.get_by_text(re.compile(rf"{ALPHA}\s+ok"))).to_be_visible()
