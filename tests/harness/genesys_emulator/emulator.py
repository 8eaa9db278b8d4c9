"""The emulator itself: lifecycle, and the entry point that routes each request to its host role."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from email.message import Message
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

from .api import _ApiMixin
from .control import _ControlMixin
from .model import CONTROL_PREFIX, TOKEN_PATH, Canned, _bump, _Response
from .oauth import _OAuthMixin, _parse_basic
from .server import _Server


class GenesysEmulator(_ControlMixin, _OAuthMixin, _ApiMixin):
    """Thread-safe Genesys Cloud emulator; all mutable state sits behind one lock.

    ``GenesysEmulator(api_rate_limit=300, api_rate_window=60.0, rate_limit_scope="token",
    token_rate_limit=None, tokens_survive_regeneration=True)``; use it as a context
    manager or call ``start()``/``stop()``.  tests/harness/README.md describes what it
    implements.  Choices made where Genesys's behaviour is not verified:

    * ``invalid_client`` answers use HTTP **401** (real status unknown: 400 or 401).
    * The token-endpoint rate limit (HTTP 400 ``invalid_request``) carries no
      ``Retry-After`` header unless ``token_rate_limit_retry_after`` is set.
    * A regenerated secret replaces the old one at once (no grace period); issued
      tokens survive iff ``tokens_survive_regeneration``.
    * Tokens are checked in this order: unknown, revoked, expired, client
      ``disabled`` -> all ``bad.credentials``.  An ``inactive`` client cannot mint
      but its existing tokens keep working (the model docs only say "disabled"
      invalidates tokens).
    * ``HEAD /api/v2/tokens/me`` answers 200/401 with no body.
    * Requests are authenticated before routing, so an unknown path without a
      valid token answers 401, with a valid token 404 ``not.found``.
    * ``GET /api/v2/oauth/clients/{id}`` needs ``oauth:client:view`` or
      ``oauth:client:edit``; ``POST .../secret`` needs ``oauth:client:edit``.
    * A token is valid until ``issued_at + lifetime``; the answered ``expires_in``
      is ``lifetime - 1`` (minimum 1), as Genesys answers 86399 for 86400.
    * The per-token API limit is a sliding window (``api_rate_window``, 60 s by
      default) over *accepted* requests; rejected (429) requests do not extend it.
      ``rate_limit_scope="client"`` makes all tokens of one OAuth client share one
      window and count (the reading of the limit that is not ruled out).
    """

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}"

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = _Server((self.host, self.port), self)
        self._stopping.clear()
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"genesys-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _register_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _unregister_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _handle(self, method: str, raw_path: str, headers: Message[str, str], body: bytes) -> _Response | Canned:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        if path.startswith(CONTROL_PREFIX):
            return self._handle_control(method, path, body)
        group = "token" if path == TOKEN_PATH else "api"
        with self._lock:
            self._received.append((group, method, path, parts.query, headers.get("Authorization"), headers.get("Host")))
            latency = self._latency[group]
            if group == "token":
                self._token_arrivals.append(time.time())
            if self._scripted[group]:
                canned = self._scripted[group].popleft()
                self._count_scripted_locked(group, path, headers, canned)
                return canned
        if latency > 0:
            time.sleep(latency)
        if group == "token":
            return self._handle_token(method, headers, body)
        return self._handle_api(method, path, query, headers)

    def _count_scripted_locked(self, group: str, path: str, headers: Message[str, str], canned: Canned) -> None:
        counters = self._counters[group]
        counters["requests"] += 1
        if group == "token":
            basic = _parse_basic(headers.get("Authorization"))
            if basic is not None:
                per_client = counters["by_client"].setdefault(basic[0], {"mints": 0, "requests": 0})
                per_client["requests"] += 1
        else:
            _bump(counters["by_path"], path)
        if canned.action != "stall":
            _bump(counters["status"], str(canned.status))
