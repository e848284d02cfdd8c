"""Ask a running Ollama server what it holds, through the official ``ollama`` client.

``/api/tags`` (``Client.list``) gives every name with its digest and details (family,
parameter size, quantisation level); ``/api/show`` (``Client.show``) gives the
Modelfile, whose ``FROM`` line names the model blob. The server is
``IMAGEWORKS_OLLAMA_HOST`` when set, else ``OLLAMA_BASE_URL`` / ``OLLAMA_HOST``, else
``http://127.0.0.1:11434``. An unreachable or misbehaving server is never an error:
:func:`list_models` returns ``None`` and the caller falls back to the store.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import attrs
import httpx
import ollama

log = logging.getLogger("imageworks.ollama.api")

DEFAULT_TIMEOUT = 3.0
_FROM_BLOB = re.compile(r"^FROM\s+(\S*sha256[-:]([0-9a-f]{64}))\s*$", re.MULTILINE | re.IGNORECASE)
_FAILURES = (ConnectionError, OSError, httpx.HTTPError, ollama.ResponseError, ValueError, TypeError)


@attrs.define(kw_only=True)
class ApiModel:
    """One model as the server describes it."""

    name: str
    digest: str | None = None
    size: int | None = None
    format: str | None = None
    family: str | None = None
    families: tuple[str, ...] = ()
    parameter_size: str | None = None
    quantization_level: str | None = None
    blob_path: str | None = None
    blob_digest: str | None = None


class OllamaApi:
    """A short-timeout client for one server; every call returns ``None`` instead of raising."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.error: str | None = None
        self._client = ollama.Client(host=url, timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)))

    def list_models(self) -> list[ApiModel] | None:
        """Every model the server lists, or ``None`` (with :attr:`error` set) when it cannot answer."""
        try:
            response = self._client.list()
        except _FAILURES as error:
            self.error = _describe(error)
            return None
        models = []
        for item in response.models:
            if not item.model:
                continue
            details = item.details
            models.append(
                ApiModel(
                    name=item.model,
                    digest=item.digest,
                    size=int(item.size) if item.size is not None else None,
                    format=details.format if details else None,
                    family=details.family if details else None,
                    families=tuple(details.families or ()) if details else (),
                    parameter_size=details.parameter_size if details else None,
                    quantization_level=details.quantization_level if details else None,
                )
            )
        return sorted(models, key=lambda m: m.name)

    def add_blob(self, model: ApiModel) -> None:
        """Fill ``blob_path``/``blob_digest`` from ``/api/show``'s Modelfile (left empty on failure)."""
        try:
            response: Any = self._client.show(model.name)
        except _FAILURES as error:
            log.warning("Ollama at %s could not show %s (%s)", self.url, model.name, _describe(error))
            return
        match = _FROM_BLOB.search(response.modelfile or "")
        if match:
            model.blob_path, model.blob_digest = match.group(1), match.group(2).lower()
        details = response.details
        if details is not None:
            model.parameter_size = model.parameter_size or details.parameter_size
            model.quantization_level = model.quantization_level or details.quantization_level
            model.family = model.family or details.family

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, ConnectionError):
        return "cannot connect"  # the client's own message is a paragraph of advice
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]
