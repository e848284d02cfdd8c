"""The Models page in a real browser: Debian's chromium, driven by Playwright, against ``imageworks-gui``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from imageworks.app import open_registry
from imageworks.gui.launcher import serving
from tests.gui.browser import choose, free_port, launch, needs_chromium, open_page, panel
from tests.support.fixtures import MINILM_REPO
from tests.support.hub_server import HubServer

pytestmark = needs_chromium
MINILM_VARIANT = "all-minilm-l6-v2-vllm-safetensors-fp32"


@pytest.fixture
def page() -> Iterator[Page]:
    """A chromium page on a fresh ``imageworks-gui`` (it sees this test's folders and HF_ENDPOINT)."""
    with serving(free_port()) as url, sync_playwright() as p:
        browser = launch(p)
        try:
            yield open_page(browser, url)
        finally:
            browser.close()


def test_the_page_shows_its_five_tabs_in_chromium(page: Page) -> None:
    advanced = panel(page, "⚙️ Advanced Operations")
    expect(advanced.get_by_text("No variants in the registry.")).to_be_visible(timeout=10000)


@pytest.fixture
def slow_hub(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> HubServer:
    """The Hub at 1.5 MiB/s per connection, two per file: MiniLM's 87 MiB take several seconds."""
    hub.bandwidth = 1.5 * 1024 * 1024
    monkeypatch.setenv("IMAGEWORKS_MAX_CONNECTIONS", "2")
    return hub


def test_download_minilm_watch_progress_browse_it_and_remove_it(
    slow_hub: HubServer, page: Page, isolated: Path
) -> None:
    download = panel(page, "📥 Download & Import")
    download.get_by_label("Model (owner/repo[@branch])").fill(MINILM_REPO)
    download.get_by_label("Model (owner/repo[@branch])").press("Enter")
    download.get_by_text("Dry run", exact=True).click()
    expect(download.get_by_text(f"imageworks-download download --non-interactive -- {MINILM_REPO}")).to_be_visible(
        timeout=10000
    )
    download.get_by_role("button", name="Download", exact=True).click()
    expect(download.get_by_text("Started download job")).to_be_visible(timeout=10000)
    running = re.compile(r"MiB of 87\.4 MiB \([1-9]?\d%\) · .*/s · ETA \d+:\d\d:\d\d · \d+/13 files")
    expect(download.get_by_text(running)).to_be_visible(timeout=30000)  # live progress, under 100 %
    expect(download.get_by_role("progressbar")).to_be_visible()
    expect(download.get_by_text(f"{MINILM_REPO}: done")).to_be_visible(timeout=120000)
    expect(download.get_by_text("✓ Downloaded")).to_be_visible()
    assert [e.name for e in open_registry().entries()] == [MINILM_VARIANT]

    browse = panel(page, "📚 Browse & Manage")
    # the grid draws on a canvas; its cells are also in an accessibility table the eye does not see
    expect(browse.get_by_role("gridcell", name=MINILM_VARIANT, include_hidden=True)).to_have_count(1, timeout=20000)

    advanced = panel(page, "⚙️ Advanced Operations")
    choose(advanced, "Variant to remove", MINILM_VARIANT)  # a list, as Verify's
    advanced.get_by_text("files (the entry stays, not installed)").click()
    advanced.get_by_text("Dry run", exact=True).click()
    advanced.get_by_text("I confirm the removal").click()
    advanced.get_by_role("button", name="Remove", exact=True).click()
    expect(advanced.get_by_text("exit status 0")).to_be_visible(timeout=20000)
    (entry,) = open_registry().entries()  # the files are gone; the entry stays, not installed
    assert entry.name == MINILM_VARIANT and not entry.download_path
    assert not (isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2" / "model.safetensors").exists()
