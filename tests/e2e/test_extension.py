"""End-to-end tests of the genesys-token extension, from the built layer artifacts, in the local Lambda sandbox.

The layers are built once per session by ``extension/build_layers.py`` (what ``make build`` runs) into a temporary
directory. The function (under awslambdaric) and the extension run on the Lambda target's Python, 3.12, with boto3
beside it as in the Lambda runtime (``tests/bench/lambda_python.py``); only where that interpreter cannot be made do
they run on the suite's own Python, with a warning saying so. The function is ``tests/e2e/extension_fn/app.py``; every sandbox gets its own extension port (on Lambda
each execution environment has its own network namespace, here they share loopback). Every process log is fed to
the suite's leak watch.
"""

from __future__ import annotations

import socket
import stat
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bench.lambda_python import LambdaPythonMissing, add_bytecode, lambda_python
from tests.conftest import App, LeakWatch
from tests.harness.aws import MotoServer, create_token_table
from tests.harness.lambda_sandbox import LambdaSandbox, SandboxInitError

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = Path(__file__).resolve().parent / "extension_fn"
EXTENSION = "genesys-token"


@pytest.fixture(scope="session")
def layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    sys.path.insert(0, str(ROOT / "extension"))
    try:
        import build_layers
    finally:
        sys.path.remove(str(ROOT / "extension"))
    return build_layers.build(tmp_path_factory.mktemp("layers"))


@pytest.fixture(scope="session")
def runtime_python() -> str:
    try:
        return str(lambda_python()[0])
    except LambdaPythonMissing as exc:
        warnings.warn(
            f"extension e2e tests run on {sys.executable}, not the Lambda target's Python: {exc}", stacklevel=1
        )
        return sys.executable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sandbox(layers: dict[str, Path], runtime_python: str, leaks: LeakWatch) -> Iterator[Callable[..., LambdaSandbox]]:
    """Factory of sandboxes running extension_fn with both built layers; closes them and feeds their logs."""
    made: list[LambdaSandbox] = []

    def make(app: App, **env: str) -> LambdaSandbox:
        values = app.env(GENESYS_TOKEN_EXTENSION="auto", GENESYS_TOKEN_EXTENSION_PORT=str(_free_port()), **env)
        values.pop("AWS_SESSION_TOKEN", None)  # the sandbox makes a random one, as Lambda does
        box_layers = [layers["genesys-auth"], layers["genesys-token"]]
        box = LambdaSandbox(
            handler="app.handler",
            task_root=FUNCTION_DIR,
            layers=box_layers,
            env=values,
            function_name=f"ext-fn-{len(made)}",
            python=runtime_python,
        )
        for layer in box_layers:
            add_bytecode(box.opt_dir, layer)  # the sandbox unpacks layers without their .pyc files
        made.append(box)
        return box

    yield make
    for box in made:
        box.close()
        for text in box.logs().values():
            leaks.feed(text)


def _ok(box: LambdaSandbox, event: dict[str, Any]) -> dict[str, Any]:
    result = box.invoke(event)
    assert result.ok, f"{result.error}\n{box.logs()}"
    payload: dict[str, Any] = result.payload
    return payload


def test_built_layers_have_the_lambda_layout_and_the_extension_starts_from_them(
    layers: dict[str, Path], make_app: Callable[..., App], sandbox: Callable[..., LambdaSandbox]
) -> None:
    library, extension = layers["genesys-auth"], layers["genesys-token"]
    assert (library / "python" / "genesys_auth" / "__init__.py").is_file()
    assert sorted(p.name for p in (library / "python").iterdir()) == ["genesys_auth"]  # nothing to clobber
    assert (library / "genesys-auth" / "lib" / "requests" / "__init__.py").is_file()
    assert not (library / "python" / "boto3").exists()  # the Lambda runtime provides boto3
    bootstrap = extension / "extensions" / EXTENSION
    assert bootstrap.is_file()
    assert bootstrap.stat().st_mode & stat.S_IXUSR
    assert bootstrap.read_text().startswith("#!/bin/bash")
    assert sorted(p.name for p in extension.iterdir()) == ["extensions", EXTENSION]
    code = extension / EXTENSION
    assert (code / "genesys_token" / "__main__.py").is_file()
    assert (code / "lib" / "genesys_auth" / "extension_client.py").is_file()  # self-contained
    assert (code / "lib" / "requests" / "__init__.py").is_file()

    box = sandbox(make_app())
    box.start()
    names = box.timeline_names()
    assert f"extension_registered:{EXTENSION}" in names
    out = _ok(box, {"op": "call"})
    assert out["source"] == "extension"
    assert out["status"] == 200
    assert out["in_process_mints"] == 0  # the function never minted: the extension did
    log = box.logs()[EXTENSION]
    assert "listening on 127.0.0.1" in log
    # Registered first, with the standard library only; the token machinery is built after.
    assert log.index("registered after") < log.index("token service ready after") < log.index("ready during INIT")


def test_extension_is_ready_before_the_function_init_code_runs(
    make_app: Callable[..., App], sandbox: Callable[..., LambdaSandbox]
) -> None:
    box = sandbox(make_app())
    box.start()
    registered = box.first(f"extension_registered:{EXTENSION}")
    runtime_started = box.first("runtime_started")
    assert registered is not None and runtime_started is not None and registered < runtime_started
    out = _ok(box, {"op": "token"})
    assert out["init_health"]["status"] == 200  # the function's import-time /health call was answered
    assert out["init_health"]["body"]["ready"] is True


def test_request_without_the_session_token_header_gets_403(
    make_app: Callable[..., App], sandbox: Callable[..., LambdaSandbox]
) -> None:
    box = sandbox(make_app())
    out = _ok(box, {"op": "probe"})
    assert out["none"] == {"status": 403, "body_length": 0}
    assert out["wrong"] == {"status": 403, "body_length": 0}
    assert out["right"]["status"] == 200


def test_three_sandboxes_twenty_invocations_each_mint_once_with_the_shared_table(
    make_app: Callable[..., App], sandbox: Callable[..., LambdaSandbox], moto: MotoServer
) -> None:
    app = make_app()
    table = create_token_table(moto)
    boxes = [sandbox(app, GENESYS_TOKEN_TABLE=table) for _ in range(3)]
    starters = [threading.Thread(target=box.start) for box in boxes]  # three cold starts at once
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join()
    fingerprints = set()
    for _ in range(20):
        for box in boxes:
            out = _ok(box, {"op": "call"})
            assert out["status"] == 200
            fingerprints.add(out["fingerprint"])
    assert app.emulator.mints(app.oauth.client_id) == 1
    assert len(fingerprints) == 1


def test_no_invocation_waits_for_a_mint_when_tokens_expire_during_the_run(
    make_app: Callable[..., App], sandbox: Callable[..., LambdaSandbox]
) -> None:
    latency = 0.5
    app = make_app(lifetime=6)
    app.emulator.set_latency(latency, endpoint="token")
    box = sandbox(app)
    box.start()
    waits: list[float] = []
    post_runtime: list[float] = []
    fingerprints: list[str] = []
    started = time.monotonic()
    # Invocations every ~0.2 s for 10 s: the token (6 s) enters its advisory window at least once.
    while time.monotonic() - started < 10.0:
        result = box.invoke({"op": "call"})
        assert result.ok, result.error
        waits.append(result.payload["token_s"])
        post_runtime.append(result.post_runtime_extensions_ms / 1000)
        fingerprints.append(result.payload["fingerprint"])
        time.sleep(0.2)  # time passing between requests, not synchronisation
    mints = app.emulator.mints(app.oauth.client_id)
    assert mints >= 2, "the token was never refreshed"
    assert len(set(fingerprints)) >= 2, "the function never got the refreshed token"
    assert max(waits) < latency / 5, f"an invocation waited {max(waits):.3f}s for its token"
    # Every mint but the INIT one ran after an INVOKE, before the extension's next: billed, not waited for.
    assert sum(1 for t in post_runtime if t >= latency * 0.8) == mints - 1


def test_shutdown_ends_the_extension_within_the_budget(
    make_app: Callable[..., App], sandbox: Callable[..., LambdaSandbox]
) -> None:
    box = sandbox(make_app())
    _ok(box, {"op": "token"})
    result = box.shutdown()
    assert result.killed == []
    assert result.exit_codes[EXTENSION] == 0
    assert result.elapsed_ms < box.shutdown_budget_s * 1000
    assert "SHUTDOWN (SPINDOWN): stopping" in box.logs()[EXTENSION]


def test_a_killed_extension_does_not_fail_the_function(
    make_app: Callable[..., App], sandbox: Callable[..., LambdaSandbox]
) -> None:
    box = sandbox(make_app())
    first = _ok(box, {"op": "token"})
    assert first["in_process_mints"] == 0
    box.kill_extension(EXTENSION)
    # The function's token is forgotten, so it must get another one: the extension is gone.
    out = _ok(box, {"op": "invalidate"})
    assert out["fingerprint"] != first["fingerprint"]
    assert out["in_process_mints"] == 1  # the in-process fallback minted
    assert out["extension_failures"] == 1
    assert out["counts"].get("ExtensionUnavailable") == 1
    again = _ok(box, {"op": "invalidate"})
    assert again["in_process_mints"] == 2
    assert again["extension_failures"] == 1  # inside the down window: no second connect attempt


@pytest.mark.parametrize(
    "case",
    [("GENESYS_REGION", "atlantis", True), ("GENESYS_TOKEN_EXTENSION_PORT", "soon", False)],
    ids=["after-registering", "before-registering"],
)
def test_a_configuration_error_is_the_extensions_init_error(
    case: tuple[str, str, bool],
    *,
    layers: dict[str, Path],
    runtime_python: str,
    make_app: Callable[..., App],
    leaks: LeakWatch,
    tmp_path: Path,
) -> None:
    variable, value, registered_first = case
    # A function that does not use the library, so the extension is the only part that fails.
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return {}\n")
    env = {**make_app().env(GENESYS_TOKEN_EXTENSION_PORT=str(_free_port())), variable: value}
    env.pop("AWS_SESSION_TOKEN", None)
    box = LambdaSandbox(
        handler="app.handler", task_root=tmp_path, layers=[layers["genesys-token"]], env=env, python=runtime_python
    )
    try:
        with pytest.raises(SandboxInitError) as failed:
            box.start()
        log = box.logs()[EXTENSION]
    finally:
        box.close()
        for text in box.logs().values():
            leaks.feed(text)
    errors = [e for e in box.extension_errors if e["extension"] == EXTENSION and e["kind"] == "init"]
    assert [e["errorType"] for e in errors] == ["Extension.ConfigurationError"]
    assert variable in errors[0]["body"]["errorMessage"] or value in errors[0]["body"]["errorMessage"]
    assert "reported an init error" in failed.value.reason
    # The port and max wait are read before registering, the rest once genesys_auth is imported.
    assert ("registered after" in log) is registered_first
