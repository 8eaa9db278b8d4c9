"""boto3 clients for the library, created on first use so `import genesys_auth` stays cheap."""

from __future__ import annotations

from typing import Any


def make_client(service: str, *, connect_timeout: float = 2, read_timeout: float = 5, attempts: int = 3) -> Any:
    """A client with short timeouts: a Lambda invocation cannot afford botocore's 60 s defaults.

    boto3 honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` and ``AWS_REGION`` itself.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
    )
    return boto3.session.Session().client(service, config=config)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore error (``ThrottlingException``...), else the exception's
    class name (``EndpointConnectionError``...): what error texts and log lines name, never a value."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("Code"):
        return str(error["Code"])
    return type(exc).__name__
