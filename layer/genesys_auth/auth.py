"""``GenesysAuth``: the managed token for any ``requests.Session``, with one replay after a 401.

Modelled on requests' own ``HTTPDigestAuth.handle_401``: a response hook sees the 401, forgets
exactly the token that failed, takes a fresh one and re-sends a copy of the prepared request on
the same connection adapter. The copy carries no hook, so a second 401 is returned to the caller
(``GenesysClient`` turns it into an :class:`AuthenticationError`); it never loops.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from .fingerprint import fingerprint
from .tokens import Token

log = logging.getLogger(__name__)

_BEARER = "Bearer "


class TokenManager(Protocol):
    def token(self) -> Token: ...

    def invalidate(self, access_token: str) -> bool: ...


class GenesysAuth(AuthBase):
    """Sets ``Authorization: Bearer <token>`` and replays the request once after a 401."""

    def __init__(self, manager: TokenManager, *, on_replay: Any = None) -> None:
        self.manager = manager
        self._on_replay = on_replay

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return self.apply(request, self.manager.token())

    def with_token(self, token: Token) -> AuthBase:
        """This auth for one request whose token the caller already holds (no second fetch)."""
        return _WithToken(self, token)

    def apply(self, request: requests.PreparedRequest, token: Token) -> requests.PreparedRequest:
        request.headers["Authorization"] = _BEARER + token.access_token
        position = None
        body = request.body
        if body is not None and hasattr(body, "tell"):
            try:
                position = body.tell()
            except OSError:
                position = None
        request.register_hook("response", _Replay(self, position, origin(request.url)))  # type: ignore[no-untyped-call]
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GenesysAuth) and other.manager is self.manager

    def __hash__(self) -> int:
        return id(self.manager)


class _WithToken(AuthBase):
    def __init__(self, auth: GenesysAuth, token: Token) -> None:
        self.auth = auth
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return self.auth.apply(request, self.token)


def origin(url: str | None) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``: the unit a token may be sent to."""
    parts = urlsplit(url or "")
    try:
        port = parts.port
    except ValueError:
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


class _Replay:
    """The response hook of one request; it fires at most once, and only for the origin the
    token was attached for: a 401 from a host a redirect led to is returned, never answered with
    a fresh token."""

    def __init__(self, auth: GenesysAuth, body_position: int | None, sent_to: tuple[str, str, int | None]) -> None:
        self.auth = auth
        self.body_position = body_position
        self.sent_to = sent_to

    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401:
            return response
        sent = response.request
        if origin(sent.url) != self.sent_to:
            log.warning("401 from another origin than the token was meant for: not replaying")
            return response
        header = str(sent.headers.get("Authorization", ""))
        failed = header[len(_BEARER) :] if header.startswith(_BEARER) else None
        if failed:
            self.auth.manager.invalidate(failed)
        body = sent.body
        if body is not None and hasattr(body, "seek"):
            if self.body_position is None:
                return response  # a stream we cannot rewind: hand the 401 back rather than send half a body
            body.seek(self.body_position)
        response.content  # noqa: B018 - drain the body so the connection can be reused
        response.close()
        replay = sent.copy()
        replay.hooks = {"response": []}  # the replay's own 401 is final
        token = self.auth.manager.token()
        replay.headers["Authorization"] = _BEARER + token.access_token
        log.info(
            "401 with token fp=%s: replaying %s once with token fp=%s",
            fingerprint(failed) if failed else "-",
            replay.method,
            token.fingerprint,
        )
        if self.auth._on_replay is not None:
            self.auth._on_replay()
        second = response.connection.send(replay, **kwargs)
        second.history.append(response)
        second.request = replay
        return second
