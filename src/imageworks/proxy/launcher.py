"""``imageworks-chat-proxy``: serve the chat proxy with uvicorn, on 127.0.0.1:8100 by default.

The socket is bound here, before uvicorn starts, so a port in use or a bad address is one
``Error:`` line and exit 1 like every other imageworks command; so are a registry that
cannot be opened, a bad ``CHAT_PROXY_*`` value and a non-loopback address without
``CHAT_PROXY_API_KEY``. uvicorn runs with the connection rules of
:mod:`imageworks.proxy.connections` (a request-head deadline, a connection cap). Requests are logged one line each
to stderr and to the imageworks log (``IMAGEWORKS_LOG_DIR``), secrets redacted.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from collections.abc import Sequence

import click

from imageworks.app import open_registry
from imageworks.core.config import load_config
from imageworks.core.errors import ImageworksError
from imageworks.core.logs import redact
from imageworks.proxy.settings import API_KEY_VARIABLE, ProxySettings
from imageworks.services.extras import require
from imageworks.services.log_file import setup_logging

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8100


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


@click.command(
    "imageworks-chat-proxy",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=(
        "Environment: CHAT_PROXY_API_KEY=KEY is the key clients must send (Authorization: Bearer), required "
        "off loopback; CHAT_PROXY_ALLOWED_HOSTS=a,b adds Host names served; CHAT_PROXY_CORS_ORIGINS=o1,o2 lets "
        "web pages of those origins call (none by default); CHAT_PROXY_INCLUDE_NON_INSTALLED=1 lists entries "
        "whose files are not here; CHAT_PROXY_INCLUDE_TEST_MODELS=1 lists testing placeholders; "
        "CHAT_PROXY_HIDE_OFFLINE=1 lists only variants whose backend answers; CHAT_PROXY_FORWARD_AUTH=1 sends "
        "the client's Authorization header on to backends; CHAT_PROXY_TIMEOUT=S (default 600) is how long a "
        "backend may stay silent, CHAT_PROXY_DEADLINE=S (default 1800) how long one request may take; "
        "CHAT_PROXY_MAX_BODY=BYTES (default 33554432), CHAT_PROXY_HEADER_TIMEOUT=S (default 10) and "
        "CHAT_PROXY_MAX_CONNECTIONS=N (default 512) bound clients. Backend keys come only from "
        "IMAGEWORKS_BACKEND_KEY_* variables. See docs/serving.md."
    ),
)
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to bind (anything but loopback, such as 0.0.0.0, needs CHAT_PROXY_API_KEY).")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True,
              help="uvicorn's and the proxy's log level.")
def proxy_command(host: str, port: int, log_level: str) -> None:
    """An OpenAI-compatible endpoint over the registry: GET /v1/models lists the installed variants,
    POST /v1/chat/completions, /v1/completions and /v1/embeddings go to the server of the model named
    (a variant name, served id, alias or role name such as `vision`), streams passed through as they come."""
    require("proxy", "imageworks-chat-proxy")
    import uvicorn

    from imageworks.proxy.app import create_app
    from imageworks.proxy.connections import server_options  # uvicorn's protocol: the [proxy] extra

    config = load_config()
    setup_logging(config.log_dir, "chat-proxy", config.debug)
    settings = ProxySettings.from_environ()
    if not _loopback(host) and not settings.api_key:
        raise ImageworksError(
            f"--host {host} exposes the proxy beyond this machine and {API_KEY_VARIABLE} is not set",
            f"set {API_KEY_VARIABLE} to the key clients must send, or bind 127.0.0.1",
        )
    open_registry(config).entries()  # fail now, not on the first request, when the registry cannot be read
    proxy_log = logging.getLogger("imageworks.proxy")
    proxy_log.setLevel(log_level.upper())
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(_RedactingFormatter("%(levelname)s:     %(message)s"))
    proxy_log.addHandler(stderr)
    listener = _bind(host, port)
    bound = listener.getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    click.echo(f"imageworks-chat-proxy: listening on http://{shown}:{bound[1]}/v1", err=True)
    app = create_app(open_registry, settings, bound_host=host)
    options = server_options(settings.header_timeout, settings.max_connections)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on", **options))
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised the Ctrl-C it caught: a normal stop
        pass
    click.echo("imageworks-chat-proxy: stopped", err=True)


def _loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (a loopback name or address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; :class:`ImageworksError` when that is not possible."""
    from imageworks.proxy.connections import BACKLOG

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
    except OSError as error:
        raise ImageworksError(f"cannot listen on {host}:{port}: {error.strerror or error}", "check --host") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError as error:
        listener.close()
        raise ImageworksError(
            f"cannot listen on {host}:{port}: {error.strerror or error}", "choose another --port or stop what uses it"
        ) from None
    return listener


def main(argv: Sequence[str] | None = None) -> int:
    """Run the proxy until interrupted; return the exit status (1 with one ``Error:`` line on bad input)."""
    try:
        proxy_command.main(args=list(argv) if argv is not None else None, prog_name="imageworks-chat-proxy", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        return 1
    except ImageworksError as error:
        click.echo(f"Error: {' '.join(str(error).split())}", err=True)
        return 1
    return 0


def console_main() -> None:
    """The ``imageworks-chat-proxy`` console script."""
    sys.exit(main())
