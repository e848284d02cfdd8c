"""The Models page in a real browser: Debian's chromium, driven by Playwright, against ``imageworks-gui``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_page_shows_its_five_tabs_in_chromium() -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    gui = subprocess.Popen([sys.executable, "-m", "imageworks.gui", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline and gui.poll() is None, "imageworks-gui did not start"
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("tab", name="⚙️ Advanced Operations").click(timeout=20000)
            page.get_by_text("Enter a variant.").wait_for(timeout=10000)
            browser.close()
    finally:
        gui.terminate()
        gui.wait(10)
