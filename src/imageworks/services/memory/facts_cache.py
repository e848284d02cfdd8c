"""Header facts of local model files, kept on disk between runs.

``list --json`` (which the GUI's Browse tab runs on every redraw) and ``list --details``
need every installed model's header facts; reading them means opening each GGUF or
safetensors header and config.json. This cache keeps each model's facts, or the reason it
has none, in one small JSON file under ``<cache_dir>/header-facts/`` (``cache_dir`` from
the configuration, ``IMAGEWORKS_CACHE_DIR``), named by the SHA-256 of its key: the folder,
the file names and each file's size, mtime and inode. A file that changes gets a new key,
so stale facts are never served; old files are harmless and may be deleted at any time.
A cache file that cannot be read or parsed counts as a miss; one that cannot be written
is skipped. Nothing in it is trusted beyond its shape: it is structured back into
:class:`ModelFacts`, and any failure is a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from imageworks.core.convert import converter
from imageworks.core.memory_facts import ModelFacts
from imageworks.core.regular_files import read_regular_file
from imageworks.formats import bounded_json

log = logging.getLogger("imageworks.memory")

FOLDER = "header-facts"
VERSION = 1
MAX_ENTRY = 1024 * 1024
Signature = tuple[tuple[int, int, int] | None, ...]

#: A cached outcome: facts, no facts (``None``), or the one-line reason (a damaged header).
Outcome = ModelFacts | None | str


def cache_key(root: str, files: tuple[str, ...], signature: Signature) -> str:
    """The name of a model's cache file: a digest of its folder, file names and stat signatures."""
    text = json.dumps([VERSION, root, list(files), [list(s) if s else None for s in signature]])
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def load(cache_dir: Path, key: str) -> tuple[bool, Outcome]:
    """(found, outcome) for ``key``; a missing, unreadable or malformed file is not found."""
    path = cache_dir / FOLDER / f"{key}.json"
    try:
        data = bounded_json.loads(read_regular_file(path, MAX_ENTRY), str(path), max_bytes=MAX_ENTRY)
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return False, None
        if isinstance(data.get("problem"), str):
            return True, data["problem"]
        return True, converter.structure(data["facts"], ModelFacts) if data.get("facts") is not None else None
    except FileNotFoundError:
        return False, None
    except Exception as error:  # a damaged cache file is a miss, never a failure
        log.debug("ignoring header-facts cache file %s: %s", path, error)
        return False, None


def store(cache_dir: Path, key: str, outcome: Outcome) -> None:
    """Write ``outcome`` for ``key`` atomically; a failure to write is logged and ignored."""
    folder = cache_dir / FOLDER
    record: dict[str, Any] = {"version": VERSION}
    if isinstance(outcome, str):
        record["problem"] = outcome
    else:
        record["facts"] = converter.unstructure(outcome) if outcome is not None else None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".facts-", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            os.replace(temporary, folder / f"{key}.json")
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        log.debug("cannot write the header-facts cache in %s: %s", folder, error)
