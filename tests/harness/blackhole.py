"""A loopback listener that accepts connections and never answers: a black-holed endpoint.

Stands in for a DynamoDB, Secrets Manager or KMS endpoint that hangs (``AWS_ENDPOINT_URL_DYNAMODB =
hole.url``) so tests can prove that no call outlives the deadline.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class BlackHole:
    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="blackhole", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)  # kept open, never read: the client waits for an answer

    def close(self) -> None:
        self._closed.set()
        try:
            self._sock.close()
        except OSError:
            pass
        for conn in self._held:
            try:
                conn.close()
            except OSError:
                pass

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
