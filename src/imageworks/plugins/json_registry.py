"""The built-in ``json`` registry backend: the three files of guide section 4.1.

``model_registry.curated.json`` (hand-kept), ``model_registry.discovered.json`` (written
by the tools) and ``model_registry.json`` (the merged snapshot, regenerated after every
change, and on a read when a layer changed behind our back: a hand edit of the curated
file shows at once). Writes hold a cross-process file lock, go to a temporary file that is fsynced
and then renamed over the old one, and leave a file untouched when its content did not
change. A file that cannot be parsed raises :class:`RegistryCorruptError` and is never
overwritten; so does one that parses but could not be written back unchanged: nesting
deeper than orjson writes (255 levels), or an integer outside 64 bits (orjson would read
it as a float and the next write would silently round it; no field of ours needs one).
:meth:`JsonRegistryStore.check_writable` proves all of this, the folder and the lock
before a download starts. The lock file is never used through a symbolic link: opening
it creates and truncates, which through a link could be any file.

A write that changes several files commits them as one through a roll-forward journal
(:mod:`imageworks.plugins.json_journal`): a process killed at any moment leaves every
file as before or, once the next command has opened the registry, as after.

Backups are folders ``backups/<UTC time>/`` holding copies of the three files; their
folder name is the backup id. A set is copied into a hidden folder and renamed into
place, so a backup cut short never lists. :meth:`JsonRegistryStore.read_backup` also
takes a path to such a folder, or to one registry file, kept anywhere;
:meth:`JsonRegistryStore.restore_backup` puts a set's layer files back byte for byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from imageworks.core.config import Config
from imageworks.core.errors import ImageworksError, RegistryCorruptError
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import BackupSet, LayerName, RegistryBackend, RegistryLayers, RegistryStore
from imageworks.core.layers import CURATED, DISCOVERED, MERGED, dump_layer, merge_layers
from imageworks.plugins import json_journal

if TYPE_CHECKING:
    from imageworks.services.locks import FileLock

log = logging.getLogger("imageworks.registry")

LOCK = ".model_registry.lock"
STAMP = ".model_registry.stamp"  # what model_registry.json was made from (see JsonRegistryStore.read)
BACKUPS = "backups"
KEEP_BACKUPS = 20
BACKUP_STAMP = "%Y%m%dT%H%M%S.%fZ"
LOCK_TIMEOUT_SECONDS = 120
PREFLIGHT_LOCK_SECONDS = 10
# temporary files a killed write may leave in the folder (json_journal.recover deletes them)
TEMP_PREFIXES = tuple(f".{name}." for name in (CURATED, DISCOVERED, MERGED, json_journal.JOURNAL)) + (".write-probe.",)
MAX_DEPTH = 255  # orjson.dumps refuses anything deeper
INT_RANGE = (-(1 << 63), (1 << 64) - 1)  # what orjson reads as an int; beyond it, a float
ROUNDED_INT = float(1 << 63)  # orjson turns integer literals beyond INT_RANGE into floats this large


def read_layer_file(path: Path) -> dict[str, dict[str, Any]]:
    """Read one layer file (or a backup copy of one) into name -> entry.

    A missing or empty file is an empty layer; a damaged one raises
    :class:`RegistryCorruptError` naming the file and position.
    """
    return parse_layer(path, _read_raw(path))


def _read_raw(path: Path) -> bytes:
    """The bytes of ``path`` (none when it does not exist)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as error:
        if isinstance(error, NotADirectoryError) and path.parent.is_file():
            raise _not_a_folder(path.parent) from None
        raise ImageworksError(f"cannot read registry file {path}: {error.strerror}") from error


def _not_a_folder(folder: Path) -> ImageworksError:
    """The one error for a registry folder that is a file (met when reading or writing)."""
    return ImageworksError(f"the registry folder {folder} is a file, not a folder", "move it away or set IMAGEWORKS_REGISTRY_DIR")


def parse_layer(path: Path, raw: bytes) -> dict[str, dict[str, Any]]:
    """Parse the bytes ``raw`` read from the layer file ``path`` (see :func:`read_layer_file`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RegistryCorruptError(path, None, None, f"not UTF-8 text ({error.reason} at byte {error.start})") from error
    if not text.strip():
        return {}
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:  # the standard parser names the line and column of the damage
            json.loads(text, parse_int=_exact_int(path))
        except json.JSONDecodeError as error:
            raise RegistryCorruptError(path, error.lineno, error.colno, error.msg) from error
        except RecursionError:
            raise RegistryCorruptError(path, None, None, f"nested deeper than {MAX_DEPTH} levels") from None
        except ValueError as error:  # e.g. an integer literal of more than 4,300 digits
            raise RegistryCorruptError(path, None, None, f"not valid JSON ({error})") from None
        raise RegistryCorruptError(path, None, None, "not valid JSON") from None
    _check_writable_back(path, text, data)
    if isinstance(data, dict) and isinstance(data.get("models"), list):
        data = data["models"]  # tolerate the {"models": [...]} wrapper some exports use
    if not isinstance(data, list):
        raise RegistryCorruptError(path, 1, 1, f"expected a JSON array of entries, found {type(data).__name__}")
    entries: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise RegistryCorruptError(path, None, None, f"entry #{index + 1} is not an object with a string 'name'")
        if item["name"] in entries:
            raise RegistryCorruptError(path, None, None, f"entry #{index + 1} repeats the name {item['name']!r}")
        entries[item["name"]] = item
    return entries


def _check_writable_back(path: Path, text: str, data: Any) -> None:
    """Refuse what parsed but could not be written back as it was read."""
    try:
        orjson.dumps(data)
    except orjson.JSONEncodeError:  # the only way parsed JSON fails to encode is depth
        detail = f"nested deeper than {MAX_DEPTH} levels, which cannot be written back"
        raise RegistryCorruptError(path, None, None, detail) from None
    if _has_huge_float(data):  # rare, so the slow exact parse (which names the literal) is too
        json.loads(text, parse_int=_exact_int(path))


def _exact_int(path: Path) -> Callable[[str], int]:
    """A ``parse_int`` for :func:`json.loads` that refuses integers outside ``INT_RANGE``."""
    low, high = INT_RANGE

    def exact(literal: str) -> int:
        if len(literal) <= 21 and low <= int(literal) <= high:  # 21: a sign and 20 digits
            return int(literal)
        shown = literal if len(literal) <= 24 else literal[:24] + "..."
        raise RegistryCorruptError(path, None, None, f"the integer {shown} is outside 64 bits and would not survive a rewrite")

    return exact


def _has_huge_float(value: Any) -> bool:
    """Whether a float of 2**63 or more sits in ``value`` (depth is already <= 255 here)."""
    kind = type(value)
    if kind is dict:
        return any(_has_huge_float(item) for item in value.values())
    if kind is list:
        return any(_has_huge_float(item) for item in value)
    return kind is float and abs(value) >= ROUNDED_INT


class JsonRegistryStore(RegistryStore):
    """The layered JSON files in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.description = str(folder)
        self._lock: FileLock | None = None  # made on first write

    def layer_path(self, layer: LayerName) -> Path:
        """The file behind ``curated``, ``discovered`` or ``merged``."""
        return self.folder / {"curated": CURATED, "discovered": DISCOVERED, "merged": MERGED}[layer]

    def layer_location(self, layer: LayerName) -> str:
        """The file path of ``layer``."""
        return str(self.layer_path(layer))

    def _acquire(self, timeout: float = LOCK_TIMEOUT_SECONDS) -> FileLock:
        """Create the folder and take the lock, or raise one clear error."""
        from imageworks.services.locks import FileLock, LockTimeout

        lock = self.folder / LOCK
        if self.folder.exists() and not self.folder.is_dir():
            raise _not_a_folder(self.folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if lock.is_symlink():
                raise ImageworksError(
                    f"the registry lock {lock} is a symbolic link; refusing to open it",
                    "delete the link; imageworks creates a plain lock file there",
                )
            if self._lock is None:
                self._lock = FileLock(lock, timeout=LOCK_TIMEOUT_SECONDS)
            self._lock.acquire(timeout=timeout)
            return self._lock
        except LockTimeout as error:
            raise ImageworksError(
                f"the registry in {self.folder} stayed locked for {timeout:.0f}s",
                f"another imageworks process holds {lock}",
            ) from error
        except OSError as error:
            raise ImageworksError(
                f"cannot write the registry in {self.folder}: {error.strerror or error}",
                "check the folder's permissions or set IMAGEWORKS_REGISTRY_DIR",
            ) from error

    def check_writable(self) -> None:
        """Prove a transaction would succeed now: folder, lock, a file write, every layer.

        Creates the folder and the lock file if missing; writes nothing else.
        """
        lock = self._acquire(PREFLIGHT_LOCK_SECONDS)
        try:
            for layer in ("curated", "discovered", "merged"):
                path = self.layer_path(layer)
                if path.exists() and not path.is_file():
                    raise ImageworksError(
                        f"registry file {path} is not a regular file", "move it away; imageworks writes a JSON file there"
                    )
            try:  # permissions, read-only mounts and quotas show here, not in os.access
                handle, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=self.folder)
                os.close(handle)
                os.unlink(probe)
            except OSError as error:
                raise ImageworksError(
                    f"cannot write the registry in {self.folder}: {error.strerror or error}",
                    "check the folder's permissions or set IMAGEWORKS_REGISTRY_DIR",
                ) from error
            self._read_raw_layers()
        finally:
            lock.release()

    def _recover(self) -> None:
        """Finish a commit a killed process left half done (takes the lock if needed)."""
        if not json_journal.pending(self.folder):
            return
        lock = self._acquire()
        try:
            json_journal.recover(self.folder, TEMP_PREFIXES)
        finally:
            lock.release()

    def read(self) -> RegistryLayers:
        """Both layers as they are now (writers replace files atomically, so no lock).

        An interrupted commit is finished first. When a layer changed since the merged
        snapshot was written (a hand edit of the curated file, say), the snapshot is
        regenerated, so every command that reads sees the edit in ``model_registry.json`` too.
        """
        self._recover()
        layers, raw = self._read_raw_layers()
        if not self._snapshot_fresh(raw):
            self._refresh_snapshot()
        return layers

    def _read_raw_layers(self) -> tuple[RegistryLayers, dict[str, bytes]]:
        raw = {layer: _read_raw(self.layer_path(layer)) for layer in ("curated", "discovered")}
        layers = RegistryLayers(
            curated=parse_layer(self.layer_path("curated"), raw["curated"]),
            discovered=parse_layer(self.layer_path("discovered"), raw["discovered"]),
        )
        return layers, raw

    def _stamp(self, raw: dict[str, bytes]) -> dict[str, Any] | None:
        """What the snapshot was made from: each layer's sha256 and the snapshot's own
        (mtime_ns, size, inode). A content digest, not a time: a hand edit within the
        file system's timestamp granularity, or one that keeps the size, still shows."""
        try:
            merged = self.layer_path("merged").stat()
        except FileNotFoundError:
            return None
        return {
            "curated": hashlib.sha256(raw["curated"]).hexdigest(),
            "discovered": hashlib.sha256(raw["discovered"]).hexdigest(),
            "merged": [merged.st_mtime_ns, merged.st_size, merged.st_ino],
        }

    def _snapshot_fresh(self, raw: dict[str, bytes]) -> bool:
        if not raw["curated"] and not raw["discovered"] and not self.layer_path("merged").exists():
            return True  # no registry yet: nothing to regenerate, and nothing is created
        stamp = self._stamp(raw)
        try:
            return stamp is not None and orjson.loads((self.folder / STAMP).read_bytes()) == stamp
        except (OSError, orjson.JSONDecodeError):
            return False

    def _refresh_snapshot(self) -> None:
        """Regenerate ``model_registry.json`` from the layers, if the lock is free now.

        A held lock means a writer is at work and writes the snapshot when it ends; a
        registry we may not write (a read-only checkout) is read as it is.
        """
        try:
            lock = self._acquire(timeout=0)
        except ImageworksError as error:
            log.debug("merged snapshot not regenerated: %s", error)
            return
        try:
            json_journal.recover(self.folder, TEMP_PREFIXES)
            layers, raw = self._read_raw_layers()  # again, inside the lock
            json_journal.commit(self.folder, self._merged_change(layers))
            self._write_stamp(raw)
        except (ImageworksError, OSError) as error:  # the next write reports it; a read goes on
            log.warning("merged snapshot not regenerated: %s", error)
        finally:
            lock.release()

    def _write_stamp(self, raw: dict[str, bytes]) -> None:
        stamp = self._stamp(raw)
        path = self.folder / STAMP
        try:
            if stamp is None:
                path.unlink(missing_ok=True)
                return
            handle, temporary = tempfile.mkstemp(prefix=f"{STAMP}.", suffix=".tmp", dir=self.folder)
            with os.fdopen(handle, "wb") as stream:
                stream.write(orjson.dumps(stamp))
            os.replace(temporary, path)
        except OSError as error:  # only costs a re-check on the next read
            log.debug("cannot write %s: %s", path, error)

    @contextmanager
    def transaction(self) -> Iterator[RegistryLayers]:
        """Lock, read, yield for changes, then write the layers that changed and the snapshot."""
        lock = self._acquire()
        try:
            json_journal.recover(self.folder, TEMP_PREFIXES)
            layers, raw = self._read_raw_layers()
            before = {"curated": dump_layer(layers.curated), "discovered": dump_layer(layers.discovered)}
            yield layers
            changed: dict[Path, bytes | None] = {}
            layer: LayerName
            for layer, entries in (("curated", layers.curated), ("discovered", layers.discovered)):
                data = dump_layer(entries)
                path = self.layer_path(layer)
                if data != before[layer] or (entries and not path.exists()):
                    changed[path] = data
                    raw[layer] = data
            changed.update(self._merged_change(layers))
            json_journal.commit(self.folder, changed)
            self._write_stamp(raw)
        finally:
            lock.release()

    def _merged_change(self, layers: RegistryLayers) -> dict[Path, bytes | None]:
        """``{merged path: bytes}`` when the snapshot of ``layers`` differs from the file."""
        path = self.layer_path("merged")
        data = dump_layer(merge_layers(layers.curated, layers.discovered))
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            current = None
        return {path: data} if current != data else {}

    def backup(self) -> list[str]:
        """Copy the three files into ``backups/<UTC time>/``; keep the newest 20 sets.

        Holds the lock while copying, so the set is one consistent state; the copies go
        into a hidden folder renamed into place when complete.
        """
        if not any((self.folder / name).exists() for name in (CURATED, DISCOVERED, MERGED)):
            return []
        lock = self._acquire()
        try:
            json_journal.recover(self.folder, TEMP_PREFIXES)
            return self._copy_backup()
        finally:
            lock.release()

    def _copy_backup(self) -> list[str]:
        backups = self.folder / BACKUPS
        stamp = dt.datetime.now(dt.UTC).strftime(BACKUP_STAMP)
        target, partial = backups / stamp, backups / f".{stamp}.partial"
        names = [name for name in (CURATED, DISCOVERED, MERGED) if (self.folder / name).exists()]
        try:
            for stale in backups.glob(".*.partial") if backups.is_dir() else []:
                shutil.rmtree(stale, ignore_errors=True)  # a backup cut short (we hold the lock)
            partial.mkdir(parents=True)
            for name in names:
                shutil.copy2(self.folder / name, partial / name)
                with open(partial / name, "rb") as stream:
                    os.fsync(stream.fileno())
            os.rename(partial, target)
        except OSError as error:
            shutil.rmtree(partial, ignore_errors=True)
            raise ImageworksError(
                f"cannot back up the registry into {target}: {error.strerror or error}",
                "nothing was changed; fix the backups folder or use --no-backup",
            ) from error
        sets = sorted(p for p in backups.iterdir() if p.is_dir() and not p.name.startswith("."))
        for old in sets[:-KEEP_BACKUPS]:
            shutil.rmtree(old, ignore_errors=True)
        return [str(target / name) for name in names]

    def restore_backup(self, backup_id: str, backup_first: bool = True) -> list[str]:
        """Put the layer files of backup set ``backup_id`` (an id, or a backup folder's
        path) back byte for byte, and regenerate the snapshot; a layer the set lacks is
        removed. Both copies are checked before anything is written; with
        ``backup_first`` the current files are backed up first (returned)."""
        source = self._backup_folder(backup_id)
        wanted: dict[LayerName, bytes | None] = {}
        layer: LayerName
        for layer, name in (("curated", CURATED), ("discovered", DISCOVERED)):
            path = source / name
            wanted[layer] = path.read_bytes() if path.is_file() else None
            read_layer_file(path)  # a damaged copy stops here
        return self.import_layers(wanted, backup_first)

    def export_layers(self) -> dict[LayerName, bytes | None]:
        """The bytes of each layer file as they are (``None``: no file), read under the
        lock so both come from one state; a damaged file raises."""
        if not self.folder.is_dir():
            return {"curated": None, "discovered": None}
        lock = self._acquire()
        try:
            json_journal.recover(self.folder, TEMP_PREFIXES)
            files: dict[LayerName, bytes | None] = {}
            layer: LayerName
            for layer in ("curated", "discovered"):
                path = self.layer_path(layer)
                files[layer] = _read_raw(path) if path.exists() else None
                parse_layer(path, files[layer] or b"")
            return files
        finally:
            lock.release()

    def import_layers(self, files: Mapping[LayerName, bytes | None], backup_first: bool = True) -> list[str]:
        """Write each layer file in ``files`` byte for byte (``None`` removes it) and
        regenerate the snapshot, in one journalled commit. The new files and the current
        ones are all parsed before anything is written; with ``backup_first`` the current
        files are backed up first (returned)."""
        parsed = {layer: parse_layer(self.layer_path(layer), data or b"") for layer, data in files.items()}
        lock = self._acquire()
        try:
            json_journal.recover(self.folder, TEMP_PREFIXES)
            layers, _ = self._read_raw_layers()  # a damaged current layer stops here too, before any write
            for layer, entries in parsed.items():
                setattr(layers, layer, entries)
            copies = self._copy_backup() if backup_first and self._has_files() else []
            changed: dict[Path, bytes | None] = {}
            for layer, data in files.items():
                path = self.layer_path(layer)
                current = path.read_bytes() if path.is_file() else None
                if current != data:
                    changed[path] = data
            changed.update(self._merged_change(layers))
            json_journal.commit(self.folder, changed)
            self._write_stamp(self._read_raw_layers()[1])
            return copies
        finally:
            lock.release()

    def _has_files(self) -> bool:
        return any((self.folder / name).exists() for name in (CURATED, DISCOVERED, MERGED))

    def _backup_folder(self, backup_id: str) -> Path:
        """The folder of backup ``backup_id``: an id from :meth:`list_backups` or a folder path."""
        named = self.folder / BACKUPS / backup_id
        path = named if _plain_name(backup_id) else Path(backup_id).expanduser()
        if not path.is_dir() or path.name.startswith("."):  # a hidden folder is a set still being copied
            known = ", ".join(b.id for b in self.list_backups()[:3]) or "none yet"
            raise ImageworksError(
                f"no backup set {backup_id}",
                f"pass an id from `imageworks-download backups list` (newest: {known}) or a backup folder",
            )
        if not any((path / name).exists() for name in (CURATED, DISCOVERED, MERGED)):
            raise ImageworksError(f"{path} holds no registry files", f"a backup set holds {CURATED}, {DISCOVERED}, {MERGED}")
        return path

    def list_backups(self) -> list[BackupSet]:
        """The backup folders under ``backups/``, newest first."""
        folder = self.folder / BACKUPS
        sets = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")] if folder.is_dir() else []
        found = [BackupSet(id=p.name, created=_backup_time(p), location=str(p)) for p in sets]
        return sorted(found, key=lambda b: (b.created, b.id), reverse=True)

    def read_backup(self, backup_id: str) -> RegistryLayers:
        """The layers of backup ``backup_id``: an id from :meth:`list_backups`, or the path
        of a backup folder (its layer files, else its merged snapshot) or of one registry
        file (read as the discovered layer)."""
        named = self.folder / BACKUPS / backup_id
        path = named if _plain_name(backup_id) and named.is_dir() else Path(backup_id).expanduser()
        if not path.exists():
            raise ImageworksError(
                f"backup {backup_id} does not exist",
                f"pass a backup id ({self.folder / BACKUPS}), a backup folder or a registry file",
            )
        if path.is_file():
            return RegistryLayers(discovered=read_layer_file(path))
        layers = RegistryLayers(curated=read_layer_file(path / CURATED), discovered=read_layer_file(path / DISCOVERED))
        if layers.curated or layers.discovered:
            return layers
        if not any((path / name).exists() for name in (CURATED, DISCOVERED, MERGED)):
            raise ImageworksError(f"{path} holds no registry files", f"a backup set holds {CURATED}, {DISCOVERED}, {MERGED}")
        return RegistryLayers(discovered=read_layer_file(path / MERGED))


def _plain_name(text: str) -> bool:
    """Whether ``text`` is a single folder name (not a path, not ``.``/``..``)."""
    return bool(text) and text not in {".", ".."} and "/" not in text and os.sep not in text


def _backup_time(folder: Path) -> dt.datetime:
    """When a backup set was made: its folder name, else its modification time."""
    try:
        return dt.datetime.strptime(folder.name, BACKUP_STAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        return dt.datetime.fromtimestamp(folder.stat().st_mtime, dt.UTC)


class JsonRegistryBackend(RegistryBackend):
    """Opens the JSON files in ``config.registry_dir``."""

    name = "json"
    description = "layered JSON files: curated + discovered -> merged (guide 4.1)"

    def open(self, config: Config) -> JsonRegistryStore:
        """The store in ``config.registry_dir``."""
        return JsonRegistryStore(config.registry_dir)


@hookimpl
def imageworks_register_registry_backends() -> list[RegistryBackend]:
    """Provide the ``json`` backend."""
    return [JsonRegistryBackend()]
