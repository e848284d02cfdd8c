"""A loopback TCP relay that slows the server's answers down to a byte rate per connection.

It forwards bytes both ways and understands nothing of HTTP, so the server behind it
(olah, say) keeps every one of its own behaviours; only time changes. Tests use it to
catch a download mid-file, which a loopback server otherwise finishes in milliseconds:
:meth:`ThrottledRelay.pause` stops the answers altogether, so a test that kills the client
once enough bytes arrived cannot find the download finished first, however loaded the
machine is.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Self

PIECE = 16 * 1024


class ThrottledRelay:
    """Listens on 127.0.0.1; each connection is relayed to ``upstream`` at ``rate`` bytes/s downstream."""

    def __init__(self, upstream_port: int, rate: float) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.rate = rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = threading.Event()
        self.flowing = threading.Event()  # cleared by pause(): answers wait
        self.flowing.set()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def pause(self) -> None:
        """Forward no more of the server's bytes until :meth:`resume` (or the relay closes)."""
        self.flowing.clear()

    def resume(self) -> None:
        """Forward the server's bytes again."""
        self.flowing.set()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.closed.set()
        self.flowing.set()
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, self.rate), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, rate: float | None) -> None:
        started, sent = time.monotonic(), 0
        try:
            while data := source.recv(PIECE):
                if rate is not None:
                    self.flowing.wait()
                sink.sendall(data)
                sent += len(data)
                if rate is not None:  # sleep until the bytes sent so far are due
                    time.sleep(max(0.0, started + sent / rate - time.monotonic()))
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
