"""Start vLLM for a registry variant (guide 10): ``imageworks-download serve-vllm`` as a script.

Builds ``vllm serve`` from the registry (model path, ``--served-model-name``,
``--quantization``, ``--tokenizer`` for GGUF, ``--chat-template``, ``--max-model-len``),
refuses a variant that is not installed or is locked and drifted, then runs it and waits
for ``/v1/models``::

    uv run python scripts/start_vllm_server.py VARIANT --print
    uv run python scripts/start_vllm_server.py VARIANT --port 8001 -- --gpu-memory-utilization 0.85

Every flag of ``serve-vllm`` works (``--help`` lists them).
"""

from __future__ import annotations

import sys

from imageworks.cli.main import run


def main(argv: list[str] | None = None) -> int:
    """Run ``serve-vllm`` with ``argv`` (default: the command line); return the exit status."""
    return run("download", ["serve-vllm", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
