"""One list of the Ollama models on this machine, from the store and (when up) the server.

The store is the authority for files: blob path, digest and the quantisation read from
the GGUF header. The server adds what the store cannot show: models in a store this
process cannot see (recorded as ``ollama://<name:tag>``, or at the blob path its
Modelfile names when that file is a blob of an Ollama store visible here, checked as the
store's own blobs are) and details such as the parameter size.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import attrs

from imageworks.core.config import Config
from imageworks.core.naming import normalize_quant, ollama_family_and_quant
from imageworks.providers.ollama.api import ApiModel, OllamaApi
from imageworks.providers.ollama.store import (
    StoreModel,
    blob_named_by_server,
    canonical_name,
    find_stores,
    read_store,
)
from imageworks.services.timestamps import utc_from_timestamp

log = logging.getLogger("imageworks.ollama")


@attrs.define(kw_only=True)
class FoundModel:
    """A model tag with everything known about it, ready to be named and recorded."""

    name: str
    origin: str  # "store", "api" or "store+api"
    path: str | None = None  # the GGUF blob, or ollama://<name> when no file is visible
    blob_name: str | None = None
    digest: str | None = None  # sha256 of the model blob
    manifest_digest: str | None = None
    format: str = "gguf"
    quantization: str | None = None
    quantization_source: str | None = None
    parameter_size: str | None = None
    model_family: str | None = None
    license: str | None = None
    chat_template: str | None = None
    store: str | None = None
    problem: str | None = None
    pulled_at: str | None = None  # when Ollama wrote the manifest (the pull); recorded as downloaded_at

    @property
    def is_local(self) -> bool:
        """Whether the weights are a file readable here."""
        return bool(self.path) and "://" not in (self.path or "")

    @property
    def content_id(self) -> str | None:
        """What identifies the weights: the blob digest, else the manifest digest."""
        return self.digest or self.manifest_digest


@attrs.define(kw_only=True)
class Catalog:
    """The merged view, with where it came from and what went wrong."""

    models: list[FoundModel]
    stores: list[str]
    api_url: str | None
    api_reachable: bool
    warnings: list[str] = attrs.field(factory=list)

    @property
    def authoritative(self) -> bool:
        """Whether a model missing here is really gone (a store was read or the server answered)."""
        return bool(self.stores) or self.api_reachable

    def by_name(self) -> dict[str, FoundModel]:
        """Canonical name -> model."""
        return {canonical_name(m.name): m for m in self.models}


def build_catalog(config: Config, *, use_api: bool = True, timeout: float = 3.0) -> Catalog:
    """Read every visible store, then ask the server (unless ``use_api`` is false)."""
    warnings: list[str] = []
    stores = find_stores(config)
    cache: dict[str, dict[str, Any] | None] = {}
    found: dict[str, FoundModel] = {}
    for store in stores:
        for model in read_store(store, cache):
            if model.problem:
                warnings.append(model.problem)
            found.setdefault(canonical_name(model.name), _from_store(model))
    if not stores:
        note = f"no Ollama store found at {config.ollama_models} (set OLLAMA_MODELS to the models folder)"
        log.info(note)
    url = config.ollama_url if use_api else None
    reachable = False
    if url:
        api = OllamaApi(url, timeout)
        try:
            listed = api.list_models()
            if listed is None:
                message = f"Ollama server at {url} is not reachable ({api.error}); using the store only"
                log.warning(message)
                warnings.append(message)
            else:
                reachable = True
                for item in listed:
                    _merge_api(found, item, api, cache)
        finally:
            api.close()
    if not stores and not reachable:
        warnings.append(f"no Ollama store at {config.ollama_models} and no server answered; nothing to import")
    return Catalog(
        models=sorted(found.values(), key=lambda m: m.name),
        stores=[str(s) for s in stores],
        api_url=url,
        api_reachable=reachable,
        warnings=warnings,
    )


def _from_store(model: StoreModel) -> FoundModel:
    template = model.layer("template")
    return FoundModel(
        name=model.name,
        origin="store",
        path=str(model.model_blob) if model.model_blob else None,
        blob_name=model.model_blob.name if model.model_blob else None,
        digest=model.model_digest,
        manifest_digest=model.manifest_digest,
        format=model.format,
        quantization=model.quantization,
        quantization_source=model.quantization_source,
        parameter_size=model.parameter_size or model.gguf.get("size_label"),
        model_family=model.config.get("model_family") or model.gguf.get("architecture"),
        license=model.license,
        chat_template="template layer" if template else ("embedded" if model.gguf.get("chat_template") else None),
        store=str(model.store),
        problem=model.problem,
        pulled_at=_written_at(model.manifest),
    )


def _written_at(path: Path) -> str | None:
    """When ``path`` was last written, or ``None`` when it cannot be read."""
    try:
        return utc_from_timestamp(path.stat().st_mtime)
    except (OSError, ValueError, OverflowError):
        return None


def _merge_api(found: dict[str, FoundModel], item: ApiModel, api: OllamaApi, cache: dict[str, Any]) -> None:
    key = canonical_name(item.name)
    known = found.get(key)
    if known is not None:
        known.origin = "store+api"
        known.parameter_size = known.parameter_size or item.parameter_size
        known.model_family = known.model_family or item.family
        return
    api.add_blob(item)
    model = FoundModel(
        name=item.name,
        origin="api",
        path=f"ollama://{item.name}",
        manifest_digest=item.digest,
        format=(item.format or "gguf").lower(),
        parameter_size=item.parameter_size,
        model_family=item.family,
    )
    visible = blob_named_by_server(item.blob_path) if item.blob_path else None
    if visible is not None:  # the server's store is visible after all
        blob, model.digest = visible
        model.path, model.blob_name = str(blob), blob.name
    quant = normalize_quant(item.quantization_level)
    tag_quant = ollama_family_and_quant(item.name)[1]
    model.quantization, model.quantization_source = (
        (quant, "api") if quant else (tag_quant, "tag" if tag_quant else None)
    )
    found[key] = model
