"""Starting a serving stack for an installed variant, and waiting until it answers.

:func:`prepare` is what every front end calls before running a command from
:mod:`imageworks.services.serve.commands`: it refuses a variant that is not installed, or that is
locked (``version_lock``) and whose files no longer match the locked digest (the full
check of :func:`imageworks.services.maintain.verify.verify_entry`), and fills in what the builders
cannot know without reading the disk (a GGUF's base repo, for the tokenizer, from the
model card's ``base_model:``). :func:`start` runs the argv (never through a shell) and
polls ``GET <base_url>/models`` until the served id is listed, the process exits, or the
timeout passes; a process that never got ready is stopped.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs
import yaml

from imageworks.core.model import RegistryEntry
from imageworks.core.regular_files import read_regular_file
from imageworks.services.listing.query import is_installed
from imageworks.services.maintain.verify import verify_entry
from imageworks.services.memory.local_facts import entry_facts
from imageworks.services.memory.serving import ServingPlan, plan_for
from imageworks.services.serve.commands import LaunchCommand, LaunchError, LaunchOptions, Server, build_command
from imageworks.services.serve.endpoints import planned_port, port_clashes

log = logging.getLogger("imageworks.launch")
MAX_CARD_BYTES = 2 * 1024 * 1024
# Loopback polling must not go through a proxy configured for the outside world.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def check_servable(entry: RegistryEntry, neighbours: Iterable[RegistryEntry] = ()) -> None:
    """Raise :class:`LaunchError` unless ``entry``'s files are on disk and, if it is locked, unchanged."""
    if entry.is_logical:
        raise LaunchError(f"{entry.name} has no local files to serve ({entry.download_path or 'no path'})")
    if not is_installed(entry):
        raise LaunchError(
            f"{entry.name} is not installed: {entry.download_path} does not exist",
            "download it again, or run `imageworks-download verify --fix-missing`",
        )
    if entry.version_lock.locked:
        result = verify_entry(entry, neighbours=neighbours)
        if not result.ok:
            raise LaunchError(
                f"{entry.name} is locked and its files drifted: {'; '.join(result.problems)}",
                f"restore the files, or unlock with `imageworks-model-registry verify {entry.name} --unlock`",
            )


def base_model(entry: RegistryEntry) -> str | None:
    """The ``base_model:`` of the entry's model card front matter (the first one, if a list)."""
    folder = Path(entry.download_path or "")
    card = entry.metadata.readme_file
    if not card or entry.is_logical:
        return None
    path = (folder.parent if folder.is_file() else folder) / card
    try:
        text = read_regular_file(path, MAX_CARD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    try:
        front = yaml.safe_load(text[3:end])
    except yaml.YAMLError as error:
        log.info("cannot read the front matter of %s: %s", path, error)
        return None
    value = front.get("base_model") if isinstance(front, dict) else None
    if isinstance(value, list):
        value = value[0] if value else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def prepare(
    server: Server, entry: RegistryEntry, options: LaunchOptions, neighbours: Iterable[RegistryEntry] = ()
) -> LaunchCommand:
    """The command that starts ``entry`` now: :func:`check_servable`, the port plan (a variant
    whose planned port another variant shares is refused unless ``options.port`` is given),
    then :func:`resolve`."""
    neighbours = list(neighbours)
    check_servable(entry, neighbours)
    if options.port is None:
        clash = port_clashes([entry, *(n for n in neighbours if n.name != entry.name)]).get(entry.name)
        if clash:
            raise LaunchError(
                f"{entry.name} and {clash} are both planned on port {planned_port(entry)}",
                "set backend_config.port for one of them (or pass --port; the proxy and exports follow backend_config.port)",
            )
    return resolve(server, entry, options)


def serving_plan(
    entry: RegistryEntry, context: int | None = None, slots: int | None = None, cache: str | None = None
) -> ServingPlan | None:
    """The plan the memory estimate uses for ``entry`` (its headers read from disk): the values
    given, the engine's defaults elsewhere (``backend_config.max_model_len`` before the model's
    length); None when its headers cannot be read. ValueError for a cache type its engine lacks."""
    found = entry_facts(entry)
    if found is None or found.facts is None:
        return None
    recorded = entry.backend_config.extra.get("max_model_len")
    if context is None and isinstance(recorded, int) and not isinstance(recorded, bool) and recorded > 0:
        context = recorded
    return plan_for(found.facts, context, slots, cache)


def resolve(server: Server, entry: RegistryEntry, options: LaunchOptions) -> LaunchCommand:
    """The command for ``entry`` with what only the disk knows filled in: a GGUF's tokenizer comes
    from its card's base repo when neither the options nor ``backend_config.tokenizer`` name one;
    the serving plan (context, slots) comes from its headers when the options carry none, so the
    command pins what ``list``/``analyze`` estimated."""
    if server == "lmdeploy":
        _refuse_for_lmdeploy(entry)
    if options.plan is None and not entry.is_logical:
        plan = serving_plan(entry, options.max_model_len)
        if plan is not None and (server == "llama-server") == (plan.engine == "llama.cpp") and server != "lmdeploy":
            options = attrs.evolve(options, plan=plan)
    if (
        server == "vllm"
        and (entry.download_format or "").lower() == "gguf"
        and not options.tokenizer
        and not entry.backend_config.extra.get("tokenizer")
    ):
        found = base_model(entry)
        if found:
            options = attrs.evolve(options, tokenizer=found)
            command = build_command(server, entry, options)
            note = tokenizer_note(found)
            return attrs.evolve(command, warnings=(*command.warnings, note)) if note else command
    return build_command(server, entry, options)


def tokenizer_note(repo: str) -> str | None:
    """A note when vLLM will fetch the base repo's tokenizer from the Hub and may need a token:
    the repo is not in the local Hugging Face cache and no ``HF_TOKEN`` is set (base repos of
    popular GGUFs, such as google/gemma-* and meta-llama/*, are gated)."""
    if Path(repo).expanduser().is_dir() or os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(repo, "tokenizer_config.json"), str):
            return None
    except (ImportError, ValueError):  # not installed, or not a repo id
        pass
    return (f"the tokenizer comes from the Hub repo {repo}, not in the local cache; if that repo is gated, "
            "accept its terms on huggingface.co and set HF_TOKEN before starting vLLM")


#: Architectures LMDeploy cannot load: encoders (``lmdeploy/archs.py`` knows causal models only).
_ENCODER_SUFFIXES = ("Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification")


def architectures(entry: RegistryEntry) -> list[str]:
    """``architectures`` of the entry's ``config.json`` on disk (empty when there is none)."""
    folder = Path(entry.download_path or "")
    try:
        config = json.loads(read_regular_file(folder / "config.json", MAX_CARD_BYTES))
    except (OSError, ValueError):
        return []
    found = config.get("architectures") if isinstance(config, dict) else None
    return [a for a in found if isinstance(a, str)] if isinstance(found, list) else []


def _refuse_for_lmdeploy(entry: RegistryEntry) -> None:
    """LMDeploy serves causal language models: an encoder (``BertModel``...) is refused in one line."""
    encoders = [a for a in architectures(entry) if a.endswith(_ENCODER_SUFFIXES) and "CausalLM" not in a]
    if encoders:
        raise LaunchError(f"LMDeploy cannot serve {entry.name}: architecture {encoders[0]} is an encoder, not a model LMDeploy supports",
                          "serve it with vLLM (serve-vllm)")


def start(
    command: LaunchCommand,
    timeout: float = 600.0,
    poll: float = 0.5,
    popen: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
) -> subprocess.Popen[bytes]:
    """Run ``command`` and return the process once ``/v1/models`` lists its served id.

    Raises :class:`LaunchError` when the executable is missing, when the process exits
    first, or when ``timeout`` seconds pass (the process is then stopped).
    """
    program = command.argv[0]
    try:
        process = popen(list(command.argv))
    except FileNotFoundError as error:
        raise LaunchError(
            f"{program} not found", f"install {command.server}, or point --{_flag(command)} at its executable"
        ) from error
    except PermissionError as error:
        raise LaunchError(f"cannot run {program}: permission denied") from error
    url = command.base_url + "/models"
    deadline = time.monotonic() + timeout
    try:
        while True:
            status = process.poll()
            if status is not None:
                raise LaunchError(f"{program} exited with status {status} before {url} answered", "see its output above")
            if _lists(url, command.served_name):
                return process
            if time.monotonic() >= deadline:
                raise LaunchError(
                    f"{command.server} did not answer GET {url} within {timeout:g} s; stopped it",
                    "a large model may need longer: raise --timeout",
                )
            time.sleep(poll)
    except BaseException:
        stop(process)
        raise


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Terminate ``process`` (SIGTERM, then SIGKILL after ``grace`` seconds) and reap it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _lists(url: str, served: str) -> bool:
    """Whether ``url`` answers with an OpenAI model list naming ``served``."""
    try:
        with _OPENER.open(url, timeout=2) as response:
            body = json.loads(response.read(4 * 1024 * 1024))
    except (OSError, ValueError):  # not up yet (refused, reset, 503 while loading, half-written JSON)
        return False
    models = body.get("data") if isinstance(body, dict) else None
    return isinstance(models, list) and any(isinstance(m, dict) and m.get("id") == served for m in models)


def _flag(command: LaunchCommand) -> str:
    return {"vllm": "vllm-bin", "lmdeploy": "lmdeploy-bin", "llama-server": "llama-server-bin"}[command.server]
