"""The app secret's versions in Secrets Manager.

Every read names ``VersionStage`` or ``VersionId`` explicitly: correct on AWS, and it sidesteps a
moto bug where an unstaged read returns a stale version. Error texts carry the AWS error code,
never a value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from genesys_auth import Credentials, SecretError, parse_secret
from genesys_auth.aws import error_code
from genesys_auth.credentials import CURRENT, PENDING

from .errors import RotationError


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


class AppSecret:
    """The app secret: describe, read a version, put AWSPENDING, move labels."""

    def __init__(self, client: Any, secret_id: str) -> None:
        self.sm = client
        self.secret_id = secret_id

    def describe(self) -> Described:
        try:
            answer = self.sm.describe_secret(SecretId=self.secret_id)
        except (ClientError, BotoCoreError) as exc:
            raise RotationError(f"cannot describe the app secret {self.secret_id}: {error_code(exc)}") from None
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
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise RotationError(f"cannot read the app secret ({stage}): {error_code(exc)}") from None
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

    def put_pending(self, version_id: str, data: dict[str, Any]) -> None:
        try:
            self.sm.put_secret_value(
                SecretId=self.secret_id,
                ClientRequestToken=version_id,  # Secrets Manager's name for the new version's id
                SecretString=json.dumps(data),
                VersionStages=[PENDING],
            )
        except (ClientError, BotoCoreError) as exc:
            raise RotationError(f"cannot store the AWSPENDING version {version_id}: {error_code(exc)}") from None

    def move_stage(self, stage: str, *, to: str | None, remove_from: str | None) -> None:
        kwargs: dict[str, str] = {"SecretId": self.secret_id, "VersionStage": stage}
        if to is not None:
            kwargs["MoveToVersionId"] = to
        if remove_from is not None:
            kwargs["RemoveFromVersionId"] = remove_from
        try:
            self.sm.update_secret_version_stage(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise RotationError(f"cannot move {stage} (to {to}, from {remove_from}): {error_code(exc)}") from None
