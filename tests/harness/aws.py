"""Emulated AWS on loopback: moto in server mode, reached by boto3 through AWS_ENDPOINT_URL.

Shared by the tests, `make demo` and `make bench`. Nothing here mocks boto3: every call crosses
HTTP to a real moto server process thread, so DynamoDB conditions and Secrets Manager staging are
decided by moto, not by us.
"""

from __future__ import annotations

import json
import os
import threading
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


class _OneRequestAtATime:
    """WSGI wrapper that lets moto handle one request at a time.

    moto has no lock per request or table (reference aws-lambda.md section 7), so two conditional
    writes arriving together can both pass ``attribute_not_exists``: real DynamoDB applies each
    conditional write atomically. Serialising requests restores that guarantee; connections are
    still accepted concurrently, and moto answers in about a millisecond, so throughput is fine.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        with self.lock:
            return [b"".join(self.app(environ, start_response))]


def _threaded_moto_server() -> Any:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class AtomicMotoServer(ThreadedMotoServer):  # type: ignore[misc]
        def _server_entry(self) -> None:
            app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return AtomicMotoServer(ip_address="127.0.0.1", port=0, verbose=False)


class MotoServer:
    """moto in server mode on 127.0.0.1 and a random port, with DynamoDB's atomic conditional writes."""

    def __init__(self) -> None:
        self._server = _threaded_moto_server()
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


def app_env(moto: MotoServer, genesys_url: str, secret_id: str, **extra: str) -> dict[str, str]:
    """Environment of a process (a container) of an app: emulated AWS and Genesys, its secret."""
    return {
        **moto.env(),
        "GENESYS_SECRET_ID": secret_id,
        "GENESYS_LOGIN_URL": genesys_url,
        "GENESYS_API_URL": genesys_url,
        **extra,
    }


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


def create_token_table(moto: MotoServer, name: str | None = None) -> str:
    """The shared token table with the project's fixed schema: pk (S), TTL attribute ttl."""
    table = name or f"genesys-tokens-{uuid.uuid4().hex[:8]}"
    ddb = moto.client("dynamodb")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    return table
