"""Shared fixtures: moto server, the Genesys emulator, a credentials secret, and the leak watch.

The leak watch records every log line emitted in this test process (any logger, DEBUG and up,
except botocore's own wire dumps, which a user only sees by turning botocore DEBUG on), every
GenesysAuthError text, and whatever subprocess output tests feed it. The last test of the session
(``tests/integration/test_no_leak.py``, moved to the end) asserts that no secret or token issued by
any emulator of the run appears in any of it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from genesys_auth import GenesysAuthError, GenesysClient, Settings
from tests.harness.aws import FAKE_CREDENTIALS, MotoServer, app_env, create_credentials_secret, patched_environ
from tests.harness.container import Container, start_containers
from tests.harness.genesys_emulator import GenesysEmulator, OAuthClient

# Never let a test reach real AWS: fake credentials and a dead endpoint until moto starts.
os.environ.update(FAKE_CREDENTIALS)
os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
for _name in [name for name in os.environ if name.startswith("GENESYS_")]:
    del os.environ[_name]


@dataclass
class LeakWatch:
    texts: list[str] = field(default_factory=list)
    emulators: list[GenesysEmulator] = field(default_factory=list)
    extra_sensitive: list[str] = field(default_factory=list)

    def feed(self, text: str) -> None:
        self.texts.append(text)

    def sensitive(self) -> set[str]:
        values = set(self.extra_sensitive)
        for emulator in self.emulators:
            values.update(emulator.sensitive_values())
        return {value for value in values if len(value) >= 16}


LEAKS = LeakWatch()


class _Capture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("botocore", "boto3", "urllib3.connectionpool")) and record.levelno < logging.INFO:
            return
        try:
            LEAKS.feed(self.format(record))
        except Exception:  # a broken log call must not break the watch
            LEAKS.feed(repr(record.msg))


def pytest_configure(config: pytest.Config) -> None:
    handler = _Capture(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.INFO)
    original_init = GenesysAuthError.__init__

    def recording_init(self: GenesysAuthError, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        LEAKS.feed(f"{type(self).__name__}: {self} {self!r} {self.args!r}")

    GenesysAuthError.__init__ = recording_init  # type: ignore[method-assign]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.nodeid.endswith("test_no_secret_or_token_in_any_output")]
    for item in last:
        items.remove(item)
        items.append(item)


@pytest.fixture(scope="session")
def leaks() -> LeakWatch:
    return LEAKS


@pytest.fixture
def fleet(leaks: LeakWatch) -> Iterator[Callable[..., list[Container]]]:
    """Start emulated containers (separate processes); every one is stopped and its output fed
    to the leak watch at the end of the test."""
    started: list[Container] = []

    def start(env: dict[str, str], n: int) -> list[Container]:
        containers = start_containers(env, n)
        started.extend(containers)
        return containers

    yield start
    for container in started:
        leaks.feed(container.stop())


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    with patched_environ(server.env()):
        yield server
    server.stop()


@pytest.fixture
def emulator() -> Iterator[GenesysEmulator]:
    emu = GenesysEmulator().start()
    LEAKS.emulators.append(emu)
    yield emu
    emu.stop()


@dataclass
class App:
    """One app's wiring: its OAuth client in the emulator and its secret in moto."""

    emulator: GenesysEmulator
    moto: MotoServer
    oauth: OAuthClient
    secret_id: str

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "secret_id": self.secret_id,
            "login_url": self.emulator.url,
            "api_url": self.emulator.url,
        }
        values.update(overrides)
        return Settings(**values)

    def client(self, **overrides: Any) -> GenesysClient:
        return GenesysClient(self.settings(**overrides))

    def env(self, **overrides: str) -> dict[str, str]:
        """Environment for a child process (a container) using this app."""
        return app_env(self.moto, self.emulator.url, self.secret_id, **overrides)


@pytest.fixture
def make_app(moto: MotoServer, emulator: GenesysEmulator) -> Callable[..., App]:
    def factory(lifetime: int = 86400, **secret_extra: str) -> App:
        oauth = emulator.add_client(lifetime=lifetime)
        secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret, extra=secret_extra)
        return App(emulator=emulator, moto=moto, oauth=oauth, secret_id=secret_id)

    return factory


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    return make_app()
