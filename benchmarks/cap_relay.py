"""A TCP relay that caps each connection's download rate, with no burst: a CDN-style link.

Run: ``python benchmarks/cap_relay.py LISTEN_PORT UPSTREAM_PORT RATE_BYTES_PER_S``
(``bench_transfer.py`` starts it as its own process, in front of nginx.)

Why not nginx's own limits: ``limit_rate`` is per HTTP request and ``proxy_download_rate``
per connection, but both allow ``rate * (whole seconds elapsed + 1)`` bytes, so every
request (or connection) starts with a second's worth at full speed. Through
``limit_rate 25m`` one kept-alive connection fetching 1 MiB Range pieces got 493 MB/s;
through the stream proxy, 16 connections took 420 MB in their first second. A client's
piece size or connection count then beats the cap instead of the link, which no real
per-connection limit allows. Here each connection is paced from its first byte:
bytes sent never run ahead of ``rate * elapsed`` by more than one 64 KiB chunk, and
the time a kept-alive connection sits idle between answers earns no credit (the clock
restarts at the next byte), so no request pattern gets a burst.

The bytes move with ``os.splice`` through a pipe (no copy into Python), so the relay
costs a few percent of a core at 400 MB/s and stays out of the tools' way. It knows
nothing of HTTP: keep-alive, ranges and redirects behave as the server behind it says.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

CHUNK = 64 * 1024


def pump(source: socket.socket, sink: socket.socket, rate: float | None) -> None:
    """Move bytes from ``source`` to ``sink`` until ``source`` ends, paced at ``rate`` bytes/s."""
    read_end, write_end = os.pipe()
    next_at = time.monotonic()  # when the next chunk may go
    try:
        while True:
            if rate is not None:
                now = time.monotonic()
                if next_at > now:
                    time.sleep(next_at - now)
                else:
                    next_at = now  # idle time on a kept-alive connection earns no credit
            count = os.splice(source.fileno(), write_end, CHUNK)
            if count == 0:
                break
            moved = 0
            while moved < count:
                moved += os.splice(read_end, sink.fileno(), count - moved)
            if rate is not None:
                next_at += count / rate
    except OSError:
        pass
    finally:
        os.close(read_end)
        os.close(write_end)
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def relay(client: socket.socket, upstream_port: int, rate: float) -> None:
    """One client connection: requests go up unpaced, answers come down at ``rate``."""
    try:
        server = socket.create_connection(("127.0.0.1", upstream_port))
    except OSError:
        client.close()
        return
    threading.Thread(target=pump, args=(client, server, None), daemon=True).start()
    pump(server, client, rate)
    client.close()
    server.close()


def main() -> None:
    listen_port, upstream_port, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    listener = socket.create_server(("127.0.0.1", listen_port), backlog=256)
    while True:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=relay, args=(client, upstream_port, rate), daemon=True).start()


if __name__ == "__main__":
    main()
