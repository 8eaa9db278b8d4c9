"""genesys_auth.sdk: the real PureCloudPlatformClientV2 SDK on the managed token, against moto
server and the Genesys emulator."""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import PureCloudPlatformClientV2
import pytest
from PureCloudPlatformClientV2 import ApiClient, Configuration, CreateQueueRequest, OAuthApi, RoutingApi, TokensApi
from PureCloudPlatformClientV2.http_request_options import HttpRequestOptions
from PureCloudPlatformClientV2.rest import ApiException

from genesys_auth import (
    AuthenticationError,
    ConfigurationError,
    Deadline,
    GenesysClient,
    RateLimitedError,
    SecretError,
    UnavailableError,
)
from genesys_auth import sdk as sdk_module
from genesys_auth.sdk import api_client
from tests.conftest import App, LeakWatch
from tests.harness.aws import MotoServer, create_credentials_secret, create_token_table
from tests.harness.genesys_emulator import GenesysEmulator

# The eagerly imported SDK is ~250,000 objects that live as long as this process; left to the
# cyclic GC, each full collection walks them all (~0.4 s here, every thread of the process
# stalled, moto and the emulators included), which slows the other tests' servers. Freezing moves
# what exists now out of the collector's view (gc.freeze, as for a forking server's preloaded code).
gc.freeze()

QUEUE_COUNT = 57  # what the emulator serves
ROOT = Path(__file__).resolve().parents[2]


def api_requests(app: App) -> int:
    return int(app.emulator.counts()["api"]["requests"])


@pytest.fixture
def table(moto: MotoServer) -> str:
    return create_token_table(moto)


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A listener that accepts connections and never answers (a stalled Platform API)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


class _ConfigurationTrap:
    """Counts reads and writes of the SDK's process-wide ``Configuration().access_token``."""

    def __init__(self) -> None:
        self.config = Configuration()
        self.original = type(self.config)
        self.reads = 0
        self.writes = 0
        trap = self

        def read(_: Any) -> str:
            trap.reads += 1
            return str(_.__dict__["access_token"])

        def write(_: Any, value: str) -> None:
            trap.writes += 1
            _.__dict__["access_token"] = value

        self.config.__dict__["access_token"] = "another-orgs-token-set-globally"
        self.config.__class__ = type("TrappedConfiguration", (self.original,), {"access_token": property(read, write)})

    def restore(self) -> None:
        self.config.__class__ = self.original
        self.config.__dict__["access_token"] = ""


@pytest.fixture
def configuration_trap() -> Iterator[_ConfigurationTrap]:
    trap = _ConfigurationTrap()
    yield trap
    trap.restore()


# -- the managed token ----------------------------------------------------------------------------


def test_routing_queues_with_the_managed_token(app: App) -> None:
    client = app.client()
    api = api_client(client)
    assert isinstance(api, ApiClient)
    queues = RoutingApi(api).get_routing_queues(page_size=100)
    assert queues.total == QUEUE_COUNT
    assert len(queues.entities) == QUEUE_COUNT
    assert TokensApi(api).get_tokens_me().o_auth_client.id == app.oauth.client_id
    assert app.emulator.mints() == 1
    assert app.emulator.counts()["api"]["status"] == {"200": 2}


def test_second_container_takes_the_token_from_the_table(app: App, table: str) -> None:
    first = api_client(app.client(token_table=table))
    assert RoutingApi(first).get_routing_queues().total == QUEUE_COUNT
    second_client = app.client(token_table=table)  # a new container: empty memory, same table
    second = api_client(second_client)
    assert RoutingApi(second).get_routing_queues().total == QUEUE_COUNT
    assert app.emulator.mints() == 1
    assert second_client.secrets.reads == 0  # a shared hit needs no secret


def test_revoked_tokens_are_replayed_once(app: App, table: str) -> None:
    client = app.client(token_table=table)
    api = api_client(client)
    RoutingApi(api).get_routing_queues()
    failing = client.token()
    app.emulator.revoke_client_tokens(app.oauth.client_id)
    assert RoutingApi(api).get_routing_queues().total == QUEUE_COUNT
    assert client.replays == 1
    assert app.emulator.counts()["api"]["status"] == {"200": 2, "401": 1}
    assert app.emulator.mints() == 2
    fresh = client.token()
    assert fresh != failing
    # Only the failing token was invalidated: the fresh one in the table serves another container.
    other = app.client(token_table=table)
    assert RoutingApi(api_client(other)).get_routing_queues().total == QUEUE_COUNT
    assert other.token() == fresh
    assert app.emulator.mints() == 2


def test_permanent_401_is_an_api_exception_after_two_calls(app: App) -> None:
    client = app.client()
    api = api_client(client)
    client.token()
    app.emulator.fail_next(5, status=401, endpoint="api")
    with pytest.raises(ApiException) as err:
        RoutingApi(api).get_routing_queues()
    assert err.value.status == 401
    assert "bad.credentials" in err.value.body
    assert err.value.headers["Content-Type"].startswith("application/json")
    assert isinstance(err.value.__cause__, AuthenticationError)
    assert api_requests(app) == 2  # the call and exactly one replay
    assert client.replays == 1


def test_other_api_errors_are_plain_api_exceptions(app: App) -> None:
    api = api_client(app.client())
    with pytest.raises(ApiException) as err:
        OAuthApi(api).get_oauth_client("no-such-client")
    assert err.value.status == 403  # the example client lacks oauth:client:view
    assert err.value.__cause__ is None
    assert "missing.permissions" in err.value.body


# -- the deadline ---------------------------------------------------------------------------------


def test_429_with_retry_after_30_under_a_2s_deadline(app: App) -> None:
    client = app.client()
    api = api_client(client)
    client.token()
    app.emulator.rate_limit_next(1, endpoint="api", retry_after=30)
    started = time.monotonic()
    with client.deadline(Deadline.after(2)), pytest.raises(ApiException) as err:
        RoutingApi(api).get_routing_queues()
    elapsed = time.monotonic() - started
    assert elapsed <= 2.5
    assert err.value.status == 429
    assert err.value.headers["Retry-After"] == "30"
    assert isinstance(err.value.__cause__, RateLimitedError)
    assert err.value.__cause__.retry_after == 30


def test_stalled_server_under_a_2s_deadline(app: App, blackhole: str) -> None:
    client = app.client(api_url=blackhole)
    api = api_client(client)
    client.token()  # the login host (the emulator) answers; the API host never does
    started = time.monotonic()
    with client.deadline(Deadline.after(2)), pytest.raises(ApiException) as err:
        RoutingApi(api).get_routing_queues()
    assert time.monotonic() - started <= 2.5
    assert err.value.status == 0
    assert isinstance(err.value.__cause__, UnavailableError)


def test_post_503_is_not_retried(app: App) -> None:
    admin = app.emulator.add_client(permissions=["oauth:client:edit"])
    secret_id = create_credentials_secret(app.moto, admin.client_id, admin.secret)
    client = GenesysClient(App(app.emulator, app.moto, admin, secret_id).settings())
    api = api_client(client)
    client.token()
    app.emulator.fail_next(1, status=503, endpoint="api")
    with pytest.raises(ApiException) as err:
        OAuthApi(api).post_oauth_client_secret(app.oauth.client_id)
    assert err.value.status == 503
    assert isinstance(err.value.__cause__, UnavailableError)
    assert api_requests(app) == 1
    assert app.emulator.counts()["regenerations"] == 0


def test_get_503_is_retried_within_the_deadline(app: App) -> None:
    client = app.client()
    api = api_client(client)
    client.token()
    app.emulator.fail_next(2, status=503, endpoint="api")
    started = time.monotonic()
    with client.deadline(Deadline.after(5)):
        assert RoutingApi(api).get_routing_queues().total == QUEUE_COUNT
    assert time.monotonic() - started < 5
    assert app.emulator.counts()["api"]["status"] == {"503": 2, "200": 1}


def test_callback_thread_keeps_the_callers_deadline(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    client = app.client()
    api = api_client(client)
    client.token()
    seen: list[float] = []
    thread_errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: thread_errors.append(args.exc_value))

    with client.deadline(Deadline.after(2)) as bound:
        thread = RoutingApi(api).get_routing_queues(callback=lambda result: seen.append(Deadline.of(None).at))
        thread.join(10)
        assert seen == [bound.at]  # the callback ran inside the caller's deadline

        # Retry-After 5 fits the 30 s default, not the bound 2 s: the thread must give up at once.
        app.emulator.rate_limit_next(1, endpoint="api", retry_after=5)
        started = time.monotonic()
        thread = RoutingApi(api).get_routing_queues(callback=seen.append)
        thread.join(10)
    assert time.monotonic() - started <= 2.5
    assert len(seen) == 1
    assert len(thread_errors) == 1
    error = thread_errors[0]
    assert isinstance(error, ApiException)
    assert error.status == 429


# -- threads, orgs, the SDK's own token paths -----------------------------------------------------


def test_two_threads_with_a_revocation_halfway(app: App) -> None:
    client = app.client()
    api = api_client(client)
    routing = RoutingApi(api)
    calls = 40
    halfway = threading.Barrier(3)
    errors: list[BaseException] = []
    totals: list[int] = []

    def worker() -> None:
        try:
            for i in range(calls):
                if i == calls // 2:
                    halfway.wait(10)  # the main thread revokes while both wait here
                    halfway.wait(10)
                totals.append(routing.get_routing_queues().total)
        except BaseException as exc:
            errors.append(exc)
            halfway.abort()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    halfway.wait(10)
    app.emulator.revoke_client_tokens(app.oauth.client_id)
    halfway.wait(10)
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert totals == [QUEUE_COUNT] * (2 * calls)
    assert app.emulator.mints() == 2
    assert app.emulator.counts()["api"]["status"]["200"] == 2 * calls


def test_two_orgs_in_one_process_send_only_their_own_token(
    app: App, moto: MotoServer, leaks: LeakWatch, configuration_trap: _ConfigurationTrap
) -> None:
    other_org = GenesysEmulator().start()
    leaks.emulators.append(other_org)
    try:
        other_oauth = other_org.add_client()
        other_secret = create_credentials_secret(moto, other_oauth.client_id, other_oauth.secret)
        client_a = app.client()
        client_b = GenesysClient(App(other_org, moto, other_oauth, other_secret).settings())
        api_a, api_b = api_client(client_a), api_client(client_b)
        for _ in range(3):
            assert TokensApi(api_a).get_tokens_me().o_auth_client.id == app.oauth.client_id
            assert TokensApi(api_b).get_tokens_me().o_auth_client.id == other_oauth.client_id
        # A client that has no token of its own fails; it does not fall back to anyone's.
        lost = api_client(app.client(secret_id="genesys/does-not-exist"))
        before = api_requests(app)
        with pytest.raises(SecretError):
            TokensApi(lost).get_tokens_me()
        assert api_requests(app) == before
        for emulator, oauth in ((app.emulator, app.oauth), (other_org, other_oauth)):
            api = emulator.counts()["api"]
            assert api["status"] == {"200": 3}  # no foreign token was ever answered with 401
            assert set(api["by_client"]) == {oauth.client_id}
        assert configuration_trap.reads == 0
        assert configuration_trap.writes == 0
    finally:
        other_org.stop()


def test_the_sdk_token_methods_are_refused(app: App) -> None:
    api = api_client(app.client())
    for call in (
        lambda: api.get_client_credentials_token("id", "secret"),
        lambda: api.get_saml2bearer_token("id", "secret", "org", "assertion"),
        lambda: api.get_code_authorization_token("id", "secret", "code", "https://example.invalid"),
        lambda: api.refresh_code_authorization_token("id", "secret", "refresh"),
        lambda: api.get_pkce_token("id", "verifier", "code", "https://example.invalid"),
    ):
        with pytest.raises(ConfigurationError, match="managed by genesys_auth"):
            call()
    with pytest.raises(ConfigurationError):
        api.access_token = "my-own-token"
    with pytest.raises(ConfigurationError):
        api.set_http_client(api.get_http_client())
    assert app.emulator.mints() == 0


def test_a_foreign_host_is_refused(app: App) -> None:
    client = app.client()
    api = api_client(client)
    api.host = "https://api.example.invalid"
    with pytest.raises(ConfigurationError):
        RoutingApi(api).get_routing_queues()
    assert api_requests(app) == 0


def test_hooks_run_as_in_the_sdks_client(app: App) -> None:
    api = api_client(app.client())
    seen: list[tuple[str, int]] = []

    def pre(options: Any) -> Any:
        options.headers["X-Trace"] = "abc"
        seen.append((options.method, 0))
        return options

    def post(response: Any) -> Any:
        seen.append(("answer", response.status))
        return response

    api.get_http_client().set_pre_request_hook(pre)
    api.get_http_client().set_post_request_hook(post)
    RoutingApi(api).get_routing_queues()
    assert seen == [("GET", 0), ("answer", 200)]


@pytest.fixture(scope="module")
def lazy_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed SDK with the SDK layer's lazy __init__ files (the rest symlinked)."""
    sys.path.insert(0, str(ROOT / "extension"))
    try:
        import build_layers
    finally:
        sys.path.remove(str(ROOT / "extension"))
    real = Path(PureCloudPlatformClientV2.__file__).resolve().parent.parent
    site = tmp_path_factory.mktemp("lazy-sdk")
    packages = set(build_layers.LAZY_PACKAGES)
    for package in sorted(packages):
        (site / package).mkdir(parents=True)
        for entry in (real / package).iterdir():
            relative = f"{package}/{entry.name}"
            if entry.name in ("__init__.py", "__pycache__") or relative in packages:
                continue
            (site / relative).symlink_to(entry)
        source = (real / package / "__init__.py").read_text()
        (site / package / "__init__.py").write_text(build_layers.lazy_init_source(source, package))
    return site


def test_the_sdk_layers_lazy_init_serves_the_same_calls(app: App, lazy_sdk: Path, leaks: LeakWatch) -> None:
    script = """
import json, sys, time
started = time.perf_counter()
import PureCloudPlatformClientV2
from PureCloudPlatformClientV2 import RoutingApi, TokensApi, ApiClient, Queue
from genesys_auth import GenesysClient
from genesys_auth import sdk as sdk_module
from genesys_auth.sdk import api_client
api = api_client(GenesysClient.from_env())
queues = RoutingApi(api).get_routing_queues(page_size=100)
me = TokensApi(api).get_tokens_me()
print(json.dumps({
    "total": queues.total,
    "queue_type": type(queues.entities[0]).__name__,
    "is_queue": isinstance(queues.entities[0], Queue),
    "client": me.o_auth_client.id,
    "modules": sum(1 for name in sys.modules if name.startswith("PureCloudPlatformClientV2.models.")),
    "has_models": hasattr(PureCloudPlatformClientV2.models, "QueueEntityListing"),
    "in_dir": "RoutingApi" in dir(PureCloudPlatformClientV2),
    "configuration": type(PureCloudPlatformClientV2.configuration).__name__,
}))
"""
    env = {**os.environ, **app.env(), "PYTHONPATH": os.pathsep.join([str(lazy_sdk), str(ROOT / "layer")])}
    env["PYTHONPYCACHEPREFIX"] = str(lazy_sdk / "pycache")
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    leaks.feed(done.stdout + done.stderr)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["total"] == QUEUE_COUNT
    assert result["queue_type"] == "Queue" and result["is_queue"]
    assert result["client"] == app.oauth.client_id
    assert result["has_models"] and result["in_dir"]
    assert result["configuration"] == "Configuration"
    assert result["modules"] < 1000  # the eager __init__ imports all ~6,650 models


@pytest.fixture
def echo() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An API origin that records each request and answers 200 with an empty JSON object."""
    seen: list[dict[str, Any]] = []

    class Echo(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": self.rfile.read(length) if length else b"",
                }
            )
            payload = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_requests_are_sent_as_the_sdk_sends_them(app: App, echo: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = echo
    client = app.client(api_url=url)
    api = api_client(client)
    api.set_default_header("Authorization", "Bearer not-this-one")  # never wins over the managed token
    routing = RoutingApi(api)
    routing.get_routing_queues(page_size=5, name="Sales EMEA*", id=["a", "b"])
    body = CreateQueueRequest()
    body.name, body.description = "Support", "tier 1"
    queue = routing.post_routing_queues(body)
    assert type(queue).__name__ == "Queue"
    routing.delete_routing_queue("queue-1", force_delete=True)
    get, post, delete = seen
    token = client.token()
    for request in seen:
        assert request["headers"]["Authorization"] == f"Bearer {token}"
        assert request["headers"]["purecloud-sdk"] == "269.0.0"
    assert get["method"] == "GET" and get["body"] == b""
    path, _, query = get["path"].partition("?")
    assert path == "/api/v2/routing/queues"
    assert parse_qs(query) == {"pageSize": ["5"], "name": ["Sales EMEA*"], "id": ["a,b"]}
    assert post["method"] == "POST" and post["path"] == "/api/v2/routing/queues"
    assert post["headers"]["Content-Type"] == "application/json"
    assert json.loads(post["body"]) == {"name": "Support", "description": "tier 1"}
    assert delete["method"] == "DELETE" and delete["path"] == "/api/v2/routing/queues/queue-1?forceDelete=true"


def test_form_and_multipart_bodies_are_encoded_as_the_sdk_would() -> None:
    form = HttpRequestOptions(
        url="/x",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        post_params=[("grant_type", "client_credentials")],
    )
    assert sdk_module._encode("POST", form)["data"] == [("grant_type", "client_credentials")]
    upload = HttpRequestOptions(
        url="/x",
        method="POST",
        headers={"Content-Type": "multipart/form-data", "Authorization": "Bearer x"},
        post_params=[("name", "a"), ("file", ("a.txt", b"hello", "text/plain"))],
    )
    kwargs = sdk_module._encode("POST", upload)
    assert kwargs["headers"] == {}  # requests writes Content-Type with the boundary; no caller token
    assert kwargs["data"] == [("name", "a")]
    assert kwargs["files"] == [("file", ("a.txt", b"hello", "text/plain"))]


def test_import_genesys_auth_does_not_import_the_sdk() -> None:
    code = "import sys, genesys_auth; print('PureCloudPlatformClientV2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
