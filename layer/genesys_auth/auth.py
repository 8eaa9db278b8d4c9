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

from .tokens import Token

log = logging.getLogger(__name__)

_BEARER = "Bearer "
#: How many times one call may move to another pool slot after a 429 that was its token's own limit.
MAX_SLOT_HOPS = 8


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
        request.register_hook("response", _Replay(self, position, origin(request.url), token))  # type: ignore[no-untyped-call]
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
    """The response hook of one request. It feeds every answer's rate-limit headers to the token
    pool, and re-sends the request at most once: after a 401 with a fresh token, or after a 429
    that is the token's own limit with another slot's token (when the pool has one to give). It
    only ever acts for the origin the token was attached for: a 401 from a host a redirect led to
    is returned, never answered with a fresh token."""

    def __init__(
        self,
        auth: GenesysAuth,
        body_position: int | None,
        sent_to: tuple[str, str, int | None],
        token: Token | None = None,
        *,
        replay: bool = True,
        hops: int = 0,
    ) -> None:
        self.auth = auth
        self.body_position = body_position
        self.sent_to = sent_to
        self.token = token
        self.replay = replay
        self.hops = hops

    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        sent = response.request
        if origin(sent.url) != self.sent_to:
            if response.status_code == 401:
                log.warning("401 from another origin than the token was meant for: not replaying")
            return response
        manager = self.auth.manager
        observe = getattr(manager, "observe", None)
        if self.token is not None and observe is not None:
            observe(self.token, response.headers)
        if (
            response.status_code == 429
            and self.token is not None
            and self.hops < MAX_SLOT_HOPS
            and _own_limit(response)
        ):
            can_move = getattr(manager, "can_move_from", None)
            if can_move is None or not can_move(self.token):
                return response
            other = manager.token()
            if other.hash == self.token.hash:
                return response
            return self._resend(response, other, "429 (this token's own limit)", kwargs, hops=self.hops + 1)
        if not self.replay:
            return response
        if response.status_code == 401:
            header = str(sent.headers.get("Authorization", ""))
            failed = header[len(_BEARER) :] if header.startswith(_BEARER) else None
            if failed:
                manager.invalidate(failed)
            if self.auth._on_replay is not None:
                self.auth._on_replay()
            return self._resend(response, manager.token(), "401", kwargs, hops=MAX_SLOT_HOPS)
        return response

    def _resend(
        self, response: requests.Response, token: Token, why: str, kwargs: dict[str, Any], *, hops: int
    ) -> requests.Response:
        sent = response.request
        body = sent.body
        if body is not None and hasattr(body, "seek"):
            if self.body_position is None:
                return response  # a stream we cannot rewind: hand the answer back rather than send half a body
            body.seek(self.body_position)
        response.content  # noqa: B018 - drain the body so the connection can be reused
        response.close()
        replay = sent.copy()
        # The replay reports its load; its own 401 is final, its own-limit 429 may move once more.
        replay.hooks = {
            "response": [_Replay(self.auth, self.body_position, self.sent_to, token, replay=False, hops=hops)]
        }
        replay.headers["Authorization"] = _BEARER + token.access_token
        log.info(
            "%s with token fp=%s: replaying %s once with token fp=%s",
            why,
            self.token.fingerprint if self.token is not None else "-",
            replay.method,
            token.fingerprint,
        )
        # On the last hop, the replay's own 429 is waited out (Retry-After, within the deadline).
        from .retry import POOL_CAN_MOVE

        reset = POOL_CAN_MOVE.set(None) if hops >= MAX_SLOT_HOPS else POOL_CAN_MOVE.set(POOL_CAN_MOVE.get())
        try:
            second = response.connection.send(replay, **kwargs)
        finally:
            POOL_CAN_MOVE.reset(reset)
        second.history.append(response)
        second.request = replay
        return second


def _own_limit(response: requests.Response) -> bool:
    """True if a 429 says the token used has spent its own per-minute allowance."""
    from .pool import load_of

    load = load_of(response.headers)
    return load is not None and load.exhausted
