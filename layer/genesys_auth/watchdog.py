"""A cap on the *total* time of one HTTP exchange, not just each socket read.

Socket timeouts bound every single read, so a server that drips one byte just inside each read
timeout can hold a request open for as long as it likes. The library's HTTP sessions use
connection pools whose connections arm this watchdog when a request starts, with the deadline bound
for that call, and disarm it when the connection goes back to its pool (the answer was read). If
the deadline comes first, the watchdog shuts the socket down: the blocked read returns at once and
the call fails as a classified ``UnavailableError`` instead of outliving the invocation.

One daemon thread serves every connection of the process (a heap of due times), so arming and
disarming costs a heap push and a flag, not a thread per request.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .deadline import Deadline


class _Watch:
    __slots__ = ("cancelled", "connection")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.cancelled = False


class _Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, connection: Any, due: float) -> _Watch:
        watch = _Watch(connection)
        with self._wake:
            heapq.heappush(self._heap, (due, next(self._seq), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="genesys-auth-watchdog", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is watch:
                self._wake.notify()
        return watch

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                due, _, watch = self._heap[0]
                delay = due - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
            if not watch.cancelled:
                _cut(watch.connection)


def _cut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: nothing left to cut


WATCHDOG = _Watchdog()


class _Bounded:
    """Mixin for urllib3 connections: arm at each request, disarm when released."""

    _watch: _Watch | None = None

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._disarm()
        self._watch = WATCHDOG.arm(self, Deadline.of(None).at)
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _disarm(self) -> None:
        if self._watch is not None:
            self._watch.cancelled = True
            self._watch = None

    def close(self) -> None:
        self._disarm()
        super().close()  # type: ignore[misc]


class BoundedHTTPConnection(_Bounded, HTTPConnection):
    pass


class BoundedHTTPSConnection(_Bounded, HTTPSConnection):
    pass


class BoundedHTTPPool(HTTPConnectionPool):
    ConnectionCls = BoundedHTTPConnection

    def _put_conn(self, conn: Any) -> None:
        if isinstance(conn, _Bounded):
            conn._disarm()
        super()._put_conn(conn)


class BoundedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = BoundedHTTPSConnection

    def _put_conn(self, conn: Any) -> None:
        if isinstance(conn, _Bounded):
            conn._disarm()
        super()._put_conn(conn)


POOL_CLASSES = {"http": BoundedHTTPPool, "https": BoundedHTTPSPool}
