"""Each app's own layout for a variant: which names the bytes get, and the small files around them.

- **Ollama**: the GGUF as the blob ``blobs/sha256-<hex>`` (named by its own digest), a
  config blob, and the manifest ``manifests/<host>/<namespace>/<model>/<tag>`` exactly as
  Ollama writes it (schemaVersion 2, Docker media types for manifest and config, Ollama's
  for layers). A Hub variant is named ``hf.co/<owner>/<repo>:<QUANT>``, as ``ollama pull
  hf.co/...`` names it. Ollama reads one GGUF per model (plus a projector): split or
  non-GGUF variants are refused. No symbolic links: Ollama's blob store is
  content-addressed and this tool's own reader refuses blobs leading out of it.
- **LM Studio**: ``<models>/<publisher>/<model>/<file>.gguf``, the one depth it indexes.
  Symbolic links are followed (``lms import -L`` makes them).
- **Hugging Face cache**: ``models--<owner>--<repo>/blobs/<etag>`` (the sha256 for weight
  files, as for LFS files; the git blob id for small ones), ``snapshots/<commit>/<file>``
  relative symlinks to the blobs (as huggingface_hub makes them) and ``refs/main``. The
  commit is the recorded revision, else a stable made-up id derived from the content.

A layout is a plan: :mod:`imageworks.services.share.expose` carries it out, the bytes
first and the files that make them visible last.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import attrs

from imageworks.core.errors import ImageworksError
from imageworks.core.model import RegistryEntry
from imageworks.formats.gguf_facts import describe
from imageworks.formats.gguf_reader import GGUFFormatError, read_header
from imageworks.services.share.sources import SourceFile
from imageworks.services.share.stores import App

MANIFEST_MEDIA = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA = "application/vnd.docker.container.image.v1+json"
LAYER_MEDIA = "application/vnd.ollama.image."
COMMIT = re.compile(r"^[0-9a-f]{40}$")
NAME_PART = re.compile(r"[^A-Za-z0-9._-]+")
LFS_THRESHOLD = 10 * 1024 * 1024  # huggingface_hub's own line between git and LFS files is similar


class LayoutRefused(ImageworksError):
    """The app cannot hold this variant in its layout (wrong format, no repo id...)."""


@attrs.define
class Layout:
    """What sharing one variant with one app writes."""

    app: App
    name: str  # how the app names the model
    folders: list[Path] = attrs.field(factory=list)  # made first (an empty snapshot is a valid one)
    blobs: list[tuple[SourceFile, Path]] = attrs.field(factory=list)  # bytes to share: source -> new name
    symlink_ok: bool = False
    opens: list[Path] = attrs.field(factory=list)  # the paths the app opens
    symlinks: list[tuple[str, Path]] = attrs.field(factory=list)  # (points to, link), made after the blobs
    small_files: list[tuple[Path, bytes]] = attrs.field(factory=list)  # written last, in order
    notes: list[str] = attrs.field(factory=list)
    already: str | None = None  # why nothing is needed: the variant lives in this store


def _inside(path: Path, root: Path) -> bool:
    try:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))
    except OSError:
        return False


def _repo(entry: RegistryEntry) -> tuple[str, str] | None:
    """(owner, repo) on the Hub: the recorded ``hf_id``, or an Ollama ``hf.co/<owner>/<repo>:<tag>`` pull."""
    if entry.hf_id and "/" in entry.hf_id:
        owner, _, rest = entry.hf_id.partition("/")
        return owner, rest.partition("@")[0]
    served = (entry.served_model_id or "").split(":")[0].split("/")
    if len(served) == 3 and served[0].lower() in {"hf.co", "huggingface.co"} and all(served[1:]):
        return served[1], served[2]
    return None


def _clean(text: str) -> str:
    return NAME_PART.sub("-", text).strip("-.") or "model"


def _ggufs(entry: RegistryEntry, files: list[SourceFile], app: str) -> tuple[list[SourceFile], list[SourceFile]]:
    """(model GGUF files, projector files); refuse a variant without GGUF."""
    ggufs = [f for f in files if f.is_gguf]
    if not ggufs:
        kind = entry.download_format or "not GGUF"
        raise LayoutRefused(f"{app} loads GGUF files; {entry.name} is {kind}")
    projectors = [f for f in ggufs if "mmproj" in Path(f.relative).name.lower()]
    return [f for f in ggufs if f not in projectors], projectors


# -- LM Studio ------------------------------------------------------------------------
def lmstudio_layout(entry: RegistryEntry, files: list[SourceFile], root: Path) -> Layout:
    """``<root>/<publisher>/<model>/<file>.gguf`` for each GGUF of the variant."""
    models, projectors = _ggufs(entry, files, "LM Studio")
    repo = _repo(entry)
    served = (entry.served_model_id or "").split(":")[0].rsplit("/", 1)[-1]
    publisher = _clean(repo[0] if repo else entry.producer or "imageworks")
    model = _clean(repo[1] if repo else served or entry.slug or entry.family or entry.name)
    folder = root / publisher / model
    layout = Layout(app="lmstudio", name=f"{publisher}/{model}", symlink_ok=True)
    chosen = models + projectors
    if all(Path(os.path.realpath(f.path)).parent == Path(os.path.realpath(folder)) for f in chosen):
        layout.already = f"its files are in LM Studio's folder already ({folder})"
    for source in chosen:
        target = folder / Path(source.app_name).name
        layout.blobs.append((source, target))
        layout.opens.append(target)
    return layout


# -- Ollama ---------------------------------------------------------------------------
def ollama_model_name(entry: RegistryEntry, quant: str | None) -> tuple[str, str, str, str]:
    """(host, namespace, model, tag): ``hf.co/<owner>/<repo>:<QUANT>`` for a Hub variant."""
    tag = _clean((quant or entry.quantization or "latest").upper())
    repo = _repo(entry)
    if repo:
        return "hf.co", _clean(repo[0]), _clean(repo[1]), tag
    return "registry.ollama.ai", "imageworks", _clean((entry.family or entry.slug or entry.name).lower()), tag


def ollama_name(host: str, namespace: str, model: str, tag: str) -> str:
    """The name ``ollama list`` prints for a manifest path."""
    if host == "registry.ollama.ai":
        return f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
    return f"{host}/{namespace}/{model}:{tag}"


def _parameter_size(count: int) -> str:
    """Ollama's ``model_type`` (format.HumanNumber): ``268.10M``, ``8.0B``."""
    if count >= 1_000_000_000:
        return f"{count / 1_000_000_000:.1f}B"
    if count >= 1_000_000:
        return f"{count / 1_000_000:.2f}M"
    return str(count)


def ollama_layout(entry: RegistryEntry, files: list[SourceFile], store: Path) -> Layout:
    """The blob, config blob and manifest Ollama needs to list and load the variant."""
    models, projectors = _ggufs(entry, files, "Ollama")
    if entry.source_provider == "ollama" or any(_inside(f.path, store / "blobs") for f in models):
        return Layout(app="ollama", name=entry.served_model_id or entry.name,
                      already=f"it is an Ollama model already ({store})")
    if len(models) != 1:
        raise LayoutRefused(
            f"Ollama loads one GGUF file per model; {entry.name} has {len(models)} "
            "(merge split parts with `llama-gguf-split --merge` first)")
    weights = models[0]
    try:
        facts = describe(read_header(weights.path))
    except (GGUFFormatError, OSError) as error:
        raise LayoutRefused(f"{weights.path} is not a readable GGUF file: {error}") from error
    quant = str(facts.get("quantization") or entry.quantization or "") or None
    host, namespace, model, tag = ollama_model_name(entry, quant)
    architecture = str(facts.get("architecture") or entry.family or "unknown")
    config = {
        "model_format": "gguf",
        "model_family": architecture,
        "model_families": [architecture],
        "model_type": _parameter_size(int(facts.get("parameter_count") or 0)),
        "file_type": (quant or "unknown").upper(),
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{weights.sha256}"]},
    }
    config_bytes = json.dumps(config).encode()
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    blobs = store / "blobs"
    layout = Layout(app="ollama", name=ollama_name(host, namespace, model, tag))
    layers = []
    for source, media in [(weights, "model"), *((p, "projector") for p in projectors)]:
        target = blobs / f"sha256-{source.sha256}"
        layout.blobs.append((source, target))
        layers.append({"mediaType": LAYER_MEDIA + media, "digest": f"sha256:{source.sha256}", "size": source.size})
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA,
        "config": {"mediaType": CONFIG_MEDIA, "digest": f"sha256:{config_digest}", "size": len(config_bytes)},
        "layers": layers,
    }
    manifest_path = store / "manifests" / host / namespace / model / tag
    layout.small_files.append((blobs / f"sha256-{config_digest}", config_bytes))
    layout.small_files.append((manifest_path, json.dumps(manifest).encode()))
    layout.opens = [manifest_path, blobs / f"sha256-{weights.sha256}"]
    return layout


# -- Hugging Face cache ---------------------------------------------------------------
def git_blob_id(path: Path, size: int) -> str:
    """The git blob id (sha1 of ``blob <size>\\0`` + content): the etag of a non-LFS file."""
    digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def local_commit(files: list[SourceFile]) -> str:
    """A stable 40-hex revision for a snapshot whose Hub commit was not recorded."""
    text = "\n".join(f"{f.app_name}\t{f.sha256}" for f in sorted(files, key=lambda f: f.app_name))
    return hashlib.sha1(f"imageworks-local\n{text}".encode(), usedforsecurity=False).hexdigest()


def hf_cache_layout(entry: RegistryEntry, files: list[SourceFile], cache: Path) -> Layout:
    """``models--owner--repo`` with blobs, a snapshot of relative links and ``refs/main``."""
    repo = _repo(entry)
    if repo is None:
        raise LayoutRefused(f"the Hugging Face cache names a model by its Hub repo; {entry.name} records none (hf_id)")
    repo_id = f"{repo[0]}/{repo[1]}"
    folder = cache / f"models--{repo[0]}--{repo[1]}"
    layout = Layout(app="hf-cache", name=repo_id, symlink_ok=True)
    if all(_inside(f.path, folder) for f in files):
        layout.already = f"its files are in the Hugging Face cache already ({folder})"
    commit = entry.revision if entry.revision and COMMIT.match(entry.revision) else local_commit(files)
    if commit != entry.revision:
        layout.notes.append(f"no Hub commit recorded: the snapshot is named {commit} (derived from the content)")
    snapshot = folder / "snapshots" / commit
    layout.folders.append(snapshot)  # before any blob: a repo folder without snapshots/ is corrupt to scan_cache_dir
    for source in files:
        etag = source.sha256 if source.is_weights or source.size >= LFS_THRESHOLD else git_blob_id(source.path, source.size)
        blob = folder / "blobs" / etag
        layout.blobs.append((source, blob))
        link = snapshot / source.app_name
        layout.symlinks.append((os.path.relpath(blob, link.parent), link))
        layout.opens.append(link)
    ref = folder / "refs" / "main"
    try:
        current = ref.read_text(encoding="utf-8").strip() if ref.exists() else None
    except OSError:
        current = None
    if current in (None, commit):
        layout.small_files.append((ref, commit.encode()))
    else:
        layout.notes.append(f"refs/main names {current}; left as it is (this snapshot is revision {commit})")
    return layout
