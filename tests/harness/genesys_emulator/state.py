"""The emulator's state, shared by its parts (each part is a mixin over this class)."""

from __future__ import annotations

import socket
import threading
from collections import deque
from typing import TYPE_CHECKING

from .model import (
    ENDPOINT_GROUPS,
    RECEIVED_MAX,
    WINDOW_SECONDS,
    Canned,
    JsonDict,
    OAuthClient,
    _check_api_rate_limit,
    _new_counters,
    _Token,
)

if TYPE_CHECKING:
    from .server import _Server


class _EmulatorState:
    """Every field behind ``_lock``; the constructor's arguments are the emulator's settings."""

    #: Set to an int (on the class or an instance) to add ``Retry-After`` to
    #: token-endpoint rate-limit answers; None (default) sends no such header.
    token_rate_limit_retry_after: int | None = None

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_rate_limit: int | None = None,
        api_rate_limit: int = 300,
        api_rate_window: float = WINDOW_SECONDS,
        rate_limit_scope: str = "token",
        tokens_survive_regeneration: bool = True,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.token_rate_limit = token_rate_limit
        self.api_rate_limit = api_rate_limit
        self.api_rate_window = api_rate_window
        self.rate_limit_scope = rate_limit_scope
        _check_api_rate_limit(api_rate_limit, api_rate_window, rate_limit_scope)
        self.tokens_survive_regeneration = tokens_survive_regeneration
        self.verbose = verbose
        self._lock = threading.Lock()
        self._clients: dict[str, OAuthClient] = {}
        self._secrets_issued: list[str] = []
        self._token_arrivals: list[float] = []
        self._tokens: dict[str, _Token] = {}
        self._token_order: list[str] = []
        self._mint_windows: dict[str, deque[float]] = {}
        # Accepted API requests per client, kept whatever the scope so it can switch at runtime.
        self._client_windows: dict[str, deque[float]] = {}
        self._api_rate_limited = 0
        self._latency: dict[str, float] = {"token": 0.0, "api": 0.0}
        self._fail_next: dict[str, deque[int]] = {"token": deque(), "api": deque()}
        self._rate_limit_next: dict[str, deque[int]] = {
            "token": deque(),
            "api": deque(),
        }
        self._counters: JsonDict = _new_counters()
        self._scripted: dict[str, deque[Canned]] = {"token": deque(), "api": deque()}
        # Credentials as received: memory only, never logged (they hold tokens and secrets).
        # Bounded so a long benchmark cannot grow it without end.
        self._received: deque[tuple[str | None, ...]] = deque(maxlen=RECEIVED_MAX)
        # Set by stop(): scripted answers that stall or drip end with the emulator.
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def _groups(endpoint: str | None) -> tuple[str, ...]:
        if endpoint is None:
            return ENDPOINT_GROUPS
        if endpoint not in ENDPOINT_GROUPS:
            raise ValueError(f"endpoint must be one of {ENDPOINT_GROUPS} or None, not {endpoint!r}")
        return (endpoint,)

    def _client_locked(self, client_id: str) -> OAuthClient:
        try:
            return self._clients[client_id]
        except KeyError:
            raise KeyError(f"unknown client {client_id!r}") from None
