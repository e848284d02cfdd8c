"""What the real-browser tests share: Debian's chromium driven by Playwright, a free port, a tab's
panel, its select boxes and the cells of its tables.

Playwright drives ``/usr/bin/chromium`` through ``executable_path``; ``playwright
install`` (a browser build of its own) is never used. :data:`needs_chromium` skips a
module when the Debian package is missing.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)"
)


def free_port() -> int:
    """A loopback port nobody listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(p: Playwright) -> Browser:
    """Debian's chromium, headless."""
    return p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def open_page(browser: Browser, url: str) -> Page:
    """A page in a fresh browser context (so a fresh Streamlit session) on ``url``, its first run done."""
    tab = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    tab.goto(url)
    settled(tab)
    return tab


def settled(page: Page, timeout: float = 30000) -> None:
    """Wait until Streamlit is not running the page script (right after a click it may not have started yet)."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout)


def panel(page: Page, name: str) -> Locator:
    """Open the tab called ``name``; return its (visible) panel."""
    page.get_by_role("tab", name=name).click(timeout=20000)
    return page.get_by_role("tabpanel", name=name)


def choose(scope: Locator, label: str, value: str) -> None:
    """Pick ``value`` in the select box called ``label`` (its options open in a popover outside ``scope``)."""
    box = scope.get_by_role("combobox", name=label, exact=True)
    option = scope.page.get_by_role("option", name=value, exact=True)
    for _ in range(3):  # a click while the tab is still drawing (the grid, the charts) can leave it closed
        box.click()
        try:
            option.wait_for(timeout=5000)
            break
        except PlaywrightTimeoutError:
            continue
    option.click()


def cells(scope: Page | Locator, name: str) -> Locator:
    """The table cells called ``name``: a dataframe draws on a canvas, and its cells are
    also in an accessibility table the eye does not see (only the rows and columns in view)."""
    return scope.get_by_role("gridcell", name=name, exact=True, include_hidden=True)


def row(scope: Locator, first: str) -> Locator:
    """The table rows with a cell called ``first``."""
    return scope.get_by_role("row", include_hidden=True).filter(has=cells(scope.page, first))
