"""The chat proxy's settings, from ``CHAT_PROXY_*`` environment variables (read once, at start-up)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from imageworks.core.errors import ConfigError

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})
DEFAULT_TIMEOUT = 600.0


@attrs.frozen(kw_only=True)
class ProxySettings:
    """What the ``CHAT_PROXY_*`` variables say.

    ``include_non_installed``: list (and serve) entries whose files are not here (logical
    entries, paths another machine or container sees); ``include_testing``: testing/demo
    placeholders too; ``forward_auth``: send the client's ``Authorization`` header on to
    backends (never, by default); ``timeout``: seconds a backend may stay silent.
    """

    include_non_installed: bool = False
    include_testing: bool = False
    forward_auth: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ProxySettings:
        """The settings of ``environ`` (default: this process's); a bad value is a :class:`ConfigError`."""
        env = os.environ if environ is None else environ
        timeout_text = env.get("CHAT_PROXY_TIMEOUT", "").strip()
        try:
            timeout = float(timeout_text) if timeout_text else DEFAULT_TIMEOUT
        except ValueError:
            timeout = -1.0
        if timeout <= 0:
            raise ConfigError(f"CHAT_PROXY_TIMEOUT={timeout_text!r} is not a positive number of seconds")
        return cls(
            include_non_installed=_flag(env, "CHAT_PROXY_INCLUDE_NON_INSTALLED"),
            include_testing=_flag(env, "CHAT_PROXY_INCLUDE_TEST_MODELS"),
            forward_auth=_flag(env, "CHAT_PROXY_FORWARD_AUTH"),
            timeout=timeout,
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigError(f"{name}={env[name]!r} is not a flag", "use 1 or 0")
