"""OAuth client credentials: the secret's JSON format and how it is read from Secrets Manager.

Secret value (JSON)::

    {"client_id": "...", "client_secret": "...", "region": "mypurecloud.ie",
     "alternate_client_id": "..."}

``region`` is optional (``GENESYS_REGION`` is used when absent); ``alternate_client_id`` names the
standby client of the rotation. Reads always name a ``VersionStage`` explicitly: that is correct on
AWS and sidesteps a moto bug where an unstaged read returns a stale version.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .aws import retryable
from .deadline import Deadline
from .errors import SecretError, UnavailableError
from .retry_policy import DEFAULT_POLICY, RetryPolicy

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

log = logging.getLogger(__name__)

CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"
PENDING = "AWSPENDING"

#: How long a secret value is reused before it is read again (Powertools' own default).
DEFAULT_SECRET_MAX_AGE = 300.0

_REQUIRED = ("client_id", "client_secret")
_OPTIONAL = ("region", "alternate_client_id")


@dataclass(frozen=True)
class Credentials:
    """One OAuth client's id and secret; the secret never appears in repr or str."""

    client_id: str
    client_secret: str = field(repr=False)
    region: str | None = None
    alternate_client_id: str | None = None
    version_id: str | None = None
    stage: str | None = None


def parse_secret(text: str | None, *, where: str) -> Credentials:
    """Parse a secret value. Errors name ``where`` and the field, never a value."""
    if not text:
        raise SecretError(f"{where} has no SecretString; store the credentials as JSON text")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        # json's own message can quote the text, which is the secret: say where, not what.
        raise SecretError(
            f"{where} is not valid JSON; expected an object with the keys "
            "client_id, client_secret and optionally region"
        ) from None
    if not isinstance(data, dict):
        raise SecretError(f"{where} must be a JSON object with client_id and client_secret")
    for name in _REQUIRED:
        value = data.get(name)
        if value is None:
            raise SecretError(f"{where} is missing the field {name!r}")
        if not isinstance(value, str) or not value.strip():
            raise SecretError(f"{where} field {name!r} must be a non-empty string")
        _check_visible_ascii(value.strip(), name, where)
    for name in _OPTIONAL:
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SecretError(f"{where} field {name!r} must be a non-empty string when present")
        if name == "alternate_client_id" and isinstance(value, str):
            _check_visible_ascii(value.strip(), name, where)
    return Credentials(
        client_id=data["client_id"].strip(),
        client_secret=data["client_secret"].strip(),
        region=(data["region"].strip() if data.get("region") else None),
        alternate_client_id=(data["alternate_client_id"].strip() if data.get("alternate_client_id") else None),
    )


def _check_visible_ascii(value: str, name: str, where: str) -> None:
    """Client ids and secrets are printable ASCII; anything else (a pasted smart quote, a euro
    sign, a line break) would fail in the Basic auth header with the value in the error text."""
    for position, char in enumerate(value, start=1):
        if not "!" <= char <= "~":
            raise SecretError(
                f"{where} field {name!r} has a character that is not printable ASCII at position "
                f"{position} (a pasted smart quote, space or line break?); re-copy the value from Genesys Cloud"
            )


def secret_name(secret_id: str) -> str:
    """The secret's name, whether given as a name or an ARN (``...:secret:NAME-AbCdEf``)."""
    if secret_id.startswith("arn:") and ":secret:" in secret_id:
        name = secret_id.split(":secret:", 1)[1]
        # Secrets Manager appends "-" and six random characters to every secret ARN.
        return name[:-7] if len(name) > 7 and name[-7] == "-" else name
    return secret_id


def classify_aws_error(exc: BaseException, *, action: str) -> Exception:
    """Map a failed Secrets Manager call to our kinds: missing/denied -> SecretError, the rest -> unavailable."""
    from botocore.exceptions import ClientError

    from .aws import error_code

    code = error_code(exc)
    if code == "DeadlineReached":
        return UnavailableError(f"{action}: no time left before the deadline")
    if isinstance(exc, ClientError):
        if code == "ResourceNotFoundException":
            return SecretError(f"{action}: the secret does not exist ({code}); check GENESYS_SECRET_ID")
        if code in ("AccessDeniedException", "AccessDenied", "DecryptionFailure", "InvalidRequestException"):
            return SecretError(
                f"{action}: {code}; grant secretsmanager:GetSecretValue (and kms:Decrypt for a "
                "customer key) on this secret to the function role"
            )
        if retryable(exc):
            return UnavailableError(f"{action}: Secrets Manager answered {code}")
        return SecretError(f"{action}: Secrets Manager refused the request ({code})")
    return UnavailableError(f"{action}: Secrets Manager did not answer ({code})")


class SecretsManagerCredentials:
    """Reads the credentials secret, caching the AWSCURRENT value in memory for ``max_age`` seconds.

    Every read is one ``GetSecretValue`` with an explicit ``VersionStage``, bounded by the caller's
    deadline (:mod:`genesys_auth.aws`). Powertools' ``SecretsProvider`` was used here before; it binds
    one boto3 client with fixed timeouts, which cannot honour a per-call deadline, and its cache is
    this module's ten lines, so the library reads the secret itself.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        max_age: float = DEFAULT_SECRET_MAX_AGE,
        client: SecretsManagerClient | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        from .aws import AwsService

        self.secret_id = secret_id
        self.max_age = max_age
        self._aws = AwsService("secretsmanager", policy=policy, on_client=self._watch, client=client)
        if client is not None:
            self._watch(client)
        self._lock = threading.Lock()
        self._cached: tuple[float, Credentials] | None = None
        #: GetSecretValue calls actually sent (counted by a botocore hook, so cache hits are not).
        self.reads = 0

    def _watch(self, client: Any) -> None:
        client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._count_read)

    def _count_read(self, **_: Any) -> None:
        with self._lock:
            self.reads += 1

    def current(self, deadline: Deadline | None = None, *, force: bool = False) -> Credentials:
        """The AWSCURRENT credentials; ``force`` bypasses the cache (after ``invalid_client``)."""
        with self._lock:
            cached = self._cached
        if cached is not None and not force and time.monotonic() - cached[0] < self.max_age:
            return cached[1]
        creds = self._read(CURRENT, Deadline.of(deadline))
        if creds is None:
            raise SecretError(
                "the credentials secret has no AWSCURRENT version; put a value with aws secretsmanager put-secret-value"
            )
        with self._lock:
            self._cached = (time.monotonic(), creds)
        return creds

    def staged(self, stage: str, deadline: Deadline | None = None) -> Credentials | None:
        """The credentials under another staging label, or None when no version carries it."""
        return self._read(stage, Deadline.of(deadline))

    def _read(self, stage: str, deadline: Deadline) -> Credentials | None:
        from botocore.exceptions import BotoCoreError, ClientError

        where = "the credentials secret" if stage == CURRENT else f"the credentials secret ({stage})"
        try:
            answer = self._aws.call("get_secret_value", deadline, SecretId=self.secret_id, VersionStage=stage)
        except ClientError as exc:
            if stage != CURRENT and exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise classify_aws_error(exc, action=f"reading {where}") from None
        except BotoCoreError as exc:
            raise classify_aws_error(exc, action=f"reading {where}") from None
        text = answer.get("SecretString")
        creds = parse_secret(text if isinstance(text, str) else None, where=where)
        return _with_stage(creds, stage, answer.get("VersionId"))


def _with_stage(creds: Credentials, stage: str, version_id: str | None = None) -> Credentials:
    return replace(creds, version_id=version_id, stage=stage)
