"""Error answers in Genesys's two shapes: OAuth-style on the login host, ``ErrorBody`` on the API host.

The texts are the ones Genesys is recorded to send (see tests/harness/README.md).
"""

from __future__ import annotations

import http

from .model import _Response

# Texts recorded from real Genesys answers (tests/harness/README.md, "Error texts").
MSG_AUTH_FAILED = "authentication failed"
MSG_CLIENT_NOT_FOUND = "client not found"
MSG_UNAUTHORIZED_CLIENT = "client is not authorized to use the client_credential grant type"
MSG_TOKEN_RATE_LIMIT = "rate limit exceeded; retry later"
MSG_AUTH_REQUIRED = "No authentication bearer token specified in authorization header."
MSG_BAD_CREDENTIALS = "Invalid login credentials."


def _oauth_error(status: int, error: str, description: str) -> _Response:
    return _Response(
        status,
        {"error": error, "description": description, "error_description": description},
    )


def _platform_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> _Response:
    # contextId and the ININ-Correlation-Id header are filled in when the answer is sent.
    return _Response(
        status,
        {
            "message": message,
            "code": code,
            "status": status,
            "details": [],
            "errors": [],
        },
        dict(headers or {}),
    )


_SERVER_ERROR_CODES: dict[int, str] = {
    500: "internal.server.error",
    502: "bad.gateway",
    503: "service.unavailable",
    504: "gateway.timeout",
}


def _server_error(status: int) -> _Response:
    if status == 401:
        return _platform_error(401, "bad.credentials", "Invalid login credentials.")
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Server Error"
    code = _SERVER_ERROR_CODES.get(status, "server.error")
    return _platform_error(status, code, phrase)


def _too_many_requests(retry_after: int) -> _Response:
    seconds = max(1, int(retry_after))
    return _platform_error(
        429,
        "too.many.requests.retry.after",
        f"Rate limit exceeded the maximum. Retry the request in [{seconds}] seconds",
        {"Retry-After": str(seconds)},
    )


def _not_found(message: str) -> _Response:
    return _platform_error(404, "not.found", message)


def _missing_permission(permission: str) -> _Response:
    return _platform_error(
        403,
        "missing.permissions",
        f"Unable to perform the requested action. You are missing the following permission(s): [{permission}]",
    )


def _bad_request(message: str) -> _Response:
    return _platform_error(400, "bad.request", message)
