"""The chat proxy's Starlette app: ``/v1/models`` from the registry, requests forwarded to the backend serving the model.

:func:`create_app` takes a registry opener (the launcher passes
:func:`imageworks.app.open_registry`) and calls it on every request, so an edit of the
registry (a download, a hand-edited curated file, a new role) shows at once, without a
restart. The registry is read in a worker thread: the event loop keeps streaming.

Routes: ``GET /v1/models``, ``GET /v1/models/{id}``, and ``POST /v1/chat/completions``,
``/v1/completions``, ``/v1/embeddings``. The ``model`` of a request is looked up with
:func:`imageworks.services.serve.roles.resolve_model` (variant name, served id, alias, then role
name, by ``roles[]`` else ``capabilities``) among the variants ``/v1/models`` lists, and replaced by the id the backend knows
before the request goes on (:mod:`imageworks.proxy.forwarding`). An unknown model is
OpenAI's 404 ``model_not_found`` error.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
from collections.abc import AsyncIterator, Callable

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imageworks.core.errors import ImageworksError
from imageworks.core.model import RegistryEntry
from imageworks.core.registry import Registry
from imageworks.proxy.catalog import model_card, model_list, routable, visible
from imageworks.proxy.forwarding import backend_headers, error_response, forward
from imageworks.proxy.settings import ProxySettings
from imageworks.services.serve.commands import served_name
from imageworks.services.serve.endpoints import Endpoint
from imageworks.services.serve.roles import Resolution, resolve_model

log = logging.getLogger("imageworks.proxy")
FORWARDED_PATHS = ("/chat/completions", "/completions", "/embeddings")
CONNECT_TIMEOUT = 10.0

RegistryOpener = Callable[[], Registry]
Served = list[tuple[RegistryEntry, Endpoint]]


def create_app(open_registry: RegistryOpener, settings: ProxySettings | None = None) -> Starlette:
    """The proxy over the registry ``open_registry`` opens (once per request); ``settings``
    default to the ``CHAT_PROXY_*`` variables."""
    chosen = settings or ProxySettings.from_environ()

    def served() -> Served:
        registry = open_registry()
        entries = visible(registry.entries(), chosen, registry.config)
        return routable(entries, registry.config.ollama_url)

    async def snapshot() -> Served | Response:
        try:
            return await run_in_threadpool(served)
        except ImageworksError as error:
            log.error("registry unreadable: %s", error)
            return error_response(500, f"the registry cannot be read: {error}", "server_error", "registry_error")

    async def list_models(request: Request) -> Response:
        current = await snapshot()
        if isinstance(current, Response):
            return current
        return JSONResponse(model_list(entry for entry, _ in current))

    async def retrieve_model(request: Request) -> Response:
        current = await snapshot()
        if isinstance(current, Response):
            return current
        requested = request.path_params["model"]
        found = resolve_model([entry for entry, _ in current], requested)
        return JSONResponse(model_card(found.entry)) if found else _not_found(requested, current)

    async def proxied(request: Request) -> Response:
        body = await request.body()
        try:
            payload = json.loads(body)
        except ValueError:
            return error_response(400, "the request body is not JSON", "invalid_request_error", "invalid_json")
        requested = payload.get("model") if isinstance(payload, dict) else None
        if not isinstance(requested, str) or not requested:
            return error_response(400, "the request names no model", "invalid_request_error", "missing_model", "model")
        current = await snapshot()
        if isinstance(current, Response):
            return current
        found = resolve_model([entry for entry, _ in current], requested)
        if found is None:
            return _not_found(requested, current)
        endpoint = next(point for entry, point in current if entry.name == found.entry.name)
        if payload["model"] != endpoint.model:
            payload["model"] = endpoint.model
            body = json.dumps(payload).encode()
        path = request.url.path.removeprefix("/v1")
        label = _label(requested, found)
        log.info("%s %s -> %s%s (%s)", path.lstrip("/"), label, endpoint.base_url, path, endpoint.model)
        headers = backend_headers(request.headers, endpoint, chosen.forward_auth)
        client: httpx.AsyncClient = request.app.state.client
        return await forward(client, endpoint, path, body, headers, label)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # trust_env=False: backends are reached directly, never through HTTP(S)_PROXY
        timeout = httpx.Timeout(chosen.timeout, connect=min(CONNECT_TIMEOUT, chosen.timeout))
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            app.state.client = client
            yield

    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
        *(Route(f"/v1{path}", proxied, methods=["POST"]) for path in FORWARDED_PATHS),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _label(requested: str, found: Resolution) -> str:
    """``'vision' (role -> qwen2-vl-...)`` or just ``'variant'``: how messages name the model."""
    if found.matched == "name":
        return repr(requested)
    return f"{requested!r} ({found.matched} -> {found.entry.name})"


def _not_found(requested: str, current: Served) -> JSONResponse:
    known = sorted({label for entry, _ in current for label in (served_name(entry), entry.name, *entry.roles)})
    close = difflib.get_close_matches(requested, known, n=3, cutoff=0.5)
    hint = f" (closest: {', '.join(close)})" if close else " (GET /v1/models lists the models served here)"
    return error_response(404, f"The model `{requested}` does not exist{hint}", "invalid_request_error", "model_not_found", "model")
