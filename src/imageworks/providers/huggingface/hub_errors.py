"""The Hub's errors, sorted as ``huggingface_hub`` sorts them (``hf_raise_for_status``).

Each class stands for one of ``huggingface_hub``'s (named in its docstring), so callers
explain a failure the same way whichever client met it; ``tests/download/test_hub_api.py``
checks both clients put every failure in the same class.
"""

from __future__ import annotations

from email.message import Message
from urllib.parse import urlsplit

from imageworks.core.errors import ImageworksError

DISABLED = "Access to this resource is disabled."
BAD_CREDENTIALS = "Invalid credentials in Authorization header"


class HubHTTPError(Exception):
    """The Hub answered with an error status (``huggingface_hub``'s ``HfHubHTTPError``)."""

    def __init__(self, status: int, url: str, code: str | None = None, message: str | None = None) -> None:
        self.status, self.url, self.code, self.message = status, url, code, message
        detail = f": {message}" if message else ""
        super().__init__(f"HTTP {status} for {urlsplit(url).path}{detail}")


class RepoNotFoundError(HubHTTPError):
    """No such repository, or one the token may not see (``RepositoryNotFoundError``)."""


class GatedRepoError(HubHTTPError):
    """A gated repository whose terms the token's user has not accepted (``GatedRepoError``)."""


class RevisionNotFoundError(HubHTTPError):
    """No such branch, tag or commit (``RevisionNotFoundError``)."""


class EntryNotFoundError(HubHTTPError):
    """No such file at that revision (``RemoteEntryNotFoundError``)."""


class DisabledRepoError(HubHTTPError):
    """A repository the Hub has disabled (``DisabledRepoError``)."""


class MalformedAnswerError(ValueError):
    """An answer that is not JSON, or not of the shape the Hub gives (the message says how)."""


class HubUnreachableError(ImageworksError):
    """The Hub could not be asked: no connection, no answer in time, or a broken exchange.

    ``connecting``: the failure came before a connection stood (so no request reached the Hub).
    """

    def __init__(self, message: str, hint: str, *, cause: BaseException, connecting: bool) -> None:
        super().__init__(message, hint)
        self.cause, self.connecting = cause, connecting


def error_for(status: int, url: str, headers: Message) -> HubHTTPError | None:
    """The error an answer with ``status`` to ``url`` stands for (None below 400), by its
    ``X-Error-Code`` and ``X-Error-Message`` as ``hf_raise_for_status`` reads them."""
    if status < 400:
        return None
    code, message = headers.get("X-Error-Code"), headers.get("X-Error-Message")
    kind = {
        "RevisionNotFound": RevisionNotFoundError, "EntryNotFound": EntryNotFoundError, "GatedRepo": GatedRepoError,
    }.get(code or "", HubHTTPError)
    if kind is HubHTTPError and message == DISABLED:
        kind = DisabledRepoError
    elif kind is HubHTTPError and (code == "RepoNotFound" or _hidden_repo(status, url, message)):
        kind = RepoNotFoundError
    return kind(status, url, code, _first_line_of(message))


def _hidden_repo(status: int, url: str, message: str | None) -> bool:
    """An HTTPS 401 on a repo's API or ``resolve`` URL: private, gated or missing (the Hub will not say)."""
    parts = urlsplit(url)
    on_repo = parts.path.startswith(("/api/models/", "/api/datasets/", "/api/spaces/")) or "/resolve/" in parts.path
    return status == 401 and message != BAD_CREDENTIALS and parts.scheme == "https" and on_repo


def _first_line_of(text: str | None) -> str | None:
    first = (text or "").splitlines()[:1]
    return first[0][:200] or None if first else None
