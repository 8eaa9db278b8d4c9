"""The client-credentials exchange with the Genesys Cloud login host.

``POST {login}/oauth/token`` with HTTP Basic ``client_id:client_secret`` and the form body
``grant_type=client_credentials``; the answer's ``access_token`` is opaque and never decoded.

This module keeps its own retry loop rather than urllib3's ``Retry``: the token endpoint signals
its rate limit with HTTP 400 ``invalid_request`` and a description starting "rate limit exceeded",
and only the body tells that 400 apart from a real bad request. urllib3 decides on status alone.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import requests

from .credentials import Credentials
from .deadline import Deadline
from .errors import AuthenticationError, ConfigurationError, GenesysAuthError, RateLimitedError, UnavailableError
from .retry_policy import DEFAULT_POLICY, RetryPolicy, parse_retry_after
from .tokens import MAX_LIFETIME, Token, TokenFormatError, check_access_token

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
#: A token answer is ~200 bytes; anything far larger is not one (and is not parsed).
MAX_ANSWER_BYTES = 64 * 1024
_AUTH_ERRORS = frozenset({"invalid_client", "unauthorized_client", "invalid_grant", "unsupported_grant_type"})


@dataclass(frozen=True)
class Attempt:
    """One classified failure of the token endpoint."""

    error: GenesysAuthError
    retryable: bool
    retry_after: float | None = None


def request_token(
    session: requests.Session,
    token_url: str,
    creds: Credentials,
    deadline: Deadline,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> Token:
    """Mint a token, retrying rate limits, 5xx and network errors as ``policy`` allows, never
    past the deadline."""
    attempt = 0
    while True:
        sent_at = time.time()
        outcome = _exchange(session, token_url, creds, deadline)
        if isinstance(outcome, Token):
            return outcome
        attempt += 1
        if not outcome.retryable:
            raise outcome.error
        if not policy.may_retry(attempt):
            log.warning("token endpoint: giving up after %d attempt(s) (%s)", attempt, outcome.error.kind)
            raise outcome.error
        if outcome.retry_after is not None and outcome.retry_after > policy.retry_after_max:
            raise outcome.error
        wait = policy.wait(attempt - 1, outcome.retry_after)
        if not deadline.sleep(wait):
            log.warning(
                "token endpoint: giving up after %d attempt(s), next wait %.2fs passes the deadline (%s)",
                attempt,
                wait,
                outcome.error.kind,
            )
            raise outcome.error
        log.info(
            "token endpoint: %s, retry %d after %.2fs (%.0f ms since send)",
            outcome.error.kind,
            attempt,
            wait,
            (time.time() - sent_at) * 1000,
        )


def _exchange(session: requests.Session, token_url: str, creds: Credentials, deadline: Deadline) -> Token | Attempt:
    sent_at = time.time()
    try:
        response = session.post(
            token_url,
            auth=(creds.client_id, creds.client_secret),
            data={"grant_type": "client_credentials"},
            headers={"Accept": "application/json"},
            timeout=(deadline.timeout(CONNECT_TIMEOUT), deadline.timeout(READ_TIMEOUT)),
            allow_redirects=False,
        )
    except requests.Timeout:
        return Attempt(UnavailableError("token endpoint timed out"), retryable=True)
    except requests.ConnectionError as exc:
        return Attempt(
            UnavailableError(
                f"token endpoint unreachable ({type(exc).__name__}); check the region or GENESYS_LOGIN_URL"
            ),
            retryable=True,
        )
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema):
        return Attempt(
            ConfigurationError("the token endpoint URL is not valid; check GENESYS_LOGIN_URL or the region"),
            retryable=False,
        )
    except requests.RequestException as exc:
        # A reset mid-body, a bad gzip body...: the answer was unusable, the next one may not be.
        return Attempt(UnavailableError(f"token endpoint answer unreadable ({type(exc).__name__})"), retryable=True)
    with response:
        return _classify(response, sent_at)


def _classify(response: requests.Response, sent_at: float) -> Token | Attempt:
    status = response.status_code
    body = _json(response)
    if status == 200:
        return _parse_token(body, sent_at)
    error = str(body.get("error", "")) if body else ""
    description = str(body.get("error_description") or body.get("description") or "") if body else ""
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 400 and error == "invalid_request" and description.lower().startswith("rate limit exceeded"):
        return Attempt(
            RateLimitedError("token endpoint rate limit exceeded for this OAuth client", retry_after=retry_after),
            retryable=True,
            retry_after=retry_after,
        )
    if status == 429:
        return Attempt(
            RateLimitedError("token endpoint answered 429 Too Many Requests", retry_after=retry_after),
            retryable=True,
            retry_after=retry_after,
        )
    if status >= 500:
        return Attempt(
            UnavailableError(f"token endpoint answered HTTP {status}"), retryable=True, retry_after=retry_after
        )
    if error in _AUTH_ERRORS or status in (401, 403):
        hint = {
            "invalid_client": "the client id or secret is wrong for this region (check the secret's "
            "client_id/client_secret and the region: a client exists in one region only)",
            "unauthorized_client": "enable the Client Credentials grant on this OAuth client",
        }.get(error, "check the OAuth client's grant type and state")
        detail = f" ({description})" if description else ""
        return Attempt(
            AuthenticationError(
                f"token endpoint refused the credentials: {error or status}{detail}; {hint}", error=error or None
            ),
            retryable=False,
        )
    return Attempt(
        AuthenticationError(f"token endpoint refused the request: HTTP {status} {error}".rstrip(), error=error or None),
        retryable=False,
    )


def _parse_token(body: dict[str, object] | None, sent_at: float) -> Token | Attempt:
    """A 200 answer's token. ``expires_in`` must be a finite number above 0; above the longest
    lifetime Genesys issues (450 days) it is treated as 450 days, so a garbage value can never
    keep a token cached for millennia."""
    try:
        access_token = check_access_token(body.get("access_token") if body else None)
    except TokenFormatError as exc:
        return Attempt(UnavailableError(f"token endpoint answered 200 with an unusable token ({exc})"), retryable=True)
    expires_in = body.get("expires_in") if body else None
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or not expires_in > 0:
        # "not > 0" is also true for NaN
        return Attempt(UnavailableError("token endpoint answered 200 without a valid expires_in"), retryable=True)
    if isinstance(expires_in, float) and not math.isfinite(expires_in):
        return Attempt(UnavailableError("token endpoint answered 200 without a valid expires_in"), retryable=True)
    # Compared before float(): an int of 400 digits does not fit a float.
    lifetime = MAX_LIFETIME if expires_in > MAX_LIFETIME else float(expires_in)
    token_type = body.get("token_type") if body else None
    return Token(
        access_token=access_token,
        token_type=token_type if isinstance(token_type, str) and 0 < len(token_type) <= 32 else "bearer",
        expires_at=sent_at + lifetime,
        lifetime=lifetime,
    )


def _json(response: requests.Response) -> dict[str, object] | None:
    if len(response.content) > MAX_ANSWER_BYTES:
        return None
    try:
        data = response.json()
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
