"""Where a download came from, kept beside its files: ``.cache/imageworks/provenance.json``.

The registry's discovered layer is rebuilt by tools (``purge-imported``, then
``ingest-local-hf``; guide 6.7), so a model's provenance cannot live only there: the
download writes a small record into its own folder, and a later scan of that folder
reads it back. What survives that way is what a scan cannot see on disk: the source
(``source_provider``), the Hub id and commit (``hf_id``, ``revision``), when it was
downloaded (``downloaded_at``) and where the user sent it (``download_location``, the
label chosen with ``download --location``, and ``download_root``).

The record sits under ``.cache/`` as ``hf download --local-dir`` keeps its own metadata
in ``.cache/huggingface/``: inventories, ``verify`` and ``remove`` already leave
``.cache`` out of a model, so the file changes no checksum. It is one JSON object,
``{"version": 1, "records": [...]}``, one record per variant (two GGUF quants of one
repo share a folder).

A folder's content is not trusted: the file is read with a bound, every value is
checked for its form, and a record is used only if it fits the folder it sits in (its
``hf_id`` names the folder's repo, its ``download_root`` is the folder's own root).
Anything else is ignored with a warning. Writing is best effort: a download never fails
because its folder refused the record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from imageworks.core.model import RegistryEntry
from imageworks.core.regular_files import read_regular_file
from imageworks.formats import bounded_json

log = logging.getLogger("imageworks.provenance")

RECORD_PATH = (".cache", "imageworks", "provenance.json")
MAX_BYTES = 1024 * 1024
VERSION = 1
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HF_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+(?:@[^\s]+)?")
_REVISION = re.compile(r"[0-9a-f]{40}")


@attrs.define(kw_only=True, frozen=True)
class Provenance:
    """One variant's download record, as stored in its folder."""

    name: str
    source_provider: str | None = None
    hf_id: str | None = None
    revision: str | None = None
    downloaded_at: str | None = None
    download_location: str | None = None
    download_root: str | None = None

    @classmethod
    def of(cls, entry: RegistryEntry) -> Provenance:
        """What ``entry`` says of where its files came from."""
        return cls(
            name=entry.name,
            source_provider=entry.source_provider,
            hf_id=entry.hf_id,
            revision=entry.revision,
            downloaded_at=entry.downloaded_at,
            download_location=entry.download_location,
            download_root=entry.download_root,
        )


def record_file(folder: Path) -> Path:
    """The provenance file of a model folder."""
    return folder.joinpath(*RECORD_PATH)


def write_provenance(folder: Path, entry: RegistryEntry) -> None:
    """Add (or replace) ``entry``'s record in ``folder``'s provenance file; never raises."""
    if not folder.is_dir():
        return  # a single-file install has no folder of its own to write into
    record = Provenance.of(entry)
    kept = [r for r in read_provenance(folder) if r.name != entry.name]
    records = sorted([*kept, record], key=lambda r: r.name)
    data = {"version": VERSION, "records": [attrs.asdict(r) for r in records]}
    try:
        _write(folder, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    except OSError as error:
        log.warning("cannot write the provenance record in %s (%s); a re-scan will not know its source", folder, error)


def _write(folder: Path, data: bytes) -> None:
    """Write ``data`` atomically into the record file, refusing symlinked folders on the way."""
    target = folder
    for part in RECORD_PATH[:-1]:
        target = target / part
        if target.is_symlink():
            raise OSError(f"{target} is a symbolic link")
        target.mkdir(exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".provenance.", suffix=".tmp", dir=target)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target / RECORD_PATH[-1])
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_provenance(folder: Path) -> list[Provenance]:
    """The well-formed records of ``folder``'s provenance file (none when absent or damaged)."""
    path = record_file(folder)
    if not path.exists() and not path.is_symlink():
        return []
    try:
        data = bounded_json.loads(read_regular_file(path, MAX_BYTES), path.name, max_bytes=MAX_BYTES)
    except (OSError, ValueError) as error:
        log.warning("ignoring the provenance record %s (%s)", path, error)
        return []
    raw = data.get("records") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        log.warning("ignoring the provenance record %s (no list of records)", path)
        return []
    return [record for item in raw if (record := _checked(item, path)) is not None]


def _checked(item: Any, path: Path) -> Provenance | None:
    """A record whose every value has its expected form, else ``None`` (with a warning)."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        log.warning("ignoring a malformed record in %s", path)
        return None
    checks: dict[str, Callable[[str], object]] = {
        "source_provider": _LABEL.fullmatch,
        "hf_id": _HF_ID.fullmatch,
        "revision": _REVISION.fullmatch,
        "downloaded_at": _iso_time,
        "download_location": _LABEL.fullmatch,
        "download_root": lambda text: os.path.isabs(text) and "\x00" not in text,
    }
    values: dict[str, str | None] = {}
    for field, valid in checks.items():
        value = item.get(field)
        if value is not None and not (isinstance(value, str) and len(value) <= 4096 and valid(value)):
            log.warning("ignoring %s of record %r in %s: %r is not a valid value", field, item["name"], path, value)
            value = None
        values[field] = value
    return Provenance(name=item["name"], **values)


def _iso_time(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def provenance_for(folder: Path, model_id: str, name: str) -> Provenance | None:
    """The record for variant ``name`` in ``folder`` (else its only record), if it fits.

    ``model_id`` is the folder's ``owner/repo[@branch]`` under the root it was found in.
    A record's ``hf_id`` must name that repo and its ``download_root`` must be the root
    that holds the folder; a value that does not fit is dropped, not trusted.
    """
    records = read_provenance(folder)
    chosen = next((r for r in records if r.name == name), records[0] if len(records) == 1 else None)
    if chosen is None:
        return None
    repo = model_id.partition("@")[0].lower()
    hf_id = chosen.hf_id
    if hf_id is not None and not (hf_id.partition("@")[0].lower() == repo or hf_id.partition("@")[0].lower().endswith("/" + repo)):
        log.warning("provenance record in %s names %s, not this folder's %s; its hf_id is ignored", folder, hf_id, model_id)
        hf_id = None
    root = chosen.download_root
    if root is not None and os.path.normpath(Path(root).joinpath(*model_id.split("/"))) != os.path.normpath(folder.absolute()):
        root = None
    return attrs.evolve(chosen, hf_id=hf_id, download_root=root)
