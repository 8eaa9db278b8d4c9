"""Emulated AWS on loopback: moto in server mode, reached by boto3 through AWS_ENDPOINT_URL.

Shared by the tests, `make demo` and `make bench`. Nothing here mocks boto3: every call crosses
HTTP to a real moto server process thread, so DynamoDB conditions and Secrets Manager staging are
decided by moto, not by us.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing-session",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class MotoServer:
    """A ThreadedMotoServer on 127.0.0.1 and a random port."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> MotoServer:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call otherwise
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def env(self) -> dict[str, str]:
        """Environment that points boto3 (in this or a child process) at this server."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.url}

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session().client(
            service,
            endpoint_url=self.url,
            region_name=FAKE_CREDENTIALS["AWS_REGION"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def create_credentials_secret(
    moto: MotoServer,
    client_id: str,
    client_secret: str,
    *,
    name: str | None = None,
    region: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """Create the app's credentials secret in moto; returns its name."""
    value: dict[str, str] = {"client_id": client_id, "client_secret": client_secret}
    if region:
        value["region"] = region
    value.update(extra or {})
    secret_name = name or f"genesys/app-{uuid.uuid4().hex[:10]}"
    moto.client("secretsmanager").create_secret(Name=secret_name, SecretString=json.dumps(value))
    return secret_name


def put_secret_string(moto: MotoServer, secret_name: str, text: str) -> None:
    """Store a new AWSCURRENT version (moto moves the old one to AWSPREVIOUS)."""
    moto.client("secretsmanager").put_secret_value(SecretId=secret_name, SecretString=text)
