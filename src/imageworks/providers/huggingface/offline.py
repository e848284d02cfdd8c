"""When the Hub cannot be asked: ``HF_HUB_OFFLINE`` and failures that no retry can mend.

As ``hf download`` does, a plain re-run of an installed model answers from the registry
when the Hub is switched off (``HF_HUB_OFFLINE=1``) or cannot be reached, and says the
copy was not re-checked. A host name that does not resolve is not a passing fault:
retrying it only adds seconds of silence, so it fails at once.
"""

from __future__ import annotations

import os
import socket

TRUE = {"1", "on", "yes", "true"}  # huggingface_hub's spelling of a true switch


def offline_mode() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or the older ``TRANSFORMERS_OFFLINE``) switches the Hub off."""
    return any(os.environ.get(name, "").strip().lower() in TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def unresolved_name(error: BaseException) -> socket.gaierror | None:
    """The name-resolution failure behind ``error`` (its causes followed), if that is what it is."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return current
        current = current.__cause__ or current.__context__
    return None


def unreachable_reason(host: str, error: OSError) -> str:
    """Why ``host`` could not be asked, in a few words."""
    found = unresolved_name(error)
    if found is not None:
        return f"cannot resolve {host} ({found.strerror or found})"
    return f"cannot reach {host} ({error.strerror or type(error).__name__})"
