"""Rate limits and injected faults: the per-token (or per-client) API window, latency, failures, scripts."""

from __future__ import annotations

import math
from collections import deque

from .answers import _too_many_requests
from .model import ENDPOINT_GROUPS, Canned, OAuthClient, _check_api_rate_limit, _Response, _Token
from .state import _EmulatorState


class _LimitsMixin(_EmulatorState):
    def set_latency(self, seconds: float, endpoint: str | None = None) -> None:
        """Delay every answer of the group ("token", "api", or None = both)."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            for group in self._groups(endpoint):
                self._latency[group] = float(seconds)

    def fail_next(self, n: int, status: int = 503, endpoint: str = "token") -> None:
        """The next ``n`` answers of the group are ``status`` (5xx) platform errors.

        ``status=401`` on "api" answers ``bad.credentials`` whatever the token: a token that
        Genesys keeps rejecting although it was just minted (the "permanent 401" case).
        """
        if not (500 <= status <= 599 or (status == 401 and endpoint == "api")):
            raise ValueError("status must be a 5xx code (or 401 for the api group)")
        (group,) = self._groups(endpoint)
        with self._lock:
            self._fail_next[group].extend([status] * n)

    def rate_limit_next(self, n: int, endpoint: str = "token", retry_after: int = 1) -> None:
        """The next ``n`` answers of the group are rate-limit answers.

        token: HTTP 400 ``invalid_request`` "rate limit exceeded; ..." (``retry_after``
        is only used if ``token_rate_limit_retry_after`` is set, which then wins);
        api: HTTP 429 normalized body with ``Retry-After: retry_after``.
        """
        (group,) = self._groups(endpoint)
        with self._lock:
            self._rate_limit_next[group].extend([int(retry_after)] * n)

    def set_api_rate_limit(self, limit: int, *, window: float | None = None, scope: str | None = None) -> None:
        """Change the Platform API limit: ``limit`` requests per ``window`` seconds per ``scope``.

        ``window`` and ``scope`` keep their current values when omitted.  Requests already
        accepted stay in their windows, so a lower limit applies at once.
        """
        new_window = self.api_rate_window if window is None else float(window)
        new_scope = self.rate_limit_scope if scope is None else scope
        _check_api_rate_limit(limit, new_window, new_scope)
        with self._lock:
            self.api_rate_limit = int(limit)
            self.api_rate_window = new_window
            self.rate_limit_scope = new_scope

    def api_rate_limited(self) -> int:
        """How many 429s the per-token (or per-client) limit answered over the emulator's life.

        Injected ``rate_limit_next`` answers and canned answers are not included.
        """
        with self._lock:
            return self._api_rate_limited

    def script_next(self, endpoint: str, *answers: Canned) -> None:
        """Queue scripted answers for the next requests of the group, one answer per request.

        ``endpoint`` is "token" (POST /oauth/token) or "api" (everything else but the control
        plane).  A scripted answer replaces all normal processing (authentication, latency,
        rate limits, injected faults) and is counted like any request of its group: requests,
        path, and the status it sends (a stall sends none).
        """
        (group,) = self._groups(endpoint)
        for answer in answers:
            if not isinstance(answer, Canned):
                raise TypeError(f"script_next takes Canned answers, not {type(answer).__name__}")
        with self._lock:
            self._scripted[group].extend(answers)

    def reset_faults(self) -> None:
        """Clear latency, pending fail/rate-limit injections and scripted answers (extra helper)."""
        with self._lock:
            for group in ENDPOINT_GROUPS:
                self._scripted[group].clear()
                self._latency[group] = 0.0
                self._fail_next[group].clear()
                self._rate_limit_next[group].clear()

    def _admit_api_request_locked(
        self, token: _Token, record: OAuthClient, now: float
    ) -> tuple[_Response | None, dict[str, str]]:
        """Count one API request against the window of the scope in force.

        Returns the 429 answer if the window is full (the request is not counted), else
        None, and in both cases the ``inin-ratelimit-*`` headers to send.
        """
        span = self.api_rate_window
        client_window = self._client_windows.setdefault(record.client_id, deque())
        for each in (token.requests, client_window):
            while each and each[0] <= now - span:
                each.popleft()
        window = token.requests if self.rate_limit_scope == "token" else client_window
        # Seconds until the oldest accepted request leaves the window and frees one slot.
        reset = max(1, math.ceil(window[0] + span - now)) if window else max(1, math.ceil(span))
        if len(window) >= self.api_rate_limit:
            self._api_rate_limited += 1
            response = _too_many_requests(reset)
            response.headers.update(_rate_headers(len(window), self.api_rate_limit, reset))
            return response, {}
        token.requests.append(now)
        token.accepted += 1
        client_window.append(now)
        return None, _rate_headers(len(window), self.api_rate_limit, reset)


def _rate_headers(count: int, allowed: int, reset: int) -> dict[str, str]:
    return {
        "inin-ratelimit-count": str(count),
        "inin-ratelimit-allowed": str(allowed),
        "inin-ratelimit-reset": str(reset),
    }
