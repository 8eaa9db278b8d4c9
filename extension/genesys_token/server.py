"""The extension's localhost HTTP API and the token logic behind it.

``GET /health``             -> {"ready": true, "token": "fresh|stale|expiring|invalid"}; no header needed
``GET /token``              -> {"access_token", "token_type", "expires_at", "lifetime", "version",
                               "fingerprint", "api_url"}
``POST /token/invalidate``  {"token_hash": sha256 hex} or {"token": "..."} -> the fresh token

Every path but ``/health`` needs ``X-Aws-Parameters-Secrets-Token: $AWS_SESSION_TOKEN`` (the
SSRF guard of AWS's Parameters and Secrets extension): without it, 403 and an empty body.
``X-Genesys-Timeout-Ms`` bounds how long a request may wait for a refresh. Errors are
``{"error": kind, "message": ...}`` with 503 (unavailable, rate_limit) or 502 (the rest).
"""

from __future__ import annotations

import hmac
import http.server
import json
import logging
import socket
import threading
from typing import Any

from genesys_auth import GenesysAuthError, GenesysClient, Token, TokenState
from genesys_auth.deadline import Deadline
from genesys_auth.extension_client import TIMEOUT_HEADER, TOKEN_HEADER
from genesys_auth.fingerprint import token_hash

log = logging.getLogger("genesys_token")

_RETRYABLE = {"unavailable", "rate_limit"}


class TokenService:
    """The extension's view of its ``GenesysClient``: serve without waiting, refresh ahead."""

    def __init__(self, client: GenesysClient) -> None:
        self.client = client
        self.provider = client.provider
        self.policy = client.provider.policy

    def state(self) -> TokenState:
        return self.policy.state(self.provider.current)

    def token(self, deadline: Deadline) -> Token:
        """The current token while it is outside the mandatory window, else a refreshed one.

        A request never triggers an advisory refresh: that runs after INVOKE (:meth:`refresh_ahead`),
        so the caller does not wait for it."""
        current = self.provider.current
        if current is not None and self.policy.state(current) in (TokenState.FRESH, TokenState.STALE):
            return current
        return self.provider.token(deadline)

    def invalidate(self, digest: str, deadline: Deadline) -> Token:
        """Forget the token with this hash if it is still current, then return a fresh one.

        Concurrent invalidations of one token refresh once: the second finds a newer token (or the
        refresh in flight) and the provider's single-flight hands it the same result."""
        current = self.provider.current
        if current is not None and hmac.compare_digest(current.hash, digest):
            self.provider.invalidate(current.access_token)
        return self.provider.token(deadline)

    def refresh_ahead(self, deadline: Deadline) -> None:
        """After an INVOKE event: refresh now if the token is in its advisory window (or worse)."""
        if self.state() is TokenState.FRESH:
            return
        try:
            token = self.provider.token(deadline)
        except GenesysAuthError as exc:
            log.warning("refresh after INVOKE failed (%s: %s)", exc.kind, exc)
            return
        log.debug("after INVOKE: token fp=%s is %s", token.fingerprint, self.state().value)


class TokenServer(http.server.ThreadingHTTPServer):
    """Binds ``127.0.0.1:<port>`` in the constructor, so it can be ready before ``register``."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, service: TokenService, session_token: str, *, max_wait: float) -> None:
        self.service = service
        self.session_token = session_token
        self.max_wait = max_wait
        super().__init__(("127.0.0.1", port), _Handler)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="genesys-token-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("error while serving a request", exc_info=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TokenServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.command, self.path.split("?", 1)[0])

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        body = self._body()
        service = self.server.service
        if path == "/health" and self.command == "GET":
            self._send(200, {"ready": True, "token": service.state().value})
            return
        if not self._authorized():
            self._send(403, None)
            return
        try:
            if path == "/token" and self.command == "GET":
                self._send_token(service.token(self._deadline()))
            elif path == "/token/invalidate" and self.command == "POST":
                digest = _digest(body)
                if digest is None:
                    self._send(400, {"error": "bad_request", "message": 'send {"token_hash": "<sha256 hex>"}'})
                    return
                self._send_token(service.invalidate(digest, self._deadline()))
            else:
                self._send(404, {"error": "not_found", "message": f"{self.command} {path} is not an endpoint"})
        except GenesysAuthError as exc:
            self._send(503 if exc.kind in _RETRYABLE else 502, {"error": exc.kind, "message": str(exc)})
        except Exception as exc:
            log.exception("unexpected error serving %s", path)
            self._send(500, {"error": "internal", "message": type(exc).__name__})

    def _authorized(self) -> bool:
        expected = self.server.session_token
        given = self.headers.get(TOKEN_HEADER, "")
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())

    def _deadline(self) -> Deadline:
        seconds = self.server.max_wait
        raw = self.headers.get(TIMEOUT_HEADER)
        if raw and raw.isdigit():
            seconds = min(seconds, int(raw) / 1000.0)
        return Deadline.after(seconds)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_token(self, token: Token) -> None:
        self._send(
            200,
            {
                "access_token": token.access_token,
                "token_type": token.token_type,
                "expires_at": token.expires_at,
                "lifetime": token.lifetime,
                "version": token.version,
                "fingerprint": token.fingerprint,
                "api_url": token.api_url,
            },
        )

    def _send(self, status: int, body: dict[str, Any] | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


def _digest(body: bytes) -> str | None:
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("token_hash"), str):
        return str(data["token_hash"]).lower()
    if isinstance(data.get("token"), str):
        return token_hash(data["token"])
    return None
