"""A download with the default engine loads neither ``requests`` nor ``urllib3``.

``requests`` and ``urllib3`` cost about 60 ms to import here, more than the whole transfer
of a small repository; the Python engine speaks HTTP on the standard library
(``imageworks.transfer.http_client``). The command runs in a fresh interpreter against the
loopback Hub (its files redirected to a second origin, as huggingface.co redirects to its
CDN), and ``sys.modules`` is read afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.download.conftest import MINILM
from tests.support.hub_server import HubServer

PROBE = """
import json, sys
from imageworks.cli.main import run
code = run("download", ["download", sys.argv[1], "--non-interactive"])
print(json.dumps({"code": code, "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("requests", "urllib3"))}))
"""


def test_a_fresh_download_imports_neither_requests_nor_urllib3(hub: HubServer, isolated: Path) -> None:
    hub.lfs_redirect = True
    done = subprocess.run([sys.executable, "-c", PROBE, MINILM], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": []}
    assert hub.requests_for("/__cdn__/*")  # the weights came through the redirect, on the engine's own client
    weights = isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2" / "model.safetensors"
    assert weights.stat().st_size > 1_000_000
