"""Pull one model through an Ollama server (``Client.pull(stream=True)``), with progress.

The server fetches the layers itself and streams NDJSON: ``pulling manifest``, then per
layer ``{"status": "pulling <digest>", "digest", "total", "completed"}`` lines, then
``verifying sha256 digest``, ``writing manifest`` and ``success``; a failure is a line
``{"error": "..."}`` (or an HTTP error). :class:`PullProgress` turns the layer lines into
the :class:`~imageworks.core.transfers.TransferProgress` snapshots the CLI's progress
reporter draws (one "file" per layer); :func:`pull_model` turns every way a pull can
fail into one :class:`~imageworks.core.errors.ImageworksError` line with a hint.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

import httpx
import ollama

from imageworks.core.errors import ImageworksError
from imageworks.core.transfers import ProgressCallback, TransferProgress

log = logging.getLogger("imageworks.ollama.pull")

# Ollama is silent while it verifies a large blob's sha256 (a minute or more for tens of
# gigabytes), so the read timeout is generous; connecting must be quick.
PULL_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
SPEED_WINDOW = 5.0  # seconds of samples behind the displayed speed
HOST_HINT = "start it (`ollama serve`) or point OLLAMA_HOST / IMAGEWORKS_OLLAMA_HOST at it"
_NOT_FOUND = ("file does not exist", "not found", "manifest unknown")


class PullProgress:
    """Folds Ollama's per-layer progress lines into whole-pull transfer snapshots."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.layers: dict[str, tuple[int, int]] = {}
        self._samples: deque[tuple[float, int]] = deque()

    @property
    def bytes_done(self) -> int:
        """Bytes of every layer seen so far that are on the server's disk."""
        return sum(done for done, _ in self.layers.values())

    def update(self, digest: str, completed: int | None, total: int | None) -> None:
        """Record one layer line and report the new snapshot."""
        size = max(int(total or 0), 0)
        done = min(max(int(completed or 0), 0), size) if size else max(int(completed or 0), 0)
        previous = self.layers.get(digest, (0, size))
        self.layers[digest] = (max(done, previous[0]), size or previous[1])
        self._report()

    def finish(self) -> None:
        """Report every layer complete (after ``success``)."""
        self.layers = {digest: (size, size) for digest, (_, size) in self.layers.items()}
        self._report()

    def _report(self) -> None:
        if self.callback is None:
            return
        now, done = time.monotonic(), self.bytes_done
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW:
            self._samples.popleft()
        first_time, first_done = self._samples[0]
        speed = (done - first_done) / (now - first_time) if now > first_time else 0.0
        self.callback(
            TransferProgress(
                bytes_done=done,
                bytes_total=sum(size for _, size in self.layers.values()),
                speed=speed,
                files_done=sum(1 for d, size in self.layers.values() if size and d >= size),
                files_total=len(self.layers),
                connections=1,
            )
        )


def pull_model(url: str, name: str, progress: ProgressCallback | None = None, timeout: httpx.Timeout = PULL_TIMEOUT) -> None:
    """Have the server at ``url`` pull ``name``; return once it answers ``success``.

    Raise :class:`ImageworksError` when the server is unreachable, does not know the
    model, reports an error in the stream, or the stream ends early.
    """
    tracker = PullProgress(progress)
    client = ollama.Client(host=url, timeout=timeout)
    status = ""
    try:
        for part in client.pull(name, stream=True):
            status = part.status or status
            if part.digest:
                tracker.update(part.digest, part.completed, part.total)
            elif status:
                log.info("ollama pull %s: %s", name, status)
            if status == "success":
                tracker.finish()
                return
    except Exception as error:
        raise pull_error(error, url, name) from error
    finally:
        client.close()
    raise ImageworksError(
        f"the Ollama server at {url} stopped answering while pulling {name} (last status: {status or 'none'})",
        "run the same command again; Ollama resumes partial pulls",
    )


def pull_error(error: Exception, url: str, name: str) -> Exception:
    """The one-line :class:`ImageworksError` for ``error``; anything unexpected is returned as it is."""
    if isinstance(error, ImageworksError):
        return error
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError)):
        return unreachable(url)
    if isinstance(error, ollama.ResponseError):
        return _refused(error, url, name)
    if isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout)):
        return ImageworksError(
            f"the connection to the Ollama server at {url} dropped while pulling {name} ({_first_line(error)})",
            "run the same command again; Ollama resumes partial pulls",
        )
    if isinstance(error, httpx.HTTPError):
        return ImageworksError(f"talking to the Ollama server at {url} failed: {_first_line(error)}", HOST_HINT)
    if isinstance(error, ValueError):  # a line that is not JSON or not a progress object
        return ImageworksError(
            f"the Ollama server at {url} sent an unreadable progress line while pulling {name}",
            "check that OLLAMA_HOST points at an Ollama server",
        )
    return error


def unreachable(url: str) -> ImageworksError:
    """The error for a server nobody answers at."""
    return ImageworksError(f"cannot reach the Ollama server at {url}", HOST_HINT)


def _refused(error: ollama.ResponseError, url: str, name: str) -> ImageworksError:
    text = _first_line(error.error)
    if error.status_code == 404 or any(marker in text.lower() for marker in _NOT_FOUND):
        return ImageworksError(
            f"Ollama has no model {name!r} (the server at {url} answered: {text})",
            "check the name and tag on https://ollama.com/library; a Hugging Face GGUF is hf.co/<owner>/<repo>:<quant>",
        )
    return ImageworksError(f"the Ollama server at {url} could not pull {name}: {text}", "see the Ollama server's log")


def _first_line(value: Any) -> str:
    text = str(value).strip()
    return (text.splitlines()[0] if text else type(value).__name__)[:200]
