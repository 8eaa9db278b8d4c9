"""The login host: ``POST /oauth/token`` (client-credentials grant, HTTP Basic client auth)."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections import deque
from email.message import Message
from urllib.parse import parse_qs

from .answers import (
    MSG_AUTH_FAILED,
    MSG_CLIENT_NOT_FOUND,
    MSG_TOKEN_RATE_LIMIT,
    MSG_UNAUTHORIZED_CLIENT,
    _oauth_error,
    _server_error,
)
from .model import WINDOW_SECONDS, OAuthClient, _bump, _Response, _Token
from .state import _EmulatorState


class _OAuthMixin(_EmulatorState):
    def _handle_token(self, method: str, headers: Message[str, str], body: bytes) -> _Response:
        basic = _parse_basic(headers.get("Authorization"))
        with self._lock:
            counters = self._counters["token"]
            counters["requests"] += 1
            if basic is not None:
                per_client = counters["by_client"].setdefault(basic[0], {"mints": 0, "requests": 0})
                per_client["requests"] += 1
            response, error_key = self._token_answer_locked(method, headers, body, basic)
            _bump(counters["status"], str(response.status))
            if error_key is not None:
                _bump(counters["errors"], error_key)
            return response

    def _token_answer_locked(
        self,
        method: str,
        headers: Message[str, str],
        body: bytes,
        basic: tuple[str, str] | None,
    ) -> tuple[_Response, str | None]:
        if self._fail_next["token"]:
            status = self._fail_next["token"].popleft()
            return _server_error(status), f"http_{status}"
        if self._rate_limit_next["token"]:
            self._rate_limit_next["token"].popleft()  # retry_after unused here (see rate_limit_next)
            return self._token_rate_limited(), "rate_limited"
        if method != "POST":
            resp = _oauth_error(405, "invalid_request", f"method {method} not allowed")
            resp.headers["Allow"] = "POST"
            return resp, "invalid_request"
        if basic is None:
            return _oauth_error(401, "invalid_client", MSG_AUTH_FAILED), "invalid_client"
        client_id, secret = basic
        record = self._clients.get(client_id)
        if record is None:
            return _oauth_error(401, "invalid_client", MSG_CLIENT_NOT_FOUND), "invalid_client"
        if not secrets.compare_digest(record.secret.encode(), secret.encode()):
            return _oauth_error(401, "invalid_client", MSG_AUTH_FAILED), "invalid_client"
        if record.state != "active":
            return _oauth_error(401, "invalid_client", MSG_AUTH_FAILED), "invalid_client"
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return (
                _oauth_error(
                    400,
                    "invalid_request",
                    "content type must be application/x-www-form-urlencoded",
                ),
                "invalid_request",
            )
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        grant_types = form.get("grant_type", [])
        if not grant_types or not grant_types[0]:
            return (
                _oauth_error(400, "invalid_request", "missing grant_type"),
                "invalid_request",
            )
        if grant_types[0] != "client_credentials" or record.grant_type != "client_credentials":
            return (
                _oauth_error(400, "unauthorized_client", MSG_UNAUTHORIZED_CLIENT),
                "unauthorized_client",
            )
        now = time.time()
        window = self._mint_windows.setdefault(client_id, deque())
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        if self.token_rate_limit is not None and len(window) >= self.token_rate_limit:
            return self._token_rate_limited(), "rate_limited"
        window.append(now)
        return self._mint_locked(record, now), None

    def _token_rate_limited(self) -> _Response:
        response = _oauth_error(400, "invalid_request", MSG_TOKEN_RATE_LIMIT)
        configured = self.token_rate_limit_retry_after
        if configured is not None:
            response.headers["Retry-After"] = str(int(configured))
        return response

    def _mint_locked(self, record: OAuthClient, now: float) -> _Response:
        value = secrets.token_urlsafe(60)  # 80 URL-safe chars, opaque, no dots
        while value in self._tokens:  # pragma: no cover - astronomically unlikely
            value = secrets.token_urlsafe(60)
        self._tokens[value] = _Token(
            value=value,
            client_id=record.client_id,
            issued_at=now,
            expires_at=now + record.lifetime,
        )
        self._token_order.append(value)
        counters = self._counters["token"]
        counters["mints"] += 1
        per_client = counters["by_client"].setdefault(record.client_id, {"mints": 0, "requests": 0})
        per_client["mints"] += 1
        return _Response(
            200,
            {
                "access_token": value,
                "token_type": "bearer",
                "expires_in": max(1, record.lifetime - 1),
            },
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )


def _parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        return None
    return client_id, secret
