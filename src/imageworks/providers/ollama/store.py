"""Read an Ollama model store on disk: manifests, config blobs and the GGUF model layer.

Layout (Ollama's own): ``<store>/manifests/<host>/<namespace>/<model>/<tag>`` holds an
OCI-style JSON manifest whose ``config`` and ``layers[]`` name blobs by digest; blobs
live in ``<store>/blobs/sha256-<hex>`` (older stores: ``sha256:<hex>``). The config blob
carries ``model_format``, ``model_family(ies)``, ``model_type`` (parameter size) and
``file_type`` (quantisation). The quantisation is taken from the GGUF header of the
model layer when readable (header only, through the detectors' lazy reader), else from
the config blob, else from the tag.

Damaged input never raises: a manifest that is not JSON, a missing blob or a model
layer that is not GGUF is logged as a warning and the model carries a ``problem``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import attrs

from imageworks.core.config import Config
from imageworks.core.naming import normalize_quant, ollama_family_and_quant
from imageworks.plugins.detectors._gguf_reader import GGUFFormatError, GGUFHeader, read_header
from imageworks.plugins.detectors.gguf_header import describe

log = logging.getLogger("imageworks.ollama.store")

SERVICE_STORE = Path("/usr/share/ollama/.ollama/models")  # the Linux systemd service's store
DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
MEDIA_PREFIX = "application/vnd.ollama.image."
MODEL_MEDIA = MEDIA_PREFIX + "model"
MAX_TEXT_LAYER = 1024 * 1024  # templates and licences are kilobytes; never read a weight blob as text


@attrs.define(kw_only=True, frozen=True)
class Layer:
    """One layer of a manifest: its kind (``model``, ``template``, ...), digest, size, blob."""

    kind: str
    digest: str
    size: int | None
    blob: Path | None


@attrs.define(kw_only=True)
class StoreModel:
    """One model tag found in a store, as Ollama would print it (``llama3:8b``)."""

    name: str
    store: Path
    manifest: Path
    manifest_digest: str | None = None
    layers: tuple[Layer, ...] = ()
    config: dict[str, Any] = attrs.field(factory=dict)
    model_blob: Path | None = None
    model_digest: str | None = None
    quantization: str | None = None
    quantization_source: str | None = None
    gguf: dict[str, Any] = attrs.field(factory=dict)
    license: str | None = None
    problem: str | None = None

    @property
    def format(self) -> str:
        """The weight container; Ollama stores GGUF unless its config says otherwise."""
        return str(self.config.get("model_format") or "gguf").lower()

    @property
    def parameter_size(self) -> str | None:
        """``8.0B`` and the like, from the config blob's ``model_type``."""
        value = self.config.get("model_type")
        return str(value) if value else None

    def layer(self, kind: str) -> Layer | None:
        """The first layer of ``kind``, if any."""
        return next((layer for layer in self.layers if layer.kind == kind), None)


def find_stores(config: Config) -> list[Path]:
    """Existing store folders: ``config.ollama_models`` (``$OLLAMA_MODELS`` or ``~/.ollama/models``),
    plus the Linux service store when ``OLLAMA_MODELS`` was not set explicitly."""
    candidates = [config.ollama_models]
    if config.sources.get("ollama_models", "default") == "default":
        candidates.append(SERVICE_STORE)
    found: list[Path] = []
    for candidate in candidates:
        try:
            if (candidate / "manifests").is_dir() and candidate.resolve() not in {f.resolve() for f in found}:
                found.append(candidate)
        except OSError as error:  # a store we may not enter (the service's, as another user)
            log.warning("cannot read Ollama store %s: %s", candidate, error.strerror or error)
    return found


def ollama_name(host: str, namespace: str, model: str, tag: str) -> str:
    """The name Ollama prints: ``llama3:8b``, ``ns/model:tag`` or ``host/ns/model:tag``."""
    if host == DEFAULT_HOST:
        base = model if namespace == DEFAULT_NAMESPACE else f"{namespace}/{model}"
    else:
        base = f"{host}/{namespace}/{model}"
    return f"{base}:{tag}"


def canonical_name(name: str) -> str:
    """``name`` in the form :func:`ollama_name` gives (``llama3`` -> ``llama3:latest``)."""
    text = name.strip()
    for prefix in (f"{DEFAULT_HOST}/{DEFAULT_NAMESPACE}/", f"{DEFAULT_HOST}/"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text if ":" in text.rsplit("/", 1)[-1] else f"{text}:latest"


def blob_path(store: Path, digest: str) -> Path | None:
    """The blob file of ``digest`` (``sha256:<hex>``): ``sha256-<hex>``, else the legacy ``sha256:<hex>``."""
    algorithm, _, hexdigest = digest.partition(":")
    if not hexdigest:
        return None
    for name in (f"{algorithm}-{hexdigest}", f"{algorithm}:{hexdigest}"):
        candidate = store / "blobs" / name
        if candidate.is_file():
            return candidate
    return None


def manifest_files(store: Path) -> list[Path]:
    """Every ``manifests/<host>/<namespace>/<model>/<tag>`` file, sorted; hidden files skipped."""
    root = store / "manifests"
    found: list[Path] = []
    for folder, dirs, files in os.walk(
        root, onerror=lambda e: log.warning("cannot list %s: %s", e.filename, e.strerror)
    ):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        depth = len(Path(folder).relative_to(root).parts)
        if depth == 3:
            found.extend(Path(folder, name) for name in files if not name.startswith("."))
    return sorted(found)


def read_store(store: Path, header_cache: dict[str, dict[str, Any] | None] | None = None) -> list[StoreModel]:
    """Every model tag in ``store``, sorted by name; unreadable ones carry a ``problem``.

    ``header_cache`` (digest -> GGUF facts) lets tags sharing one blob read its header once.
    """
    cache = {} if header_cache is None else header_cache
    models = [read_model(store, path, cache) for path in manifest_files(store)]
    return sorted(models, key=lambda m: m.name)


def read_model(store: Path, manifest: Path, header_cache: dict[str, dict[str, Any] | None]) -> StoreModel:
    """Read one manifest and what it points at."""
    host, namespace, model, tag = manifest.relative_to(store / "manifests").parts
    model_entry = StoreModel(name=ollama_name(host, namespace, model, tag), store=store, manifest=manifest)
    try:
        raw = manifest.read_bytes()
        data = json.loads(raw)
    except OSError as error:
        return _problem(model_entry, f"cannot read manifest {manifest}: {error.strerror or error}")
    except json.JSONDecodeError as error:
        return _problem(
            model_entry, f"manifest {manifest} is not valid JSON (line {error.lineno}, column {error.colno})"
        )
    except UnicodeDecodeError:
        return _problem(model_entry, f"manifest {manifest} is not valid JSON (not UTF-8 text)")
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
        return _problem(model_entry, f"manifest {manifest} has no layers list")
    model_entry.manifest_digest = hashlib.sha256(raw).hexdigest()  # what `ollama list` shows as the ID
    model_entry.layers = tuple(_layers(store, data["layers"], model_entry.name))
    model_entry.config = _read_config(store, data.get("config"), model_entry.name)
    weights = model_entry.layer("model")
    if weights is None:
        return _problem(model_entry, f"{model_entry.name}: manifest has no model layer")
    if weights.blob is None:
        return _problem(
            model_entry, f"{model_entry.name}: model blob {weights.digest} is missing from {store / 'blobs'}"
        )
    model_entry.model_blob = weights.blob
    model_entry.model_digest = weights.digest.partition(":")[2]
    license_layer = model_entry.layer("license")
    if license_layer and license_layer.blob:
        model_entry.license = _first_line(license_layer.blob)
    if model_entry.format == "gguf":
        facts = _gguf_facts(weights.blob, model_entry.model_digest, header_cache)
        if facts is None:
            return _problem(model_entry, f"{model_entry.name}: model blob {weights.blob.name} is not a GGUF file")
        model_entry.gguf = facts
    model_entry.quantization, model_entry.quantization_source = _quantization(model_entry)
    return model_entry


def _problem(model: StoreModel, message: str) -> StoreModel:
    log.warning("%s; skipped", message)
    model.problem = message
    return model


def _layers(store: Path, raw_layers: list[Any], name: str) -> list[Layer]:
    layers = []
    for raw in raw_layers:
        if not isinstance(raw, dict) or not isinstance(raw.get("digest"), str):
            log.warning("%s: a manifest layer has no digest; ignored", name)
            continue
        media = str(raw.get("mediaType", ""))
        kind = media[len(MEDIA_PREFIX) :] if media.startswith(MEDIA_PREFIX) else media
        blob = blob_path(store, raw["digest"])
        if blob is None and kind != "model":  # a missing model blob is reported by the caller
            log.warning("%s: %s blob %s is missing", name, kind or "layer", raw["digest"])
        size = raw.get("size")
        layers.append(Layer(kind=kind, digest=raw["digest"], size=size if isinstance(size, int) else None, blob=blob))
    return layers


def _read_config(store: Path, config: Any, name: str) -> dict[str, Any]:
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
        return {}
    path = blob_path(store, config["digest"])
    if path is None:
        log.warning("%s: config blob %s is missing", name, config["digest"])
        return {}
    try:
        if path.stat().st_size > MAX_TEXT_LAYER:
            raise ValueError("too large for a config blob")
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        log.warning("%s: config blob %s is unreadable (%s); ignored", name, path.name, error)
        return {}
    return data if isinstance(data, dict) else {}


def _first_line(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            text = handle.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return None
    line = next((line.strip() for line in text.splitlines() if line.strip()), None)
    return line[:120] if line else None


def _gguf_facts(blob: Path, digest: str, cache: dict[str, dict[str, Any] | None]) -> dict[str, Any] | None:
    """What the GGUF header says (cached per digest: tags often share a blob)."""
    if digest in cache:
        return cache[digest]
    facts: dict[str, Any] | None
    try:
        header: GGUFHeader = read_header(blob, with_tensors=False)
        if not isinstance(header.fields.get("general.file_type"), int):
            header = read_header(blob)  # the tensor types tell the quantisation instead
        facts = {k: v for k, v in describe(header).items() if v is not None and k != "parameter_count"}
    except (GGUFFormatError, OSError) as error:
        log.debug("%s: GGUF header unreadable: %s", blob, error)
        facts = None
    cache[digest] = facts
    return facts


def _quantization(model: StoreModel) -> tuple[str | None, str | None]:
    """Header, then config ``file_type``, then the tag."""
    header_quant = model.gguf.get("quantization")
    if header_quant:
        return normalize_quant(str(header_quant)), "gguf-header"
    config_quant = model.config.get("file_type")
    if isinstance(config_quant, str) and config_quant.strip():
        return normalize_quant(config_quant), "config"
    tag_quant = ollama_family_and_quant(model.name)[1]
    return (tag_quant, "tag") if tag_quant else (None, None)
