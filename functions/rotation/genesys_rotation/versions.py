"""The app secret's versions in Secrets Manager.

Every read names ``VersionStage`` or ``VersionId`` explicitly: correct on AWS, and it sidesteps a
moto bug where an unstaged read returns a stale version. Error texts carry the AWS error code,
never a value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from genesys_auth import Credentials, SecretError, parse_secret

from .errors import RotationError

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
PREVIOUS = "AWSPREVIOUS"


@dataclass(frozen=True)
class SecretVersion:
    version_id: str
    data: dict[str, Any] = field(repr=False)
    creds: Credentials
    created: float | None


@dataclass(frozen=True)
class Described:
    arn: str
    name: str
    rotation_enabled: bool
    stages: dict[str, list[str]]

    def version_with(self, stage: str) -> str | None:
        for version, labels in self.stages.items():
            if stage in labels:
                return version
        return None

    def labels(self, version_id: str) -> list[str]:
        return self.stages.get(version_id, [])

    def interrupted(self) -> str | None:
        """The version of an unfinished rotation: AWSPENDING on a version that is not AWSCURRENT."""
        pending = self.version_with(PENDING)
        if pending is not None and CURRENT not in self.labels(pending):
            return pending
        return None


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


class AppSecret:
    """The app secret: describe, read a version, put AWSPENDING, move labels."""

    def __init__(self, client: Any, secret_id: str) -> None:
        self.sm = client
        self.secret_id = secret_id

    def describe(self) -> Described:
        try:
            answer = self.sm.describe_secret(SecretId=self.secret_id)
        except Exception as exc:
            raise RotationError(f"cannot describe the app secret {self.secret_id}: {_code(exc)}") from None
        return Described(
            arn=str(answer.get("ARN", self.secret_id)),
            name=str(answer.get("Name", self.secret_id)),
            rotation_enabled=bool(answer.get("RotationEnabled", False)),
            stages={str(k): list(v) for k, v in (answer.get("VersionIdsToStages") or {}).items()},
        )

    def read(self, *, stage: str, version_id: str | None = None) -> SecretVersion | None:
        """The version under ``stage`` (and ``version_id`` if given), or None if there is none."""
        kwargs: dict[str, str] = {"SecretId": self.secret_id, "VersionStage": stage}
        if version_id is not None:
            kwargs["VersionId"] = version_id
        try:
            answer = self.sm.get_secret_value(**kwargs)
        except Exception as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise RotationError(f"cannot read the app secret ({stage}): {_code(exc)}") from None
        text = answer.get("SecretString")
        where = f"the app secret ({stage})"
        try:
            creds = parse_secret(text, where=where)
        except SecretError as exc:
            raise RotationError(str(exc)) from None
        created = answer.get("CreatedDate")
        return SecretVersion(
            version_id=str(answer["VersionId"]),
            data=json.loads(text),
            creds=creds,
            created=created.timestamp() if hasattr(created, "timestamp") else None,
        )

    def put_pending(self, token: str, data: dict[str, Any]) -> None:
        try:
            self.sm.put_secret_value(
                SecretId=self.secret_id,
                ClientRequestToken=token,
                SecretString=json.dumps(data),
                VersionStages=[PENDING],
            )
        except Exception as exc:
            raise RotationError(f"cannot store the AWSPENDING version {token}: {_code(exc)}") from None

    def move_stage(self, stage: str, *, to: str | None, remove_from: str | None) -> None:
        kwargs: dict[str, str] = {"SecretId": self.secret_id, "VersionStage": stage}
        if to is not None:
            kwargs["MoveToVersionId"] = to
        if remove_from is not None:
            kwargs["RemoveFromVersionId"] = remove_from
        try:
            self.sm.update_secret_version_stage(**kwargs)
        except Exception as exc:
            raise RotationError(f"cannot move {stage} (to {to}, from {remove_from}): {_code(exc)}") from None
