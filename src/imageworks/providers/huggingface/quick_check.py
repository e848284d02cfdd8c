"""The no-op re-run: is ``download MODEL`` already installed at the Hub's current commit?

A plain re-run of ``download owner/repo[@branch]`` (no selection flags) of a model the
registry records as installed needs one fact from the Hub: the commit the branch points
at now. When that is the recorded ``revision`` and every recorded file is on disk with
its recorded size, there is nothing to do. This module asks for that one fact with the
standard library's ``http.client``, because importing ``huggingface_hub`` (and with it
``httpx``) costs more than the whole re-run may take (``docs/benchmarks.md``, fixed
cost). Any doubt (no entry, two entries, a file changed, an odd answer) returns None
and the caller runs the full pipeline, which reports errors properly. When the Hub cannot
be asked (``HF_HUB_OFFLINE=1``, a host that does not resolve or refuses) and the model is
installed and intact, :class:`SourceOfflineError` carries the entry: ``download`` reports
the installed copy as not re-checked and succeeds, as ``hf download`` does.

The request goes only to the configured endpoint, follows no redirect, and carries the
user's token (``HF_TOKEN``, else the file ``hf auth login`` writes) only in its header.
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from urllib.parse import quote, urlsplit

from imageworks.core.errors import ImageworksError, SourceOfflineError
from imageworks.core.model import RegistryEntry
from imageworks.core.registry import Registry
from imageworks.providers.huggingface.offline import offline_mode, unreachable_reason
from imageworks.providers.huggingface.refs import ModelRef

MAX_ANSWER = 16 * 1024 * 1024  # a model-info answer with siblings of a 10k-file repo is a few MB
TIMEOUT = 10.0


def installed_at_current_commit(
    ref: ModelRef, endpoint: str, registry: Registry, target: Path | None = None
) -> RegistryEntry | None:
    """The installed entry of ``ref`` when the Hub's branch still points at its recorded commit.

    With ``target`` (the folder ``--location`` routes to), only an installation in that
    folder counts. Raises :class:`SourceOfflineError` with the entry when the Hub cannot
    be asked.
    """
    try:
        entry = _only_installed_entry(ref, registry)
    except ImageworksError:
        return None  # a registry problem: the full pipeline's preflight explains it
    if entry is None or not entry.revision or not _files_intact(entry):
        return None
    if target is not None and os.path.normpath(entry.download_path or "") != os.path.normpath(target.absolute()):
        return None
    if offline_mode():
        raise SourceOfflineError("HF_HUB_OFFLINE is set, so the Hub was not asked", installed=entry)
    try:
        commit = current_commit(ref, endpoint)
    except SourceOfflineError as error:
        error.installed = entry
        raise
    return entry if commit == entry.revision else None


def _only_installed_entry(ref: ModelRef, registry: Registry) -> RegistryEntry | None:
    hf_id = ref.display if ref.revision and ref.revision != "main" else ref.repo_id
    matches = [
        e for e in registry.entries()
        if e.hf_id == hf_id and e.source_provider == "huggingface" and e.download_path and e.download_files
    ]
    return matches[0] if len(matches) == 1 else None


def _files_intact(entry: RegistryEntry) -> bool:
    root = Path(entry.download_path or "")
    sizes = {a.path: a.size for a in entry.artifacts.files}
    try:
        return all(
            (root / name).is_file() and (name not in sizes or (root / name).stat().st_size == sizes[name])
            for name in entry.download_files
        )
    except OSError:
        return False


def current_commit(ref: ModelRef, endpoint: str) -> str | None:
    """The commit ``ref``'s revision points at, from one model-info request, or None.

    Raises :class:`SourceOfflineError` when the endpoint's host does not resolve or
    cannot be connected to (no retry: the full pipeline would fail the same way).
    """
    parts = urlsplit(endpoint)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    path = f"{parts.path.rstrip('/')}/api/models/{ref.repo_id}/revision/{quote(ref.revision or 'main', safe='')}"
    headers = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": "imageworks"}
    token = _token()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        try:
            connection.connect()
        except OSError as error:
            raise SourceOfflineError(unreachable_reason(parts.hostname, error)) from None
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        if answer.status != 200 or answer.getheader("Content-Encoding", "identity") != "identity":
            return None
        body = answer.read(MAX_ANSWER + 1)
        if len(body) > MAX_ANSWER:
            return None
        sha = json.loads(body).get("sha")
    except (OSError, ValueError, AttributeError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    return sha if isinstance(sha, str) and len(sha) in (40, 64) and all(c in "0123456789abcdef" for c in sha) else None


def _token() -> str | None:
    """``HF_TOKEN``, else the token file of ``hf auth login`` (as ``huggingface_hub.get_token``)."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token.strip() or None
    if os.environ.get("HF_HUB_DISABLE_IMPLICIT_TOKEN", "").lower() in {"1", "true", "yes", "on"}:
        return None
    home = Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface")
    path = Path(os.environ.get("HF_TOKEN_PATH") or home / "token")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None
