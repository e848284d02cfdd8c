"""One writer of the many-hosts load test: records the shared variant on its host, and a model of its own.

argv: the writer's number and its host's folder of ``acme/same``; ``IMAGEWORKS_HOST`` says which host it is.
"""

from __future__ import annotations

import sys

from imageworks.model_loader.download_adapter import record_download

index, folder = int(sys.argv[1]), sys.argv[2]
record_download("acme/same", "vllm", "safetensors", None, folder, "linux_wsl")
record_download(f"owner/model-{index}", "vllm", None, None, f"ollama://model-{index}", None)
