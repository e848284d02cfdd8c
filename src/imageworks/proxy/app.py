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
OpenAI's 404 ``model_not_found`` error (a role no listed variant has says so).
Who may call at all is :mod:`imageworks.proxy.guard`'s business.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imageworks.core.errors import ImageworksError
from imageworks.core.model import RegistryEntry
from imageworks.core.registry import Registry
from imageworks.proxy.catalog import model_card, model_list, routable, visible
from imageworks.proxy.forwarding import Target, backend_headers, error_response, forward, new_client
from imageworks.proxy.guard import HostGuard, RequestGuard, RequestRefused, parse_json, read_body, served_hosts
from imageworks.proxy.liveness import Liveness
from imageworks.proxy.settings import ProxySettings
from imageworks.services.serve.commands import served_name, server_for
from imageworks.services.serve.endpoints import Endpoint, refused_key_env, shown_url
from imageworks.services.serve.roles import Resolution, resolve_model

log = logging.getLogger("imageworks.proxy")
FORWARDED_PATHS = ("/chat/completions", "/completions", "/embeddings")
#: Role names a client may ask for even when no registry entry mentions them yet.
COMMON_ROLES = frozenset({"chat", "vision", "embedding"})

RegistryOpener = Callable[[], Registry]
Served = list[tuple[RegistryEntry, Endpoint]]


def create_app(
    open_registry: RegistryOpener, settings: ProxySettings | None = None, bound_host: str = "127.0.0.1"
) -> Starlette:
    """The proxy over the registry ``open_registry`` opens (once per request); ``settings``
    default to the ``CHAT_PROXY_*`` variables; ``bound_host`` is the address it listens on
    (a ``Host`` it always serves)."""
    chosen = settings or ProxySettings.from_environ()
    liveness = Liveness()

    def served() -> tuple[Served, frozenset[str]]:
        registry = open_registry()
        every = registry.entries()
        entries = visible(every, chosen, registry.config)
        roles = set(COMMON_ROLES)
        for entry in every:
            roles.update(entry.roles)
            roles.update(name for name, flag in entry.capabilities.items() if flag)
        return routable(entries, registry.config.ollama_url), frozenset(roles)

    async def snapshot() -> tuple[Served, frozenset[str]] | Response:
        try:
            return await run_in_threadpool(served)
        except ImageworksError as error:
            log.error("registry unreadable: %s", error)
            return error_response(500, f"the registry cannot be read: {error}", "server_error", "registry_error")

    async def live_of(request: Request, current: Served) -> dict[str, bool]:
        client: httpx.AsyncClient = request.app.state.client
        return await liveness.check(client, {endpoint.base_url for _, endpoint in current})

    async def list_models(request: Request) -> Response:
        current = await snapshot()
        if isinstance(current, Response):
            return current
        pairs, _ = current
        live = await live_of(request, pairs)
        if chosen.hide_offline:
            pairs = [(entry, endpoint) for entry, endpoint in pairs if live[endpoint.base_url]]
        listing = model_list(entry for entry, _ in pairs)
        by_name = {entry.name: live[endpoint.base_url] for entry, endpoint in pairs}
        for card in listing["data"]:
            card["live"] = by_name[card["name"]]
        return JSONResponse(listing)

    async def retrieve_model(request: Request) -> Response:
        current = await snapshot()
        if isinstance(current, Response):
            return current
        pairs, roles = current
        requested = request.path_params["model"]
        found = resolve_model([entry for entry, _ in pairs], requested)
        if found is None:
            return _not_found(requested, pairs, roles)
        card = model_card(found.entry)
        endpoint = next(point for entry, point in pairs if entry.name == found.entry.name)
        card["live"] = (await live_of(request, [(found.entry, endpoint)]))[endpoint.base_url]
        return JSONResponse(card)

    async def proxied(request: Request) -> Response:
        deadline = asyncio.get_running_loop().time() + chosen.deadline
        try:
            async with asyncio.timeout_at(deadline):
                body = await read_body(request, chosen.max_body)
            payload = parse_json(body)
        except TimeoutError:
            return RequestRefused(408, "the request body did not arrive in time", "request_timeout").response()
        except RequestRefused as refused:
            return refused.response()
        requested = payload.get("model") if isinstance(payload, dict) else None
        if not isinstance(requested, str) or not requested:
            return error_response(400, "the request names no model", "invalid_request_error", "missing_model", "model")
        current = await snapshot()
        if isinstance(current, Response):
            return current
        pairs, roles = current
        found = resolve_model([entry for entry, _ in pairs], requested)
        if found is None:
            return _not_found(requested, pairs, roles)
        endpoint = next(point for entry, point in pairs if entry.name == found.entry.name)
        if payload["model"] != endpoint.model:
            payload["model"] = endpoint.model
            body = orjson.dumps(payload)
        path = request.url.path.removeprefix("/v1")
        label = _label(requested, found)
        log.info("%s %s -> %s%s (%s)", path.lstrip("/"), label, shown_url(endpoint.base_url), path, endpoint.model)
        ignored = refused_key_env(found.entry)
        if ignored:
            log.warning("%s: backend_config.api_key_env %s is not an IMAGEWORKS_BACKEND_KEY_* variable; no key sent",
                        found.entry.name, ignored)
        headers = backend_headers(request.headers, endpoint, chosen.forward_auth)
        client: httpx.AsyncClient = request.app.state.client
        target = Target(endpoint=endpoint, label=label, start_hint=start_hint(found.entry, endpoint))
        return await forward(client, target, path, body, headers, deadline)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with new_client(chosen.timeout) as client:
            app.state.client = client
            yield

    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
        *(Route(f"/v1{path}", proxied, methods=["POST"]) for path in FORWARDED_PATHS),
    ]
    middleware = [Middleware(HostGuard, hosts=served_hosts(bound_host, chosen.allowed_hosts))]
    if chosen.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(chosen.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "x-request-id"],
                max_age=600,
            )
        )
    middleware.append(Middleware(RequestGuard, settings=chosen))
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


def start_hint(entry: RegistryEntry, endpoint: Endpoint) -> str:
    """How to start the server ``entry`` is served by (the end of a 502's message)."""
    if entry.backend.lower() == "ollama":
        return f"start Ollama (`ollama serve`) and pull the model (`ollama pull {endpoint.model}`)"
    stack = server_for(entry)
    if stack is None:
        return f"start the server that answers at {shown_url(endpoint.base_url)}"
    return f"start it with `imageworks-download serve-{stack} {entry.name}`"


def _label(requested: str, found: Resolution) -> str:
    """``'vision' (role -> qwen2-vl-...)`` or just ``'variant'``: how messages name the model."""
    if found.matched == "name":
        return repr(requested)
    return f"{requested!r} ({found.matched} -> {found.entry.name})"


def _not_found(requested: str, current: Served, roles: frozenset[str]) -> JSONResponse:
    if requested in roles:
        message = (f"No installed variant has the role `{requested}` (give one the role in roles[], or install one "
                   "that has it; `imageworks-download list-roles` shows the roles)")
        return error_response(404, message, "invalid_request_error", "model_not_found", "model")
    known = sorted({label for entry, _ in current for label in (served_name(entry), entry.name, *entry.roles)})
    close = difflib.get_close_matches(requested, known, n=3, cutoff=0.5)
    hint = f" (closest: {', '.join(close)})" if close else " (GET /v1/models lists the models served here)"
    return error_response(404, f"The model `{requested}` does not exist{hint}", "invalid_request_error", "model_not_found", "model")
