"""The chat proxy's settings, from ``CHAT_PROXY_*`` environment variables (read once, at start-up).

Every bound the proxy keeps is here with its default (``docs/serving.md`` lists them with
the threat each one answers).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from imageworks.core.errors import ConfigError

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})
DEFAULT_TIMEOUT = 600.0
DEFAULT_DEADLINE = 1800.0
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_MAX_BODY = 32 * 1024 * 1024
DEFAULT_MAX_CONNECTIONS = 512
#: What an operator sets to name the API key clients must send (``Authorization: Bearer``).
API_KEY_VARIABLE = "CHAT_PROXY_API_KEY"


@attrs.frozen(kw_only=True)
class ProxySettings:
    """What the ``CHAT_PROXY_*`` variables say.

    ``include_non_installed``: list (and serve) entries whose files are not here (logical
    entries, paths another machine or container sees); ``include_testing``: testing/demo
    placeholders too; ``forward_auth``: send the client's ``Authorization`` header on to
    backends (never, by default); ``timeout``: seconds a backend may stay silent;
    ``deadline``: seconds one request may take in all; ``api_key``: the key clients must
    send (none: no check, allowed on loopback only); ``allowed_hosts``: ``Host`` names
    served besides the loopback names and the bound address; ``cors_origins``: origins a
    browser page may call from (none: no CORS at all); ``max_body``: bytes of a request
    body; ``header_timeout``: seconds a client has to send its request headers;
    ``max_connections``: client connections open at once; ``hide_offline``: leave out of
    ``/v1/models`` the variants whose backend does not answer.
    """

    include_non_installed: bool = False
    include_testing: bool = False
    forward_auth: bool = False
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    api_key: str | None = attrs.field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    hide_offline: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ProxySettings:
        """The settings of ``environ`` (default: this process's); a bad value is a :class:`ConfigError`."""
        env = os.environ if environ is None else environ
        origins = _names(env, "CHAT_PROXY_CORS_ORIGINS")
        for origin in origins:
            if origin == "*" or not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ConfigError(
                    f"CHAT_PROXY_CORS_ORIGINS: {origin!r} is not an origin", "list origins such as https://app.example:3000"
                )
        api_key = env.get(API_KEY_VARIABLE, "").strip() or None
        forward_auth = _flag(env, "CHAT_PROXY_FORWARD_AUTH")
        if api_key and forward_auth:
            raise ConfigError(
                f"{API_KEY_VARIABLE} and CHAT_PROXY_FORWARD_AUTH cannot both be set: the proxy's key would reach every backend"
            )
        return cls(
            include_non_installed=_flag(env, "CHAT_PROXY_INCLUDE_NON_INSTALLED"),
            include_testing=_flag(env, "CHAT_PROXY_INCLUDE_TEST_MODELS"),
            forward_auth=forward_auth,
            timeout=_seconds(env, "CHAT_PROXY_TIMEOUT", DEFAULT_TIMEOUT),
            deadline=_seconds(env, "CHAT_PROXY_DEADLINE", DEFAULT_DEADLINE),
            api_key=api_key,
            allowed_hosts=tuple(name.lower() for name in _names(env, "CHAT_PROXY_ALLOWED_HOSTS")),
            cors_origins=origins,
            max_body=_count(env, "CHAT_PROXY_MAX_BODY", DEFAULT_MAX_BODY),
            header_timeout=_seconds(env, "CHAT_PROXY_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT),
            max_connections=_count(env, "CHAT_PROXY_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS),
            hide_offline=_flag(env, "CHAT_PROXY_HIDE_OFFLINE"),
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigError(f"{name}={env[name]!r} is not a flag", "use 1 or 0")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name}={text!r} is not a positive number of seconds")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise ConfigError(f"{name}={text!r} is not a positive whole number")
    return int(text)


def _names(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())
