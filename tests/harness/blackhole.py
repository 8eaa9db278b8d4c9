"""A TCP endpoint that accepts connections and never answers: a black-holed AWS endpoint.

Point a client at it (``AWS_ENDPOINT_URL_DYNAMODB=hole.url``, or ``endpoint_url=``) to see
what the product does when DynamoDB, Secrets Manager or KMS takes the connection and then
says nothing: only read timeouts and deadlines can end such a call.  Connections are
accepted (so connect timeouts never fire), never read and never written, and held open
until ``close()``.

Usage::

    with BlackHole() as hole:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", hole.url)
        ...
        assert hole.accepted >= 1
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType
from typing import Self

__all__ = ["BlackHole"]


class BlackHole:
    """Loopback listener on a random port that holds every connection it accepts, silently.

    It starts listening when constructed.  Its accept loop runs in a daemon thread and
    accepts as fast as connections arrive, so the listen backlog never fills and no
    client is left waiting for a SYN-ACK.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, backlog: int = 128) -> None:
        self._listener = socket.create_server((host, port), backlog=backlog)
        self._listener.setblocking(False)
        # close() writes to this pair to wake the accept loop out of select().
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._lock = threading.Lock()
        self._held: list[socket.socket] = []
        self._accepted = 0
        self._closed = False
        self.host, self.port = self._listener.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept_loop, name=f"blackhole-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def accepted(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._accepted

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_reader:
                        return
                    self._accept_pending()

    def _accept_pending(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # the listener was closed under us
                return
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self._held.append(conn)
                self._accepted += 1

    def close(self) -> None:
        """Stop listening and drop every held connection (clients see a reset or EOF)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            held, self._held = self._held, []
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        self._thread.join(timeout=5)
        self._listener.close()
        for conn in held:
            conn.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
