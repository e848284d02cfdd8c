"""``imageworks-gui`` as a user runs it: the real console script, stopped by its PID, and the
page without Streamlit's developer chrome."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from imageworks.gui.launcher import serving
from tests.gui.browser import free_port, launch, needs_chromium, open_page


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_sigterm_to_the_gui_pid_stops_streamlit_and_frees_the_port(isolated: Path) -> None:
    script = shutil.which("imageworks-gui", path=str(Path(sys.executable).parent))
    assert script is not None
    port = free_port()
    gui = subprocess.Popen([script, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                    return True
            except OSError:
                assert gui.poll() is None, "imageworks-gui exited before it served"
                return False

        _wait(healthy, 60, "the GUI to answer")
        os.kill(gui.pid, signal.SIGTERM)  # the PID a user or a service manager holds, not the group
        assert gui.wait(30) is not None
        _wait(lambda: not _answers(port), 30, "the port to close")
    finally:
        if gui.poll() is None:
            os.killpg(gui.pid, signal.SIGKILL)
            gui.wait(10)
        else:  # a Streamlit left behind in the group would be the bug; do not leave it running
            try:
                os.killpg(gui.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@needs_chromium
def test_no_deploy_button_or_developer_menu(isolated: Path) -> None:
    with serving(free_port()) as url, sync_playwright() as p:
        browser = launch(p)
        try:
            page = open_page(browser, url)
            expect(page.get_by_role("tab", name="⚙️ Advanced Operations")).to_be_visible(timeout=30000)
            expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
            expect(page.get_by_test_id("stMainMenu")).to_have_count(0)
        finally:
            browser.close()
