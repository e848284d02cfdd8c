"""``download ollama://<name:tag>``: plan, pull through the server, import the one model.

The Ollama server fetches the layers into its own store, so the plan has no files and
the core hands the acquisition back to the source (:meth:`Source.acquire`): pull with
progress (:mod:`.pull`), then record the model exactly as ``import-ollama`` does
(:func:`.importer.import_model`). A plain re-run asks the registry and the server once
(:mod:`.presence`) and pulls nothing when the recorded blob is still the served one.
"""

from __future__ import annotations

import os

from imageworks.core.errors import ImageworksError
from imageworks.core.model import RegistryEntry
from imageworks.core.naming import ollama_family_and_quant
from imageworks.core.plans import AcquireRequest, Acquisition, AcquisitionPlan, SourceContext
from imageworks.core.transfers import ProgressCallback
from imageworks.providers.ollama.refs import pull_name
from imageworks.providers.ollama.store import canonical_name

SOURCE = "ollama"


def name_of(identifier: str) -> str:
    """The Ollama name in ``identifier``; raise :class:`ImageworksError` when there is none."""
    name = pull_name(identifier)
    if name is None:
        raise ImageworksError(
            f"{identifier!r} is not an Ollama model name",
            "use ollama://<model>[:<tag>], <model>:<tag>, <namespace>/<model>:<tag> or hf.co/<owner>/<repo>:<quant>",
        )
    return name


def plan_pull(identifier: str, request: AcquireRequest, context: SourceContext) -> Acquisition:
    """What would be pulled from which server; one ``show`` says whether it is there already."""
    from imageworks.providers.ollama.presence import look_up

    name = name_of(identifier)
    _check_options(request, context)
    url = context.config.ollama_url
    presence = look_up(url, name)
    if presence.present is None:
        state = f"the server did not say whether it has it ({presence.detail})"
    else:
        state = "already on the server; the pull checks it is current" if presence.present else "not on the server yet"
    return Acquisition(
        source=SOURCE,
        display=canonical_name(name),
        model_id=canonical_name(name),
        format_type="gguf",
        quantization=ollama_family_and_quant(name)[1],
        backend="ollama",
        details={
            "ollama_model": name,
            "host": url,
            "present_on_server": presence.present,
            "registry_entries": [e.name for e in recorded_entries(context, name)],
            "action": "pull",
            "will_download": {"files": None, "bytes": None, "pull": name},  # only the server learns the sizes
            **({"location": request.location} if request.location else {}),
            "summary": f"Would pull {name} through the Ollama server at {url} ({state}) and import it into the registry",
        },
    )


def acquire_pull(plan: AcquisitionPlan, context: SourceContext, progress: ProgressCallback | None) -> RegistryEntry:
    """Pull the planned model with progress, then record it as ``import-ollama`` would."""
    from imageworks.providers.ollama.importer import import_model
    from imageworks.providers.ollama.pull import pull_model

    details = plan.acquisition.details
    name, url = str(details["ollama_model"]), str(details["host"])
    pull_model(url, name, progress)
    return import_model(context.registry, context.config, name, location=details.get("location"))


def installed_entry(identifier: str, request: AcquireRequest, context: SourceContext) -> RegistryEntry | None:
    """The recorded entry when the server still serves the recorded model (registry + one ``show``).

    A ``--location`` label other than the recorded one is not a no-op: the full path relabels.
    """
    name = pull_name(identifier)
    if name is None:
        return None
    candidates = [e for e in recorded_entries(context, name) if not request.location or e.download_location == request.location]
    if not candidates:
        return None
    from imageworks.providers.ollama.presence import look_up

    presence = look_up(context.config.ollama_url, canonical_name(name))
    if not presence.present:
        return None
    for entry in candidates:
        if _matches(entry, presence.blob_digest):
            return entry
    return None


def recorded_entries(context: SourceContext, name: str) -> list[RegistryEntry]:
    """The live Ollama entries that serve ``name`` (as ``served_model_id`` or an alias)."""
    wanted = canonical_name(name).casefold()  # Ollama compares names case-insensitively
    return [
        e for e in context.registry.entries()
        if not e.deprecated
        and e.source_provider == SOURCE
        and wanted in {canonical_name(n).casefold() for n in (e.served_model_id, *e.model_aliases) if n}
    ]


def _matches(entry: RegistryEntry, served_blob: str | None) -> bool:
    """Whether ``entry`` records the blob the server serves (a logical entry: the server has it)."""
    path = entry.download_path or ""
    if path.startswith("ollama://"):
        return True
    recorded = {f.sha256 for f in entry.artifacts.files if f.sha256}
    return bool(served_blob) and served_blob in recorded and os.path.isfile(path)


def _check_options(request: AcquireRequest, context: SourceContext) -> None:
    """Refuse the flags that mean nothing for a server-side pull, instead of ignoring them."""
    if request.location and request.location not in context.config.locations:
        raise ImageworksError(
            f"--location {request.location!r}: an Ollama pull lands in the server's own store",
            f"give a location label to record ({', '.join(sorted(context.config.locations)) or 'none configured'})",
        )
    if request.format_hint and request.format_hint.lower() != "gguf":
        raise ImageworksError(f"--format {request.format_hint}: Ollama models are GGUF", "leave --format out")
    if request.weights or request.support_repo or request.sha256:
        raise ImageworksError("--weights, --support-repo and --sha256 do not apply to an Ollama pull", "leave them out")
