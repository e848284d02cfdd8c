"""The registry as configuration for the routers people already run: LiteLLM and llama-swap.

Pure functions from entries to the plain data of each tool's config file, plus the notes
(entries left out and why) a front end shows; :func:`to_yaml` writes it.

- LiteLLM (``config.yaml``, ``model_list``; see litellm's ``Router``/``Deployment``):
  one deployment per variant. ``model_name`` is the variant name; ``litellm_params``
  has ``model: openai/<served id>`` and ``api_base: http://host:port/v1`` for the
  OpenAI-compatible stacks (vLLM, LMDeploy, llama-server), ``model: ollama/<name:tag>``
  and the Ollama URL for Ollama variants. Aliases become
  ``router_settings.model_group_alias``, and so do role names (``chat``, ``vision``...):
  each role is an alias of the variant the chat proxy would pick for it
  (:func:`imageworks.services.serve.roles.best_for_role`), so ``model="chat"`` works
  through LiteLLM as through the proxy. Each server is at its variant's planned port
  (:mod:`imageworks.services.serve.endpoints`); variants whose ports clash are left out. ``api_key`` is never a secret: either the
  placeholder ``none`` (a local server started without ``--api-key`` accepts any key,
  but LiteLLM's OpenAI client insists on one) or ``os.environ/NAME``, LiteLLM's way of
  reading it from the environment at start-up. ``NAME`` is, per variant, the
  variant's own ``backend_config.api_key_env`` (the variable the chat proxy reads for
  that server, :func:`imageworks.services.serve.endpoints.api_key_env`), else the global
  ``api_key_env``; with ``api_base`` every non-Ollama variant goes to that one router,
  so the global one alone counts. An Ollama variant gets ``api_key`` only when its
  ``backend_config.api_key_env`` names one. Only ``IMAGEWORKS_BACKEND_KEY_*`` names count
  (:func:`imageworks.services.serve.endpoints.allowed_key_env`, the chat proxy's rule): any other
  name a registry entry carries is left out with a note, and ``--api-key-env`` refuses it.
  A ``backend_config.base_url`` that is not http(s) leaves its variant out, with a note.
- llama-swap (``config.yaml``, ``models:``; see its ``config-schema.json``): one model
  per variant started on demand: ``cmd`` is the launch command of
  :mod:`imageworks.services.serve.commands` with ``--port ${PORT}`` and the variant name as the
  served id (so llama-swap needs no ``useModelName``), ``proxy`` is
  ``http://127.0.0.1:${PORT}``, ``aliases`` the registry's aliases (each alias must be
  unique across the file: a clash is left out, with a note). Ollama variants are left
  out: Ollama starts and swaps its own models.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from typing import Any

import yaml

from imageworks.core.model import RegistryEntry
from imageworks.services.serve.commands import (
    LaunchCommand,
    LaunchError,
    LaunchOptions,
    Server,
    is_embedding,
    served_name,
    server_for,
)
from imageworks.services.serve.endpoints import (
    allowed_key_env,
    ollama_tag,
    port_clashes,
    recorded_base_url,
    refused_key_env,
    web_url,
)
from imageworks.services.serve.endpoints import api_key_env as variant_key_env
from imageworks.services.serve.roles import best_for_role

#: How a front end builds a launch command (usually :func:`imageworks.services.serve.running.resolve`).
CommandBuilder = Callable[[Server, RegistryEntry, LaunchOptions], LaunchCommand]
PORT_MACRO = "${PORT}"


def litellm_config(
    entries: Iterable[RegistryEntry],
    build: CommandBuilder,
    ollama_url: str,
    api_base: str | None = None,
    api_key_env: str | None = None,
    server: Server | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """``{"model_list": [...], "router_settings": ...}`` for LiteLLM, and notes on what was left out.

    ``api_base`` sends every non-Ollama variant to one URL (a router in front of the
    servers, such as llama-swap or the chat proxy) instead of each variant's own server;
    ``api_key_env`` names the variable holding the key of the servers (of that router,
    with ``api_base``) where a variant's ``backend_config.api_key_env`` names none;
    ``server`` serves every non-Ollama variant with that stack instead of its backend's.
    """
    if api_key_env is not None and not allowed_key_env(api_key_env):
        raise ValueError(f"{api_key_env!r} is not an IMAGEWORKS_BACKEND_KEY_* variable")
    model_list: list[dict[str, Any]] = []
    wanted_aliases: list[tuple[str, str]] = []  # (alias, model name), resolved once every name is known
    notes: list[str] = []
    entries = list(entries)
    clashes = {} if api_base else port_clashes(entries)
    exported: list[RegistryEntry] = []
    for entry in entries:
        if entry.name in clashes:
            notes.append(f"{entry.name}: planned on the same port as {clashes[entry.name]}; set backend_config.port "
                         "on one of them; left out")
            continue
        recorded = recorded_base_url(entry)
        if recorded is not None and not web_url(recorded):
            notes.append(f"{entry.name}: backend_config.base_url is not an http(s) URL; left out")
            continue
        refused = refused_key_env(entry)
        if refused:
            notes.append(
                f"{entry.name}: backend_config.api_key_env {refused} is not an IMAGEWORKS_BACKEND_KEY_* variable; no key written"
            )
        if entry.backend.lower() == "ollama":
            tag = ollama_tag(entry)
            if not tag:
                notes.append(f"{entry.name}: an Ollama variant without a served name:tag; left out")
                continue
            params: dict[str, Any] = {"model": f"ollama/{tag}", "api_base": ollama_url.rstrip("/")}
            own = variant_key_env(entry)
            if own:
                params["api_key"] = f"os.environ/{own}"
        else:
            command = _command(entry, build, server, LaunchOptions(), notes)
            if command is None:
                continue
            key_env = api_key_env if api_base else (variant_key_env(entry) or api_key_env)
            key = f"os.environ/{key_env}" if key_env else "none"  # the variable's name, never its value
            params = {"model": f"openai/{command.served_name}", "api_base": api_base or _base_url(entry, command), "api_key": key}
        info: dict[str, Any] = {"id": entry.name}
        if is_embedding(entry):
            info["mode"] = "embedding"
        model_list.append({"model_name": entry.name, "litellm_params": params, "model_info": info})
        wanted_aliases += [(alias, entry.name) for alias in entry.model_aliases]
        exported.append(entry)
    for role in sorted({role for entry in exported for role in entry.roles}):
        best = best_for_role(exported, role)
        if best is not None:
            wanted_aliases.append((role, best.name))
    names = {item["model_name"] for item in model_list}
    aliases: dict[str, str] = {}
    for alias, name in wanted_aliases:
        if alias in names or alias in aliases:
            notes.append(f"{name}: alias {alias!r} is already a model name or alias; left out")
        else:
            aliases[alias] = name
    config: dict[str, Any] = {"model_list": model_list}
    if aliases:
        config["router_settings"] = {"model_group_alias": dict(sorted(aliases.items()))}
    return config, notes


def llama_swap_config(
    entries: Iterable[RegistryEntry],
    build: CommandBuilder,
    server: Server | None = None,
    health_check_timeout: int | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """``{"models": {...}}`` for llama-swap, and notes on what was left out."""
    models: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    commands: dict[str, tuple[RegistryEntry, LaunchCommand]] = {}
    for entry in entries:
        if entry.backend.lower() == "ollama":
            notes.append(f"{entry.name}: served by Ollama, which swaps its own models; left out")
            continue
        command = _command(entry, build, server, LaunchOptions(port=PORT_MACRO, served_name=entry.name), notes)
        if command is not None:
            commands[entry.name] = (entry, command)
    used = set(commands)  # model ids and aliases share one namespace in llama-swap
    for name, (entry, command) in commands.items():
        model: dict[str, Any] = {"cmd": _join(command.argv), "proxy": f"http://127.0.0.1:{PORT_MACRO}"}
        if entry.display_name:
            model["name"] = entry.display_name[:128]
        described = " ".join(x for x in (entry.download_format, entry.quantization) if x)
        model["description"] = f"{described} via {command.server}".strip()[:1024]
        wanted = ([served_name(entry)] if served_name(entry) != name else []) + entry.model_aliases
        aliases = []
        for alias in dict.fromkeys(wanted):
            if alias in used:
                notes.append(f"{name}: alias {alias!r} is already a model id or alias; left out")
                continue
            used.add(alias)
            aliases.append(alias)
        if aliases:
            model["aliases"] = aliases
        models[name] = model
    config: dict[str, Any] = {}
    if health_check_timeout is not None:
        config["healthCheckTimeout"] = health_check_timeout
    config["models"] = models
    return config, notes


def to_yaml(data: dict[str, Any]) -> str:
    """Block-style YAML, keys in the order given, Unicode as is."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1_000_000)


def _command(
    entry: RegistryEntry, build: CommandBuilder, server: Server | None, options: LaunchOptions, notes: list[str]
) -> LaunchCommand | None:
    stack = server or server_for(entry)
    if stack is None:
        notes.append(f"{entry.name}: backend {entry.backend!r} names no serving stack (use --server); left out")
        return None
    try:
        return build(stack, entry, options)
    except LaunchError as error:
        notes.append(f"{entry.name}: {error}; left out")
        return None


def _base_url(entry: RegistryEntry, command: LaunchCommand) -> str:
    """``backend_config.base_url`` when the registry says where the server lives, else where the launch command puts it."""
    return recorded_base_url(entry) or command.base_url


def _join(argv: Iterable[str]) -> str:
    """Shell-quote ``argv`` for llama-swap (which splits POSIX-style), leaving its ``${PORT}`` macro bare."""
    return " ".join(arg if arg == PORT_MACRO else shlex.quote(arg) for arg in argv)
