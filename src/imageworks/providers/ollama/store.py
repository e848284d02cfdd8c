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

A store may be hostile, so nothing in it is trusted as a path: every digest must be
``sha256:<64 hex digits>`` (:func:`~imageworks.core.safe_paths.require_sha256_digest`;
one that is not makes the whole model a problem, as it does for Ollama), every blob
must resolve to a regular file directly inside ``<store>/blobs`` (a symlink leading out
of it is refused), manifests must resolve inside ``<store>/manifests``, and every file
is opened through :mod:`imageworks.core.regular_files`, so a FIFO or a device is a
problem, never a hang.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import attrs

from imageworks.core.config import Config
from imageworks.core.errors import ImageworksError, UnreadableFileError, UnsafePathError
from imageworks.core.naming import normalize_quant, ollama_family_and_quant
from imageworks.core.regular_files import open_regular, read_regular_file, require_regular_file
from imageworks.core.safe_paths import contained, require_sha256_digest
from imageworks.formats import bounded_json
from imageworks.formats.gguf_facts import describe
from imageworks.formats.gguf_reader import GGUFFormatError, GGUFHeader, read_header

log = logging.getLogger("imageworks.ollama.store")

SERVICE_STORE = Path("/usr/share/ollama/.ollama/models")  # the Linux systemd service's store
DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
MEDIA_PREFIX = "application/vnd.ollama.image."
MODEL_MEDIA = MEDIA_PREFIX + "model"
MAX_TEXT_LAYER = 1024 * 1024  # templates and licences are kilobytes; never read a weight blob as text
MAX_MANIFEST = 1024 * 1024  # a manifest lists a handful of layers in well under a kilobyte


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
    """``name`` in the form :func:`ollama_name` gives (``llama3`` and ``library/llama3`` -> ``llama3:latest``)."""
    text = name.strip()
    for prefix in (f"{DEFAULT_HOST}/{DEFAULT_NAMESPACE}/", f"{DEFAULT_HOST}/", f"{DEFAULT_NAMESPACE}/"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text if ":" in text.rsplit("/", 1)[-1] else f"{text}:latest"


def blob_path(store: Path, digest: str) -> Path | None:
    """The blob file of ``digest`` (``sha256:<hex>``): ``sha256-<hex>``, else the legacy ``sha256:<hex>``.

    ``None`` when neither exists. Raise :class:`~imageworks.core.errors.UnsafePathError`
    when ``digest`` is not a sha256 digest or the blob resolves anywhere but directly
    inside ``<store>/blobs``, and :class:`~imageworks.core.errors.UnreadableFileError`
    when it is not a regular file.
    """
    hexdigest = require_sha256_digest(digest).partition(":")[2]
    blobs = store / "blobs"
    for name in (f"sha256-{hexdigest}", f"sha256:{hexdigest}"):
        candidate = blobs / name
        if not os.path.lexists(candidate):
            continue
        real = contained(candidate, blobs)
        if real.parent != blobs.resolve():
            raise UnsafePathError(f"blob {candidate} leads to {real}, not a file of {blobs}")
        try:
            require_regular_file(real)
        except UnreadableFileError:
            raise
        except OSError:  # a dangling link or no permission: as good as missing
            continue
        return candidate
    return None


def blob_named_by_server(text: str) -> tuple[Path, str] | None:
    """(blob, digest) for the path a server's Modelfile names (``FROM <store>/blobs/sha256-<hex>``).

    Only a blob of an Ollama store visible here counts: the name is a sha256 digest, the
    folder is ``blobs`` beside ``manifests``, and the file passes :func:`blob_path`.
    Anything else is ``None`` (the model stays ``ollama://<name>``).
    """
    path = Path(text)
    prefix, hexdigest = path.name[:7], path.name[7:]
    if not path.is_absolute() or prefix not in {"sha256-", "sha256:"} or path.parent.name != "blobs":
        return None
    store = path.parent.parent
    try:
        if not (store / "manifests").is_dir():
            return None
        digest = require_sha256_digest(f"sha256:{hexdigest}")
        blob = blob_path(store, digest)
    except (ImageworksError, OSError) as error:
        log.warning("the server names blob %s, which is refused: %s", text, error)
        return None
    return (blob, digest.partition(":")[2]) if blob else None


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
        contained(manifest, store / "manifests")
        raw = read_regular_file(manifest, MAX_MANIFEST)
        data = bounded_json.loads(raw, "manifest", max_bytes=MAX_MANIFEST)
    except (UnsafePathError, UnreadableFileError) as error:  # a link out of the store, a FIFO, a device
        return _problem(model_entry, f"{model_entry.name}: manifest refused: {error}")
    except OSError as error:
        return _problem(model_entry, f"cannot read manifest {manifest}: {error.strerror or error}")
    except bounded_json.JSONLimitError as error:
        return _problem(
            model_entry, f"manifest {manifest}: {error}"
        )
    except UnicodeDecodeError:
        return _problem(model_entry, f"manifest {manifest} is not valid JSON (not UTF-8 text)")
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
        return _problem(model_entry, f"manifest {manifest} has no layers list")
    model_entry.manifest_digest = hashlib.sha256(raw).hexdigest()  # what `ollama list` shows as the ID
    try:
        model_entry.layers = tuple(_layers(store, data["layers"], model_entry.name))
        model_entry.config = _read_config(store, data.get("config"), model_entry.name)
    except ImageworksError as error:  # a forged digest or a blob that is no file of ours
        return _problem(model_entry, f"{model_entry.name}: manifest refused: {error}")
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
    """The layers with their blobs; raise :class:`ImageworksError` for a forged digest or blob."""
    layers = []
    for raw in raw_layers:
        if not isinstance(raw, dict) or raw.get("digest") is None:
            log.warning("%s: a manifest layer has no digest; ignored", name)
            continue
        media = str(raw.get("mediaType", ""))
        kind = media[len(MEDIA_PREFIX) :] if media.startswith(MEDIA_PREFIX) else media
        digest = require_sha256_digest(raw["digest"])
        blob = blob_path(store, digest)
        if blob is None and kind != "model":  # a missing model blob is reported by the caller
            log.warning("%s: %s blob %s is missing", name, kind or "layer", digest)
        size = raw.get("size")
        layers.append(Layer(kind=kind, digest=digest, size=size if isinstance(size, int) else None, blob=blob))
    return layers


def _read_config(store: Path, config: Any, name: str) -> dict[str, Any]:
    """The config blob's JSON; missing or not JSON is a warning, a forged or non-regular blob raises."""
    if not isinstance(config, dict) or config.get("digest") is None:
        return {}
    path = blob_path(store, config["digest"])
    if path is None:
        log.warning("%s: config blob %s is missing", name, config["digest"])
        return {}
    try:
        data = bounded_json.loads(read_regular_file(path, MAX_TEXT_LAYER), path.name, max_bytes=MAX_TEXT_LAYER)
    except UnreadableFileError:
        raise
    except (OSError, ValueError) as error:
        log.warning("%s: config blob %s is unreadable (%s); ignored", name, path.name, error)
        return {}
    return data if isinstance(data, dict) else {}


def _first_line(path: Path) -> str | None:
    try:
        with open_regular(path) as handle:
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
