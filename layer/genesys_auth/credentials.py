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
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .aws import make_client
from .errors import SecretError, UnavailableError

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
    except ValueError:
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
    for name in _OPTIONAL:
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SecretError(f"{where} field {name!r} must be a non-empty string when present")
    return Credentials(
        client_id=data["client_id"].strip(),
        client_secret=data["client_secret"].strip(),
        region=(data.get("region") or None),
        alternate_client_id=(data.get("alternate_client_id") or None),
    )


def secret_name(secret_id: str) -> str:
    """The secret's name, whether given as a name or an ARN (``...:secret:NAME-AbCdEf``)."""
    if secret_id.startswith("arn:") and ":secret:" in secret_id:
        name = secret_id.split(":secret:", 1)[1]
        # Secrets Manager appends "-" and six random characters to every secret ARN.
        return name[:-7] if len(name) > 7 and name[-7] == "-" else name
    return secret_id


def classify_aws_error(exc: BaseException, *, action: str) -> Exception:
    """Map a botocore exception to our kinds: missing/denied -> SecretError, the rest -> unavailable."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        if code in ("ResourceNotFoundException",):
            return SecretError(f"{action}: the secret does not exist ({code}); check GENESYS_SECRET_ID")
        if code in ("AccessDeniedException", "AccessDenied", "DecryptionFailure", "InvalidRequestException"):
            return SecretError(
                f"{action}: {code}; grant secretsmanager:GetSecretValue (and kms:Decrypt for a "
                "customer key) on this secret to the function role"
            )
        if code in ("ThrottlingException", "InternalServiceError", "ServiceUnavailable"):
            return UnavailableError(f"{action}: Secrets Manager answered {code}")
        return SecretError(f"{action}: Secrets Manager refused the request ({code})")
    return UnavailableError(f"{action}: Secrets Manager unreachable ({type(exc).__name__})")


class SecretsManagerCredentials:
    """Reads the credentials secret, caching the current version in memory.

    The AWSCURRENT read goes through Powertools' ``SecretsProvider`` (its max-age cache); reads of
    other stages bypass that cache on purpose, because Powertools keys its cache by name only and a
    staged read would overwrite the current value.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        max_age: float = DEFAULT_SECRET_MAX_AGE,
        client: SecretsManagerClient | None = None,
    ) -> None:
        self.secret_id = secret_id
        self.max_age = max_age
        self._client = client
        self._provider: Any = None
        self._lock = threading.Lock()
        #: GetSecretValue calls actually sent (counted by a botocore hook, so cache hits are not).
        self.reads = 0

    def _count_read(self, **_: Any) -> None:
        self.reads += 1

    def _sm(self) -> SecretsManagerClient:
        with self._lock:
            if self._client is None:
                self._client = make_client("secretsmanager")
                self._client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._count_read)
            return self._client

    def _powertools(self) -> Any:
        client = self._sm()
        with self._lock:
            if self._provider is None:
                from aws_lambda_powertools.utilities.parameters import SecretsProvider

                self._provider = SecretsProvider(boto3_client=client)
            return self._provider

    def current(self, *, force: bool = False) -> Credentials:
        """The AWSCURRENT credentials; ``force`` bypasses the cache (after ``invalid_client``)."""
        provider = self._powertools()
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            text = provider.get(
                self.secret_id,
                max_age=int(self.max_age),
                force_fetch=force,
                VersionStage=CURRENT,
            )
        except GetParameterError as exc:
            # Powertools re-raises without "from": the botocore error is the implicit context.
            original = exc.__cause__ or exc.__context__ or exc
            raise classify_aws_error(original, action="reading the credentials secret") from None
        creds = parse_secret(text if isinstance(text, str) else None, where="the credentials secret")
        return _with_stage(creds, CURRENT)

    def staged(self, stage: str) -> Credentials | None:
        """The credentials under another staging label, or None when no version carries it."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._sm().get_secret_value(SecretId=self.secret_id, VersionStage=stage)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise classify_aws_error(exc, action=f"reading the credentials secret ({stage})") from None
        except BotoCoreError as exc:
            raise classify_aws_error(exc, action=f"reading the credentials secret ({stage})") from None
        creds = parse_secret(answer.get("SecretString"), where=f"the credentials secret ({stage})")
        return _with_stage(creds, stage, answer.get("VersionId"))


def _with_stage(creds: Credentials, stage: str, version_id: str | None = None) -> Credentials:
    return replace(creds, version_id=version_id, stage=stage)
