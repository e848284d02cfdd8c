"""Slow clients cannot starve the others: a header deadline and a connection cap on uvicorn's h11 protocol.

uvicorn (0.54) times out idle keep-alive connections, but never a client that has sent
part of its request headers: 1,100 such sockets held the proxy's descriptors until
nobody else got in. :func:`guarded_protocol` makes uvicorn's ``H11Protocol`` class with
two more rules:

- a client has ``header_timeout`` seconds, from connecting (or from the end of its last
  answer), to send a whole request head; then the connection is closed;
- at most ``max_connections`` client connections are open; one more arriving closes the
  oldest connection still waiting for its request head (a slow client), so a client that
  sends its request at once always gets in. With none waiting (all are busy), the new
  one is closed. The cap is also kept below the process's descriptor limit
  (:func:`connection_cap`), leaving room for backend connections and the registry.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: Descriptors kept free for backend connections (httpx's pool), the registry, logs and the listener.
RESERVED_DESCRIPTORS = 160
#: The listen backlog, which is also how many connections asyncio accepts in one go (before any is looked at).
BACKLOG = 128


def connection_cap(wanted: int) -> int:
    """``wanted``, lowered so that the client connections, one accept batch (:data:`BACKLOG`) and
    :data:`RESERVED_DESCRIPTORS` fit the descriptor limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return min(wanted, max(16, soft - RESERVED_DESCRIPTORS - BACKLOG))


def guarded_protocol(header_timeout: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a request-head deadline and a connection cap (see the module docstring)."""
    waiting: dict[GuardedH11Protocol, None] = {}  # connections waiting for a request head, oldest first
    open_count = [0]

    class GuardedH11Protocol(H11Protocol):
        head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            open_count[0] += 1
            if open_count[0] > max_connections:
                if waiting:
                    oldest = next(iter(waiting))
                    oldest.drop()
                else:
                    self.drop()
                    return
            self.await_head()

        def connection_lost(self, exc: Exception | None) -> None:
            open_count[0] -= 1
            self.head_arrived()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self.head_arrived()  # the request head is in: the request's own deadlines apply now

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self.await_head()

        def await_head(self) -> None:
            waiting[self] = None
            if self.head_timer is None:
                self.head_timer = self.loop.call_later(header_timeout, self.drop)

        def head_arrived(self) -> None:
            waiting.pop(self, None)
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def drop(self) -> None:
            """Close this connection now (a slow or surplus client)."""
            self.head_arrived()
            if not self.transport.is_closing():
                self.transport.abort()

    GuardedH11Protocol.__name__ = GuardedH11Protocol.__qualname__ = "GuardedH11Protocol"
    return GuardedH11Protocol


def server_options(header_timeout: float, max_connections: int) -> dict[str, Any]:
    """The ``uvicorn.Config`` keywords that apply these rules."""
    cap = connection_cap(max_connections)
    return {
        "http": guarded_protocol(header_timeout, cap),
        "timeout_keep_alive": min(5, max(1, int(header_timeout))),
        "h11_max_incomplete_event_size": 64 * 1024,  # a request head longer than this is a 400
        "backlog": BACKLOG,
    }
