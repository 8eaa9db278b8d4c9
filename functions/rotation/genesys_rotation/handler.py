"""The Lambda entry point: Secrets Manager's step events, and our EventBridge Scheduler event.

* ``{"Step": "createSecret"|..., "SecretId": ..., "ClientRequestToken": ...}``: one step, as
  Secrets Manager sends it when this function is the secret's native rotation function.
* ``{"action": "rotate", "secretId": ..., "force": false}`` (``secretId`` defaults to
  ``GENESYS_SECRET_ID``): take the rotation lease, then resume the AWSPENDING version of an
  interrupted rotation, or start a new one (if the guard allows, or ``force``), and run all four
  steps. Another delivery while the lease is held returns ``skipped``; a rotation the guard
  refuses returns ``refused``. Neither is an error, so duplicates do not raise alarms.

Failures raise :class:`RotationError` (AWSCURRENT is unchanged), are logged and counted as the
EMF metric ``RotationFailed``; Lambda's ``Errors`` metric and the dead-letter queue alarm on them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from typing import Any

from genesys_auth import Deadline, GenesysAuthError
from genesys_auth.credentials import secret_name
from genesys_auth.deadline import bound
from genesys_auth.metrics import Metrics

from .config import RotationConfig
from .errors import PendingRejected, RotationError, RotationRefused
from .genesys import Genesys
from .lease import LeaseRecord, RotationLease, record_lifetime
from .steps import STEPS, Rotator
from .versions import AppSecret

log = logging.getLogger("genesys_rotation")
log.setLevel(logging.INFO)

#: Without a Lambda context (tests, scripts), each invocation may take this long.
DEFAULT_BUDGET_SECONDS = 120.0
#: The lease outlives the invocation by this much, so nobody takes over a live holder.
LEASE_SLACK_SECONDS = 15.0


_cache_lock = threading.Lock()
_aws_clients: dict[tuple[str, str, str], Any] = {}


def _clients() -> tuple[Any, Any]:
    """Secrets Manager and DynamoDB clients, made once per container (as Lambda code should)."""
    from genesys_auth.aws import make_client

    where = (os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_REGION", ""))
    with _cache_lock:
        for service in ("secretsmanager", "dynamodb"):
            if (service, *where) not in _aws_clients:
                _aws_clients[(service, *where)] = make_client(service)
        return _aws_clients[("secretsmanager", *where)], _aws_clients[("dynamodb", *where)]


def _budget(context: Any) -> float:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter() / 1000.0 if callable(getter) else DEFAULT_BUDGET_SECONDS


def _metrics(config: RotationConfig | None) -> Metrics:
    enabled = config.metrics if config else True
    namespace = config.metrics_namespace if config else "GenesysAuth"
    return Metrics(enabled=enabled, namespace=namespace, service="genesys-rotation")


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise RotationError("the event must be a JSON object")
    # Every AWS and Genesys call of this invocation reads this deadline (genesys_auth.aws.BoundClient).
    with bound(Deadline.after(max(0.0, _budget(context) - 1.0))):
        return _handle(event, context)


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config: RotationConfig | None = None
    try:
        config = RotationConfig.from_env()
        if "Step" in event:
            return _step(event, context, config)
        if event.get("action") == "rotate":
            return _scheduled(event, context, config)
        raise RotationError(
            'unsupported event: expected a Secrets Manager step event {"Step", "SecretId", "ClientRequestToken"} '
            'or a scheduled event {"action": "rotate", "secretId": ..., "force": false}'
        )
    except RotationRefused:
        _metrics(config).count("RotationRefused")
        raise
    except (RotationError, GenesysAuthError) as exc:
        log.error("rotation failed (%s): %s; AWSCURRENT is unchanged", getattr(exc, "kind", "error"), exc)
        _metrics(config).count("RotationFailed")
        if isinstance(exc, RotationError):
            raise
        raise RotationError(str(exc)) from None


# -- Secrets Manager's four steps -------------------------------------------------------------------


def _step(event: dict[str, Any], context: Any, config: RotationConfig) -> dict[str, Any]:
    step, secret_id, version_id = event.get("Step"), event.get("SecretId"), event.get("ClientRequestToken")
    if step not in STEPS:
        raise RotationError(f"unknown Step {step!r}; expected one of {', '.join(STEPS)}")
    if not isinstance(secret_id, str) or not secret_id or not isinstance(version_id, str) or not version_id:
        raise RotationError(f"{step}: the event needs SecretId and ClientRequestToken")
    sm, ddb = _clients()
    secret = AppSecret(sm, secret_id)
    described = secret.describe()
    owned = config.app_secret_id is not None and (
        config.app_secret_id == described.arn or secret_name(config.app_secret_id) == described.name
    )
    if not described.rotation_enabled and not owned:
        # AWS's template refuses when rotation is disabled; this function also rotates the secret
        # named by GENESYS_SECRET_ID on its own schedule, with native rotation off, so that one is allowed.
        raise RotationError(f"{step}: rotation is not enabled on secret {described.name}")
    rotator = _rotator(secret, described.name, context, config, ddb)
    result = rotator.run_step(step, version_id)
    log.info("%s done for version %s of %s", step, version_id, described.name)
    outcome = result if isinstance(result, str) else ("tested" if result is not None else "current")
    return {"step": step, "version": version_id, "result": outcome}


def _rotator(
    secret: AppSecret, name: str, context: Any, config: RotationConfig, ddb: Any, *, lease: RotationLease | None = None
) -> Rotator:
    deadline = Deadline.of(None)  # the invocation's, bound by handler()
    genesys = Genesys(config.admin, deadline)
    table = config.table

    def lease_record() -> LeaseRecord | None:
        if lease is not None:
            return lease.read()
        if table is None:
            return None
        return RotationLease(ddb, table, name, owner="reader").read()

    def on_lifetime(lifetime: float) -> None:
        if table is not None:
            record_lifetime(ddb, table, name, lifetime)

    def fence(version_id: str) -> None:
        if lease is not None:
            lease.fence(_budget(context) + LEASE_SLACK_SECONDS, rotating=version_id)

    return Rotator(
        secret, genesys, config.guard, lease_record=lease_record, before_regenerate=fence, on_lifetime=on_lifetime
    )


# -- EventBridge Scheduler ---------------------------------------------------------------------------


def _scheduled(event: dict[str, Any], context: Any, config: RotationConfig) -> dict[str, Any]:
    secret_id = event.get("secretId") or config.app_secret_id
    if not isinstance(secret_id, str) or not secret_id:
        raise RotationError("the scheduled event names no secretId and GENESYS_SECRET_ID is not set")
    force = event.get("force", False) is True
    if config.table is None:
        raise RotationError("GENESYS_TOKEN_TABLE is not set: scheduled rotation needs it for its lease item")
    metrics = _metrics(config)
    sm, ddb = _clients()
    secret = AppSecret(sm, secret_id)
    described = secret.describe()
    lease = RotationLease(ddb, config.table, described.name, owner=str(uuid.uuid4()))
    if lease.acquire(_budget(context) + LEASE_SLACK_SECONDS) is None:
        holder = lease.read()
        log.info("another invocation holds the rotation lease of %s; this delivery does nothing", described.name)
        metrics.count("RotationSkipped")
        return {"status": "skipped", "secret": described.name, "lease_until": holder.lease_until}
    version_id: str | None = None
    try:
        rotator = _rotator(secret, described.name, context, config, ddb, lease=lease)
        described = secret.describe()  # re-read under the lease
        version_id = described.interrupted()
        resumed = version_id is not None
        if version_id is None:
            decision = rotator.decide(described)
            if not decision.allowed and not force:
                log.warning("rotation of %s refused: %s", described.name, decision.reason)
                metrics.count("RotationRefused")
                return {
                    "status": "refused",
                    "secret": described.name,
                    "reason": decision.reason,
                    "next_allowed_at": decision.next_allowed_at,
                }
            version_id = str(uuid.uuid4())
        else:
            log.info("resuming the interrupted rotation of %s (version %s)", described.name, version_id)
        started = time.monotonic()
        rotator.create(version_id, force=True)  # the guard was decided above, under the lease
        rotator.set(version_id)
        try:
            identity = rotator.test(version_id)
        except PendingRejected:
            rotator.abandon(version_id)
            raise
        rotator.finish(version_id)
        new_client = identity.client_id if identity else None
        lease.record_rotation(version_id=version_id, client_id=new_client or "")
        metrics.count("RotationSucceeded")
        log.info(
            "rotated %s to client %s (version %s, %s, %.2f s)",
            described.name,
            new_client,
            version_id,
            "resumed" if resumed else "new",
            time.monotonic() - started,
        )
        return {
            "status": "resumed" if resumed else "rotated",
            "secret": described.name,
            "version": version_id,
            "client_id": new_client,
        }
    finally:
        lease.release()
