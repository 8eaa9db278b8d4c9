"""Rotation fixtures shared by the tests and `make demo`: clients A and B, the admin client, the
app and admin secrets in moto, the token table, and the rotation handler loaded as Lambda would.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.harness.aws import MotoServer, create_credentials_secret, create_token_table
from tests.harness.genesys_emulator import GenesysEmulator, OAuthClient

ROOT = Path(__file__).resolve().parents[2]
ROTATION_DIR = ROOT / "functions" / "rotation"


def load_rotation_app() -> ModuleType:
    """functions/rotation/app.py under a unique module name, its package importable beside it."""
    if str(ROTATION_DIR) not in sys.path:
        sys.path.insert(0, str(ROTATION_DIR))
    importlib.import_module("genesys_rotation")
    name = "genesys_rotation_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROTATION_DIR / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


@dataclass
class RotationWorld:
    moto: MotoServer
    emulator: GenesysEmulator
    a: OAuthClient
    b: OAuthClient
    admin: OAuthClient
    secret_id: str
    admin_secret_id: str
    table: str

    def env(self, **overrides: str) -> dict[str, str]:
        """The rotation function's environment (as template.yaml sets it)."""
        values = {
            **self.moto.env(),
            "GENESYS_SECRET_ID": self.secret_id,
            "GENESYS_ADMIN_SECRET_ID": self.admin_secret_id,
            "GENESYS_TOKEN_TABLE": self.table,
            "GENESYS_LOGIN_URL": self.emulator.url,
            "GENESYS_API_URL": self.emulator.url,
            "GENESYS_METRICS": "false",
        }
        values.update(overrides)
        return values

    def consumer_env(self, **overrides: str) -> dict[str, str]:
        """A consumer function's environment (memory-only cache unless overridden)."""
        values = {
            **self.moto.env(),
            "GENESYS_SECRET_ID": self.secret_id,
            "GENESYS_LOGIN_URL": self.emulator.url,
            "GENESYS_API_URL": self.emulator.url,
            "GENESYS_TOKEN_EXTENSION": "off",
            "GENESYS_TOKEN_TABLE": "",  # memory-only: each process has its own token and secret cache
            "GENESYS_ADMIN_SECRET_ID": "",
        }
        values.update(overrides)
        return values

    def scheduled_event(self, *, force: bool = False) -> dict[str, Any]:
        return {"action": "rotate", "secretId": self.secret_id, "force": force}

    def step_event(self, step: str, version_id: str) -> dict[str, Any]:
        return {"Step": step, "SecretId": self.secret_id, "ClientRequestToken": version_id}

    def stages(self) -> dict[str, list[str]]:
        answer = self.moto.client("secretsmanager").describe_secret(SecretId=self.secret_id)
        return {k: sorted(v) for k, v in answer.get("VersionIdsToStages", {}).items()}

    def version_with(self, stage: str) -> str | None:
        return next((v for v, labels in self.stages().items() if stage in labels), None)

    def value(self, stage: str = "AWSCURRENT") -> dict[str, Any]:
        answer = self.moto.client("secretsmanager").get_secret_value(SecretId=self.secret_id, VersionStage=stage)
        data: dict[str, Any] = json.loads(answer["SecretString"])
        return data

    def regenerations(self) -> int:
        return int(self.emulator.counts()["regenerations"])


def make_rotation_world(
    moto: MotoServer,
    emulator: GenesysEmulator,
    *,
    lifetime: int = 86400,
    admin_permissions: tuple[str, ...] = ("oauth:client:edit",),
    admin_secret_value: Callable[[OAuthClient], str] | None = None,
) -> RotationWorld:
    a = emulator.add_client(lifetime=lifetime, name="app-client-A")
    b = emulator.add_client(lifetime=lifetime, name="app-client-B")
    admin = emulator.add_client(name="rotation-admin", permissions=list(admin_permissions))
    secret_id = create_credentials_secret(moto, a.client_id, a.secret, extra={"alternate_client_id": b.client_id})
    admin_name = f"genesys/admin-{uuid.uuid4().hex[:10]}"
    admin_text = (
        admin_secret_value(admin)
        if admin_secret_value
        else json.dumps({"client_id": admin.client_id, "client_secret": admin.secret})
    )
    moto.client("secretsmanager").create_secret(Name=admin_name, SecretString=admin_text)
    return RotationWorld(
        moto=moto,
        emulator=emulator,
        a=a,
        b=b,
        admin=admin,
        secret_id=secret_id,
        admin_secret_id=admin_name,
        table=create_token_table(moto),
    )
