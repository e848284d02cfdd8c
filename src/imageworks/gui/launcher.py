"""``imageworks-gui``: run Streamlit on the Models page, on loopback, headless.

The launcher replaces itself with Streamlit (``exec``), so the PID a user or a service
manager holds is Streamlit's: SIGTERM to it stops the server and frees the port. The
toolbar is Streamlit's ``minimal`` one: no "Deploy" button, no developer menu.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from imageworks.core.errors import ImageworksError
from imageworks.services.extras import require

PAGE = Path(__file__).parent / "pages" / "2_🎯_Models.py"


def streamlit_command(port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line of the page."""
    return [
        sys.executable, "-m", "streamlit", "run", str(PAGE),
        "--server.address", address,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Start the GUI: this process becomes Streamlit (returns only where ``exec`` is unavailable)."""
    parser = argparse.ArgumentParser(prog="imageworks-gui", description="Start the Streamlit Models page.")
    parser.add_argument("--port", type=int, default=8501, help="port to listen on (default: 8501)")
    parser.add_argument("--address", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    ns = parser.parse_args(argv)
    try:
        require("gui", "imageworks-gui")
    except ImageworksError as error:  # one line, exit 1, like every imageworks command
        print(f"Error: {error}", file=sys.stderr)
        return 1
    command = streamlit_command(ns.port, ns.address)
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)  # a signal to our PID now reaches Streamlit itself
    return subprocess.call(command)


@contextlib.contextmanager
def serving(port: int, address: str = "127.0.0.1", env: Mapping[str, str] | None = None,
            timeout: float = 30.0) -> Iterator[str]:
    """Run ``imageworks-gui`` in a child process until the block ends; yield its URL once it answers.

    For tests and the screenshot script. Raises ``RuntimeError`` when Streamlit does not
    answer its health check within ``timeout`` seconds.
    """
    url = f"http://{address}:{port}/"
    server = subprocess.Popen([sys.executable, "-m", "imageworks.gui", "--port", str(port), "--address", address],
                              env=dict(env) if env is not None else None,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}_stcore/health", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("imageworks-gui did not start") from None
                time.sleep(0.2)
        yield url
    finally:  # the launcher and its Streamlit child share the new process group; download jobs have their own
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
