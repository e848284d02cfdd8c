"""Value types shared by the core and every plugin (attrs classes, no behaviour).

The registry entry carries every field of the operations guide (sections 4.3 and 14).
Each record type has an ``extra`` mapping: keys found in a registry file that this
version does not know are kept there and written back unchanged, so an older tool never
drops what a newer tool (or a person) wrote.
"""

# Annotations are evaluated here (no ``from __future__ import annotations``): the converter
# reads them at every start, and as strings each would be compiled again (1 ms a start).
from typing import Any, Literal

import attrs

from imageworks.core.naming import is_registry_host

#: Which kind of evidence a detection rests on; the core prefers header over config over name.
Trust = Literal["header", "config", "name"]
#: What became of a plugin: imported and registered, broken, or turned off by the environment.
PluginStatus = Literal["loaded", "failed", "disabled"]


@attrs.define(kw_only=True)
class BackendConfig:
    """How a serving stack should load the model (``backend_config.*``)."""

    model_path: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class EntryMetadata:
    """README capture and detection notes (``metadata.*``)."""

    readme_file: str | None = None
    readme_sha256: str | None = None
    readme_signals: dict[str, Any] = attrs.field(factory=dict)
    license: str | None = None
    chat_template: str | None = None
    detection_evidence: list[str] = attrs.field(factory=list)
    # the bits/group descriptor (``w4g128``) when ``quantization`` names the method (``awq``)
    quant_scheme: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class ArtifactFile:
    """One file of an installed model: path relative to ``download_path``, size, digest.

    ``mtime_ns`` and ``inode`` are the file's stat when it was hashed (absent in entries
    recorded before they existed): ``normalize-formats --rebuild`` re-hashes only files
    whose (size, mtime_ns, inode) differ.
    """

    path: str
    size: int
    sha256: str | None = None
    mtime_ns: int | None = None
    inode: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class Artifacts:
    """Content identity of an installation (``artifacts.*``)."""

    aggregate_sha256: str | None = None
    files: list[ArtifactFile] = attrs.field(factory=list)
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class VersionLock:
    """Serving guardrail: a locked entry must keep its recorded aggregate digest."""

    locked: bool = False
    expected_aggregate_sha256: str | None = None
    locked_at: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class Install:
    """One host's copy of a variant's files (``installs[]`` of an entry; see core.installs).

    The fields are the entry's own top-level install fields, under the same names: an
    entry holds one install at its top level and the other hosts' installs here.
    """

    download_path: str | None = None
    download_root: str | None = None
    download_location: str | None = None
    host: str | None = None
    download_size_bytes: int | None = None
    download_directory_checksum: str | None = None
    download_files_count: int | None = None
    download_files: list[str] = attrs.field(factory=list)
    downloaded_at: str | None = None
    revision: str | None = None
    artifacts: Artifacts = attrs.field(factory=Artifacts)
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class RegistryEntry:
    """One model variant, keyed by its canonical ``name`` (guide 4.2 and 14)."""

    name: str
    display_name: str | None = None
    slug: str | None = None
    family: str | None = None
    backend: str = "unassigned"
    served_model_id: str | None = None
    backend_config: BackendConfig = attrs.field(factory=BackendConfig)
    quantization: str | None = None
    download_path: str | None = None
    download_root: str | None = None  # the store root a download went into (see core.removal)
    download_location: str | None = None
    host: str | None = None  # the host holding a local install; None: every host sees it (core.hosts)
    download_format: str | None = None
    download_size_bytes: int | None = None
    download_directory_checksum: str | None = None
    download_files_count: int | None = None
    download_files: list[str] = attrs.field(factory=list)
    downloaded_at: str | None = None
    last_accessed: str | None = None
    source_provider: str | None = None
    hf_id: str | None = None
    revision: str | None = None  # the commit the files came from (Hub downloads)
    metadata: EntryMetadata = attrs.field(factory=EntryMetadata)
    roles: list[str] = attrs.field(factory=list)
    role_priorities: dict[str, int] = attrs.field(factory=dict)
    capabilities: dict[str, bool] = attrs.field(factory=dict)
    model_aliases: list[str] = attrs.field(factory=list)
    artifacts: Artifacts = attrs.field(factory=Artifacts)
    version_lock: VersionLock = attrs.field(factory=VersionLock)
    deprecated: bool = False
    installs: list[Install] = attrs.field(factory=list)  # the other hosts' installs (core.installs)
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def is_logical(self) -> bool:
        """True when the entry names no local files (curated or ``ollama://`` only)."""
        return not self.download_path or "://" in self.download_path

    @property
    def producer(self) -> str | None:
        """Who published the weights, lower case: the Hub owner or the Ollama namespace.

        An Ollama name may start with its registry's host (``hf.co/<owner>/<repo>:tag``,
        ``registry.ollama.ai/library/llama3``): the host is not the producer, the
        namespace after it is; the ``library`` namespace (Ollama's own) falls back to the
        source.
        """
        if self.hf_id and "/" in self.hf_id:
            return self.hf_id.split("/", 1)[0].lower()
        if self.served_model_id:
            parts = self.served_model_id.split("/")
            if len(parts) > 2 or (len(parts) == 2 and is_registry_host(parts[0])):
                parts = parts[1:]  # a registry host, not a namespace
            if len(parts) == 2 and parts[0] and parts[0].lower() != "library":
                return parts[0].lower()
        return self.source_provider.lower() if self.source_provider else None


@attrs.define(kw_only=True, frozen=True)
class FileRecord:
    """A file found on disk by an inventory: relative path, size and sha256, and the
    modification time and inode it had when hashed (``None`` when unknown)."""

    path: str
    size: int
    sha256: str
    mtime_ns: int | None = None
    inode: int | None = None

    def same_file(self, size: int, mtime_ns: int, inode: int) -> bool:
        """Whether a file stat-ing as (size, mtime_ns, inode) is the one this record hashed."""
        return self.mtime_ns is not None and (self.size, self.mtime_ns, self.inode) == (size, mtime_ns, inode)


@attrs.define(kw_only=True, frozen=True)
class Inventory:
    """What is on disk under a download path, and the digest that summarises it."""

    files: tuple[FileRecord, ...]
    total_size: int
    checksum: str


@attrs.define(kw_only=True, frozen=True)
class DetectionSubject:
    """What a detector may look at. Any part may be missing.

    ``directory`` is set for models on disk; detectors must read headers only, never
    whole weight files. ``config_content`` is the text of ``config.json`` when known.
    """

    model_name: str | None = None
    filenames: tuple[str, ...] = ()
    config_content: str | None = None
    directory: str | None = None


@attrs.define(kw_only=True, frozen=True)
class Detection:
    """One candidate answer from a detector, with the evidence behind it.

    ``trust`` orders sources of evidence: ``header`` > ``config`` > ``name``.
    """

    format_type: str | None
    quantization: str | None = None
    confidence: float = 0.5
    evidence: tuple[str, ...] = ()
    detector: str = ""
    trust: Trust = "name"
    details: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False)


@attrs.define(kw_only=True, frozen=True)
class RouteRequest:
    """Where should a model go? Asked of router plugins (``imageworks_route``)."""

    model_id: str
    format_type: str | None
    branch: str | None = None
    location: str | None = None


@attrs.define(kw_only=True, frozen=True)
class Route:
    """A router's answer: a location label and the root folder it stands for."""

    label: str
    root: str
    reason: str = ""


@attrs.define(kw_only=True, frozen=True)
class PluginRecord:
    """What the plugin manager knows about one plugin, loaded or not."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    status: PluginStatus
    hooks: tuple[str, ...] = ()
    error: str | None = None
