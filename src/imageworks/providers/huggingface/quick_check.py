"""The no-op re-run: is ``download MODEL`` already installed at the Hub's current commit?

A plain re-run of ``download owner/repo[@branch]`` (no selection flags) of a model the
registry records as installed needs one fact from the Hub: the commit the branch points
at now. When that is the recorded ``revision`` and every recorded file is on disk with
its recorded size, there is nothing to do. This module asks for that one fact with the
standard library's ``http.client`` (:mod:`.hub_api`), because importing ``huggingface_hub`` (and with it
``httpx``) costs more than the whole re-run may take (``docs/benchmarks.md``, fixed
cost). Any doubt (no entry, two entries, a file changed, an odd answer) returns None
and the caller runs the full pipeline, which reports errors properly. When the Hub cannot
be asked (``HF_HUB_OFFLINE=1``, a host that does not resolve or refuses) and the model is
installed and intact, :class:`SourceOfflineError` carries the entry: ``download`` reports
the installed copy as not re-checked and succeeds, as ``hf download`` does.

The request is the metadata client's (:mod:`.hub_api`, one attempt, no retry) with the
user's token (:mod:`.hub_token`) in its header, to the configured endpoint's origin only.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from imageworks.core.errors import ImageworksError, SourceOfflineError
from imageworks.core.model import RegistryEntry
from imageworks.core.registry import Registry
from imageworks.providers.huggingface.hub_api import COMMIT, HubClient
from imageworks.providers.huggingface.hub_errors import HubHTTPError, HubUnreachableError
from imageworks.providers.huggingface.hub_token import hub_token
from imageworks.providers.huggingface.offline import offline_mode, unreachable_reason
from imageworks.providers.huggingface.refs import ModelRef

TIMEOUT = 10.0  # per connect and read: a Hub slower than this gets the full pipeline's retries


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
    host = urlsplit(endpoint).hostname
    if urlsplit(endpoint).scheme not in {"http", "https"} or not host:
        return None
    try:
        with HubClient(endpoint, hub_token(), retries=False, timeout=TIMEOUT) as client:
            info = client.model_info(ref.repo_id, ref.revision or "main")
    except HubUnreachableError as error:
        if error.connecting and isinstance(error.cause, OSError):
            raise SourceOfflineError(unreachable_reason(host, error.cause)) from None
        return None
    except (ImageworksError, HubHTTPError, ValueError):  # ValueError: a malformed or undecodable answer
        return None
    return info.sha if isinstance(info.sha, str) and COMMIT.fullmatch(info.sha) else None
