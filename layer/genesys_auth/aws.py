"""AWS calls bounded by the deadline (boto3 is imported on first use, so `import genesys_auth` stays cheap).

botocore has no per-call timeout: a client's connect/read timeouts and retry count are fixed when
the client is made, and its defaults (60 s reads, several retries) outlive any Lambda invocation.
So each service keeps a few clients, one per *time budget* (:data:`BUDGETS`), all with botocore's
own retries off (``total_max_attempts=1``). A call picks the largest budget that fits in the time
it may spend (the deadline's remaining time, times the service's ``share``, capped at ``cap``),
and the library's :class:`RetryPolicy` decides whether to try again, with the jittered wait checked
against the deadline. One try costs at most its budget: the connect timeout is 40 % of it and the
read timeout the other 60 %, so even a black-holed endpoint (accepts, never answers) costs one
budget per try, never more than the deadline.

``share`` keeps an optional tier from eating the whole deadline: the shared token table gets a third
of the time left (a failed table degrades to a direct mint, which still needs the rest).

boto3 honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` and ``AWS_REGION`` itself.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from .deadline import Deadline
from .retry_policy import DEFAULT_POLICY, RetryPolicy

log = logging.getLogger(__name__)

#: Seconds one try may take (connect + read), smallest first. Below the smallest, no try is started.
BUDGETS = (0.2, 0.5, 1.0, 2.0, 4.0)
CONNECT_SHARE = 0.4

_RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "InternalServerError",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSInternalException",
    }
)

_session_lock = threading.Lock()
_sessions: dict[tuple[str, ...], Any] = {}
#: What a boto3 Session resolves once and keeps: a change of these (a test switching users, a
#: profile) gets its own Session; within one Lambda environment they never change.
_SESSION_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@functools.cache
def _deadline_reached_class() -> type[Exception]:
    from botocore.exceptions import BotoCoreError

    class DeadlineReached(BotoCoreError):  # type: ignore[misc]  # botocore is untyped
        """The deadline leaves less than the smallest budget: no AWS call was started."""

        fmt = "{service} {operation}: no time left before the deadline"

    return DeadlineReached


def deadline_reached(service: str, operation: str) -> Exception:
    """A botocore error (so every ``except BotoCoreError`` handles it) saying no try was started."""
    error: Exception = _deadline_reached_class()(service=service, operation=operation)  # type: ignore[call-arg]
    return error


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``AccessDeniedException``...), else the
    exception's class name (``EndpointConnectionError``, ``ReadTimeoutError``...). Never a value."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        if isinstance(error, dict) and error.get("Code"):
            return str(error["Code"])
    return type(exc).__name__


def retryable(exc: BaseException) -> bool:
    """Throttling, server-side errors, timeouts and connection failures are worth another try."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        if error_code(exc) in _RETRYABLE_CODES:
            return True
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return isinstance(status, int) and status >= 500
    return isinstance(exc, BotoCoreError)


def _boto3_session() -> Any:
    """One boto3 Session per process (per credentials): botocore loads its endpoint and service
    data once per Session, so every client after the first is cheap."""
    import os

    key = tuple(os.environ.get(name, "") for name in _SESSION_ENV)
    with _session_lock:
        session = _sessions.get(key)
        if session is None:
            import boto3

            session = _sessions[key] = boto3.session.Session()
        return session


class AwsService:
    """Deadline-bound calls to one AWS service (``"dynamodb"``, ``"secretsmanager"``, ``"kms"``)."""

    def __init__(
        self,
        service: str,
        *,
        cap: float = BUDGETS[-1],
        share: float = 1.0,
        policy: RetryPolicy = DEFAULT_POLICY,
        retries: bool = True,
        on_client: Callable[[Any], None] | None = None,
        client: Any = None,
    ) -> None:
        self.service = service
        self.cap = cap
        self.share = share
        self.policy = policy
        self.retries = retries
        self._on_client = on_client
        self._fixed = client  # a caller-provided client (tests, custom sessions): used as is
        self._clients: dict[float, Any] = {}
        self._lock = threading.Lock()

    def budget(self, deadline: Deadline) -> float | None:
        """The largest budget one try may use now, or None if none fits."""
        room = min(self.cap, deadline.remaining() * self.share)
        fitting = [budget for budget in BUDGETS if budget <= room]
        return fitting[-1] if fitting else None

    def client(self, budget: float = BUDGETS[-1]) -> Any:
        if self._fixed is not None:
            return self._fixed
        with self._lock:
            client = self._clients.get(budget)
            if client is None:
                from botocore.config import Config

                config = Config(
                    connect_timeout=budget * CONNECT_SHARE,
                    read_timeout=budget * (1 - CONNECT_SHARE),
                    retries={"total_max_attempts": 1},
                )
                session = _boto3_session()
                with _session_lock:  # boto3 sessions are not thread-safe while making clients
                    client = session.client(self.service, config=config)
                if self._on_client is not None:
                    self._on_client(client)
                self._clients[budget] = client
            return client

    def call(self, operation: str, deadline: Deadline, **kwargs: Any) -> Any:
        """``client.<operation>(**kwargs)`` within the deadline. Raises the last botocore error,
        or :func:`deadline_reached` (a botocore error too) when the deadline leaves no room for a try."""
        tries = 0
        if not self._clients and self._fixed is None:
            # The first call imports boto3 and builds a client: pay for that before sizing the try,
            # so the budget is cut from the time really left.
            self.client(self.budget(deadline) or BUDGETS[-1])
        while True:
            budget = self.budget(deadline)
            if budget is None:
                raise deadline_reached(self.service, operation)
            tries += 1
            try:
                return getattr(self.client(budget), operation)(**kwargs)
            except Exception as exc:
                if not (self.retries and retryable(exc) and self.policy.may_retry(tries)):
                    raise
                wait = self.policy.wait(tries - 1)
                if not deadline.sleep(wait):
                    raise
                log.info("%s %s: %s, retry %d after %.2fs", self.service, operation, error_code(exc), tries, wait)


class BoundClient:
    """A boto3-like client whose every ``client.<operation>(**kwargs)`` is :meth:`AwsService.call`
    with the deadline bound by the caller (``genesys_auth.deadline.bound``), for code written
    against plain clients (the rotation function, the lease primitive)."""

    def __init__(self, service: AwsService) -> None:
        self.service = service

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        if operation.startswith("_"):
            raise AttributeError(operation)

        def bound_call(**kwargs: Any) -> Any:
            return self.service.call(operation, Deadline.of(None), **kwargs)

        return bound_call


def make_client(service: str, **options: Any) -> BoundClient:
    """A deadline-bound client for ``service`` (see :class:`BoundClient`); ``options`` go to
    :class:`AwsService` (``cap``, ``share``, ``policy``, ``retries``)."""
    return BoundClient(AwsService(service, **options))
