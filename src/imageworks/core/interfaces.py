"""The objects plugins hand to the core: sources, detectors, registry backends, GUI panels.

Plugins return instances of these from their ``imageworks_register_*`` hooks. They are
plain base classes (subclass them, or provide the same attributes); the plugin manager
checks the attributes when it collects them and reports a plugin whose objects are
malformed instead of crashing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import attrs

from imageworks.core.errors import ImageworksError
from imageworks.core.layers import dump_layer
from imageworks.core.model import Detection, DetectionSubject, RegistryEntry, Trust

if TYPE_CHECKING:
    from imageworks.core.config import Config
    from imageworks.core.plans import AcquireRequest, Acquisition, AcquisitionPlan, SourceAnalysis, SourceContext
    from imageworks.core.registry import Registry
    from imageworks.core.reports import ImportOutcome
    from imageworks.core.settings import Setting
    from imageworks.core.transfers import ProgressCallback

#: The registry's layers: the two a store keeps, and the merged snapshot written beside them.
LayerName = Literal["curated", "discovered", "merged"]


class Source:
    """A place models come from (Hugging Face, Ollama, a local folder tree, a URL, ...).

    ``name`` is the short identifier users see; ``description`` one line for listings.
    ``download ID`` asks the sources in ascending ``priority`` (then by name) whether they
    ``handle`` ID and runs the first that does: built-ins use 10 (``ollama://``) and 50
    (Hugging Face ids and URLs, the catch-all for ``owner/repo``); third parties get 100
    unless they set their own (lower to take identifiers from a built-in).

    To acquire, a source implements :meth:`plan`: it resolves the identifier and returns
    the files to fetch. The core does everything else (route, target folder, free-space
    check, multi-stream resumable transfer with sha256 verification, detection, README
    capture, naming and recording, progress). A source that cannot hand over URLs (the
    Ollama server pulls by itself) also overrides :meth:`acquire`. The defaults say the
    source does not support the operation.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    priority: ClassVar[int] = 100
    #: The source's own settings (as ``imageworks_register_settings`` declares a plugin's).
    settings: ClassVar[tuple[Setting, ...]] = ()

    def handles(self, identifier: str, config: Config | None = None) -> bool:
        """Whether this source acquires ``identifier`` (a model id, URL or ``scheme://``).

        The host passes the merged ``config`` (read settings from it, with
        ``config.setting(...)`` for the plugin's own; never load the configuration in
        here); ``None`` only from a direct call (use ``given_config(config)``).
        """
        return False

    def plan(self, identifier: str, request: AcquireRequest, context: SourceContext) -> Acquisition:
        """Resolve ``identifier`` and decide what to fetch; write nothing.

        Raise :class:`~imageworks.core.errors.ImageworksError` (one line and a hint) for
        anything the user must fix: unknown model, refused name, no such file.
        """
        raise ImageworksError(f"source {self.name!r} cannot download models")

    def acquire(
        self, plan: AcquisitionPlan, context: SourceContext, progress: ProgressCallback | None
    ) -> RegistryEntry | None:
        """Fetch and record ``plan`` by yourself and return the entry; ``None`` (the
        default) lets the core transfer ``plan.acquisition.files`` and record them."""
        return None

    def installed(self, identifier: str, request: AcquireRequest, context: SourceContext) -> RegistryEntry | None:
        """A quick answer for a plain re-run: the entry when ``identifier`` is installed
        and current where ``request.location`` says, else ``None`` (then the full plan
        runs). Must be cheap."""
        return None

    def analyze(self, identifier: str, context: SourceContext) -> SourceAnalysis:
        """What ``identifier`` offers (formats, quantisations, files) without downloading."""
        raise ImageworksError(f"source {self.name!r} cannot analyse models")

    def import_models(self, registry: Registry, options: Mapping[str, Any], context: SourceContext) -> ImportOutcome:
        """Record the models this source finds already present (``scan``, ``import-ollama``).

        ``registry`` is the opened registry, or its scratch copy for a dry run (the same
        code runs either way, so a dry run reports what the real run would do); the
        caller may hold it in a ``batch()`` with other work. ``options`` are the
        command's flags by name.
        """
        raise ImageworksError(f"source {self.name!r} cannot import models")

    def discover(self, options: Mapping[str, Any]) -> Iterator[RegistryEntry]:
        """Yield entries for models this source finds already present (scan, import)."""
        return iter(())


class Detector:
    """Recognises format and quantisation from one kind of evidence.

    ``trust`` is ``"header"`` (file headers), ``"config"`` (config files) or ``"name"``
    (file, repo and branch names); the core prefers header over config over name.
    """

    name: ClassVar[str] = ""
    trust: ClassVar[Trust] = "name"

    def detect(self, subject: DetectionSubject) -> Iterable[Detection]:
        """Return candidate detections for ``subject``, best first; empty if unsure."""
        raise NotImplementedError


@attrs.define(kw_only=True)
class RegistryLayers:
    """The raw registry: entry name -> JSON object, per layer.

    Raw dicts (not entries) so that a backend never drops a field it does not know.
    """

    curated: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    discovered: dict[str, dict[str, Any]] = attrs.field(factory=dict)


@attrs.define(kw_only=True, frozen=True)
class BackupSet:
    """One backup of the registry, as :meth:`RegistryStore.list_backups` lists them.

    ``id`` is what :meth:`RegistryStore.read_backup` takes back; ``location`` says where
    the copy lives, for messages (a folder for the JSON backend).
    """

    id: str
    created: dt.datetime
    location: str


class RegistryStore:
    """An opened registry: read it, or change it inside a locked transaction."""

    description: str = ""

    def read(self) -> RegistryLayers:
        """Return a consistent snapshot of both layers without taking the write lock."""
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[RegistryLayers]:
        """Lock, read fresh layers, let the caller mutate them, write what changed.

        On normal exit the changed layers and the merged snapshot are written
        atomically; on an exception nothing is written.
        """
        raise NotImplementedError

    def backup(self) -> list[str]:
        """Copy the current layers aside before a destructive change; return the copies."""
        raise NotImplementedError

    def list_backups(self) -> list[BackupSet]:
        """The backups :meth:`backup` made, newest first (the default keeps none)."""
        return []

    def read_backup(self, backup_id: str) -> RegistryLayers:
        """The layers saved in backup ``backup_id`` (an id from :meth:`list_backups`).

        Backends may accept more (the JSON backend also takes a backup folder or one
        registry file by path). Raise :class:`ImageworksError` when there is no such
        backup or it cannot be read.
        """
        raise ImageworksError(f"registry {self.description} keeps no backups", "back it up with its own tools")

    def restore_backup(self, backup_id: str, backup_first: bool = True) -> list[str]:
        """Make the layers those of backup ``backup_id``; return the backup of the current
        layers taken first (with ``backup_first``).

        The default reads the backup (a damaged one raises before anything is written)
        and writes its layers in one transaction; backends override it to restore their
        files byte for byte.
        """
        layers = self.read_backup(backup_id)
        copies = self.backup() if backup_first else []
        with self.transaction() as current:
            current.curated, current.discovered = layers.curated, layers.discovered
        return copies

    def export_layers(self) -> dict[LayerName, bytes | None]:
        """Each layer (``curated``, ``discovered``) as the bytes of its JSON layer file,
        ``None`` when there is none: what ``registry export --to-json`` writes.

        The default writes the canonical form of each non-empty layer; backends that keep
        a layer file's own bytes (a hand-kept curated file) return those.
        """
        layers = self.read()
        return {
            "curated": dump_layer(layers.curated) if layers.curated else None,
            "discovered": dump_layer(layers.discovered) if layers.discovered else None,
        }

    def import_layers(self, files: Mapping[LayerName, bytes | None], backup_first: bool = True) -> list[str]:
        """Make each layer named in ``files`` the one its JSON file bytes hold (``None``:
        no file, an empty layer), as :meth:`export_layers` of another store gives them;
        return the backup of the current layers taken first (with ``backup_first``).

        Every file is parsed before anything is written (a damaged one raises
        :class:`ImageworksError` and changes nothing). A backend that keeps the bytes
        gives the same bytes back from :meth:`export_layers`.
        """
        raise ImageworksError(f"registry {self.description} cannot import layer files")

    def check_writable(self) -> None:
        """Raise :class:`ImageworksError` unless a transaction could write right now.

        Called before long work whose result must be recorded (a download), so that a
        registry that cannot take the result fails before the work, not after. The
        default proves the layers readable; backends add what writing needs.
        """
        self.read()

    def layer_location(self, layer: LayerName) -> str:
        """Where ``curated``, ``discovered`` or ``merged`` lives, for messages."""
        return f"{self.description} ({layer})"


class RegistryBackend:
    """Stores the layered registry somewhere (JSON files by default)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def open(self, config: Config) -> RegistryStore:
        """Open the registry that ``config`` points at."""
        raise NotImplementedError


@attrs.define(kw_only=True, frozen=True)
class GuiPanel:
    """A block of the Streamlit Models page contributed by a plugin.

    ``tab`` names the tab it belongs to (for example ``"download"``); ``render`` is
    called with no arguments inside that tab and draws with ``streamlit``.
    """

    name: str
    tab: str
    title: str
    render: Callable[[], None]
