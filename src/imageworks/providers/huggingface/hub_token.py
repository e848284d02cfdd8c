"""The user's Hugging Face token, read as ``huggingface_hub`` reads it, without importing it.

``huggingface_hub.get_token()`` looks at ``HF_TOKEN`` (then ``HUGGING_FACE_HUB_TOKEN``),
then the file ``hf auth login`` writes (``HF_TOKEN_PATH``, else ``$HF_HOME/token``, else
``$XDG_CACHE_HOME/huggingface/token``, else ``~/.cache/huggingface/token``). Importing
it costs ~200 ms here (``docs/dependencies.md``), so :func:`stored_token` reads the same
places itself. Two cases it hands to ``huggingface_hub`` (paying that import only then):
a CI job's OIDC exchange (``HF_OIDC_RESOURCE``) and a browser login whose token may need
refreshing (a ``refresh_token`` in the ``stored_tokens`` file beside the token).

:func:`hub_token` is the token a request to the Hub carries when none is named, as
``huggingface_hub`` sends it: none at all under ``HF_HUB_DISABLE_IMPLICIT_TOKEN``.
"""

from __future__ import annotations

import os
from pathlib import Path

from imageworks.core.errors import ImageworksError

TRUE = {"1", "ON", "YES", "TRUE"}  # huggingface_hub's constants._is_true


def hub_token() -> str | None:
    """The token to send to the Hub, or None (``HF_HUB_DISABLE_IMPLICIT_TOKEN`` sends none)."""
    if os.environ.get("HF_HUB_DISABLE_IMPLICIT_TOKEN", "").upper() in TRUE:
        return None
    return stored_token()


def stored_token() -> str | None:
    """The user's token, as ``huggingface_hub.get_token()`` returns it."""
    if os.environ.get("HF_OIDC_RESOURCE"):
        return _official()
    token = _clean(os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"))
    if token is not None:
        return token
    path = token_path()
    try:
        token = _clean(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:  # huggingface_hub raises these too
        reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
        raise ImageworksError(f"cannot read the Hugging Face token file {path} ({reason})",
                              "fix or remove it, or set HF_TOKEN") from None
    if token is not None and _refreshable(path.parent / "stored_tokens"):
        return _official()
    return token


def token_path() -> Path:
    """Where ``hf auth login`` keeps the token."""
    default_home = os.path.join(os.path.expanduser("~"), ".cache")
    if os.environ.get("HUGGINGFACE_CO_STAGING", "").upper() in TRUE:  # the Hub's staging site has a home of its own
        return Path(default_home) / "huggingface_staging" / "token"
    home = _expand(os.getenv("HF_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", default_home), "huggingface")))
    return Path(_expand(os.getenv("HF_TOKEN_PATH", os.path.join(home, "token"))))


def _expand(path: str) -> str:
    return os.path.expandvars(os.path.expanduser(path))


def _clean(token: str | None) -> str | None:
    """As ``huggingface_hub``: line breaks removed, spaces trimmed, empty is none."""
    if token is None:
        return None
    return token.replace("\r", "").replace("\n", "").strip() or None


def _refreshable(stored: Path) -> bool:
    """Whether a browser login stored a refresh token (which ``huggingface_hub`` may use)."""
    try:
        return "refresh_token" in stored.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _official() -> str | None:
    from huggingface_hub import get_token

    return get_token()
