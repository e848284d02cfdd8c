"""One writer of the load tests (``test_load.py``): record, increment, remove; argv[1] is its number."""

from __future__ import annotations

import sys

from imageworks.app import open_registry
from imageworks.model_loader.download_adapter import record_download

index = int(sys.argv[1])
record_download(f"owner/model-{index}", "vllm", None, None, f"ollama://model-{index}", None)
registry = open_registry()
registry.update("counter", lambda current: {"hits": int((current.extra if current else {}).get("hits", 0)) + 1})
registry.delete(f"old-{index}", backup=False)
