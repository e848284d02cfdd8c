"""Ask the Ollama server whether it holds one model, with one ``/api/show`` (changes nothing).

Used by ``download --dry-run`` to say whether a pull is needed, and by the quick
"already downloaded" check of a plain re-run, which compares the model blob the
server's Modelfile names with the one the registry recorded.
"""

from __future__ import annotations

from typing import Any

import attrs
import httpx
import ollama

from imageworks.providers.ollama.api import _FROM_BLOB
from imageworks.providers.ollama.pull import unreachable

LOOKUP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)


@attrs.frozen(kw_only=True)
class Presence:
    """What the server said: ``present`` is ``None`` when it answered something else than yes or no."""

    url: str
    name: str
    present: bool | None
    blob_digest: str | None = None
    detail: str | None = None


def look_up(url: str, name: str, timeout: httpx.Timeout = LOOKUP_TIMEOUT) -> Presence:
    """Whether the server at ``url`` has ``name``; raise :class:`ImageworksError` when it is unreachable."""
    client = ollama.Client(host=url, timeout=timeout)
    try:
        response: Any = client.show(name)
    except (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError) as error:
        raise unreachable(url) from error
    except ollama.ResponseError as error:
        if error.status_code == 404:
            return Presence(url=url, name=name, present=False)
        return Presence(url=url, name=name, present=None, detail=str(error.error)[:200])
    except (httpx.HTTPError, ValueError) as error:
        return Presence(url=url, name=name, present=None, detail=str(error)[:200] or type(error).__name__)
    finally:
        client.close()
    match = _FROM_BLOB.search(getattr(response, "modelfile", None) or "")
    return Presence(url=url, name=name, present=True, blob_digest=match.group(2).lower() if match else None)
