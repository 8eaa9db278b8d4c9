"""Tests of the local Lambda sandbox itself, using throwaway handlers and extensions written into tmp_path."""

from __future__ import annotations

import json
import os
import stat
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.lambda_sandbox import (
    HIDDEN_FROM_EXTENSIONS,
    LambdaSandbox,
    SandboxInitError,
    process_state,
)

pytestmark = pytest.mark.timeout(60)

HANDLER_SRC = textwrap.dedent(
    """
    import os
    import time

    COUNT = 0


    def handler(event, context):
        global COUNT
        COUNT += 1
        op = event.get("op", "echo")
        if op == "raise":
            raise ValueError("boom " + str(event.get("x")))
        if op == "exit":
            os._exit(3)
        if op == "sleep":
            time.sleep(event["seconds"])
        if op == "remaining":
            return {"remaining": context.get_remaining_time_in_millis()}
        if op == "layer":
            import layer_a
            import layer_b
            return {"a": layer_a.VALUE, "b": layer_b.VALUE}
        return {
            "event": event,
            "count": COUNT,
            "pid": os.getpid(),
            "request_id": context.aws_request_id,
            "function_name": context.function_name,
            "env": dict(os.environ),
        }
    """
)

# A Python extension laid out like the AWS samples: extensions/<name> is a bash bootstrap that execs the real code
# from another directory of the layer, with the python3 found on PATH.
EXTENSION_SRC = textwrap.dedent(
    """
    import json
    import os
    import sys
    import time
    import urllib.request

    name = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, name + ".json")) as f:
        cfg = json.load(f)
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"


    def record(kind, **data):
        with open(cfg["record"], "a") as f:
            f.write(json.dumps({"kind": kind, **data}) + "\\n")


    hidden = sorted(k for k in os.environ if k in set(cfg["hidden"]))
    record("start", pid=os.getpid(), hidden=hidden, token=os.environ.get("AWS_SESSION_TOKEN"), cwd=os.getcwd())
    if cfg.get("never_register"):
        time.sleep(3600)
    req = urllib.request.Request(
        api + "/register",
        data=json.dumps({"events": cfg["events"]}).encode(),
        headers={"Lambda-Extension-Name": name},
        method="POST",
    )
    with urllib.request.urlopen(req) as resp:
        ext_id = resp.headers["Lambda-Extension-Identifier"]
        record("registered", body=json.load(resp), identifier=ext_id)
    if cfg.get("init_error"):
        req = urllib.request.Request(
            api + "/init/error",
            data=json.dumps({"errorMessage": "bad config", "errorType": "Extension.ConfigInvalid"}).encode(),
            headers={"Lambda-Extension-Identifier": ext_id, "Lambda-Extension-Function-Error-Type": "Extension.ConfigInvalid"},
            method="POST",
        )
        with urllib.request.urlopen(req) as resp:
            record("init_error_posted", status=resp.status)
        sys.exit(1)
    while True:
        req = urllib.request.Request(api + "/event/next", headers={"Lambda-Extension-Identifier": ext_id})
        with urllib.request.urlopen(req) as resp:
            event = json.load(resp)
        record("event", event=event)
        if event["eventType"] == "INVOKE":
            time.sleep(cfg.get("post_invoke_sleep", 0))
        elif event["eventType"] == "SHUTDOWN":
            if cfg.get("ignore_shutdown"):
                time.sleep(3600)
            sys.exit(0)
    """
)

BOOTSTRAP_SRC = '#!/bin/bash\nexec python3 "$(dirname "$0")/../test-ext/ext.py" "$(basename "$0")"\n'


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    root = tmp_path / "task"
    root.mkdir()
    (root / "app.py").write_text(HANDLER_SRC)
    (root / "broken.py").write_text("import module_that_does_not_exist_anywhere\n")
    return root


class ExtLayer:
    """A layer directory holding test extensions, each appending JSON lines to its own record file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "extensions").mkdir(parents=True)
        (root / "test-ext").mkdir()
        (root / "test-ext" / "ext.py").write_text(EXTENSION_SRC)

    def add(self, name: str, **cfg: Any) -> Path:
        record = self.root.parent / f"{name}.jsonl"
        cfg.setdefault("events", ["INVOKE", "SHUTDOWN"])
        cfg.update(record=str(record), hidden=sorted(HIDDEN_FROM_EXTENSIONS))
        (self.root / "test-ext" / f"{name}.json").write_text(json.dumps(cfg))
        boot = self.root / "extensions" / name
        boot.write_text(BOOTSTRAP_SRC)
        boot.chmod(0o644)  # the sandbox must make it executable, as unzipping a layer would
        return record


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def events_of(path: Path) -> list[dict[str, Any]]:
    return [r["event"] for r in read_records(path) if r["kind"] == "event"]


def assert_gone(pid: int) -> None:
    assert process_state(pid) in (None, "Z"), f"process {pid} still running"


@pytest.fixture
def ext_layer(tmp_path: Path) -> ExtLayer:
    return ExtLayer(tmp_path / "ext-layer")


@pytest.fixture
def sandboxes() -> Iterator[list[LambdaSandbox]]:
    made: list[LambdaSandbox] = []
    yield made
    for sb in made:
        sb.close()


def make(sandboxes: list[LambdaSandbox], task_root: Path, **kwargs: Any) -> LambdaSandbox:
    kwargs.setdefault("handler", "app.handler")
    sb = LambdaSandbox(task_root=task_root, **kwargs)
    sandboxes.append(sb)
    return sb


def test_layers_are_merged_into_a_private_opt_dir(tmp_path: Path, task_root: Path, ext_layer: ExtLayer) -> None:
    lib1 = tmp_path / "lib1" / "python"
    lib2 = tmp_path / "lib2" / "python"
    lib1.mkdir(parents=True)
    lib2.mkdir(parents=True)
    (lib1 / "layer_a.py").write_text("VALUE = 'a1'\n")
    (lib1 / "layer_b.py").write_text("VALUE = 'b1'\n")
    (lib2 / "layer_b.py").write_text("VALUE = 'b2'\n")
    ext_layer.add("noop")
    with LambdaSandbox(
        handler="app.handler", task_root=task_root, layers=[lib1.parent, lib2.parent, ext_layer.root]
    ) as sb:
        opt = sb.opt_dir
        assert (opt / "python" / "layer_a.py").read_text() == "VALUE = 'a1'\n"
        assert (opt / "python" / "layer_b.py").read_text() == "VALUE = 'b2'\n"  # later layer wins
        assert (opt / "test-ext" / "ext.py").is_file()
        assert (opt / "extensions" / "noop").stat().st_mode & stat.S_IXUSR
        assert not (lib1 / "layer_a.py").is_symlink()
        result = sb.invoke({"op": "layer"})
        assert result.payload == {"a": "a1", "b": "b2"}
    assert not opt.exists()


def test_invoke_returns_payload_with_lambda_environment(sandboxes: list[LambdaSandbox], task_root: Path) -> None:
    sb = make(sandboxes, task_root, env={"MY_SETTING": "42", "PYTHONPATH": "/extra"}, function_name="fn-under-test")
    sb.start()
    first = sb.invoke({"hello": "world"})
    assert first.error is None
    payload = first.payload
    assert payload["event"] == {"hello": "world"}
    assert payload["count"] == 1
    assert payload["request_id"] == first.request_id
    assert payload["function_name"] == "fn-under-test"
    env = payload["env"]
    assert env["AWS_LAMBDA_RUNTIME_API"] == f"127.0.0.1:{sb.port}"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn-under-test"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_SESSION_TOKEN"] == sb.session_token
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(task_root.resolve())
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["TZ"] == ":UTC"
    assert env["MY_SETTING"] == "42"
    assert env["PYTHONPATH"].split(":")[0] == str(sb.opt_dir / "python")
    assert env["PYTHONPATH"].split(":")[-2:] == [str(task_root.resolve()), "/extra"]
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")

    second = sb.invoke({"again": True})
    assert second.payload["count"] == 2  # warm: same process, module state kept
    assert second.payload["pid"] == payload["pid"] == sb.runtime_pid
    assert second.request_id != first.request_id

    names = sb.timeline_names()
    order = [
        names.index("runtime_started"),
        names.index("runtime_init_done"),
        names.index("init_done"),
        names.index(f"invoke:{first.request_id}"),
        names.index(f"runtime_response:{first.request_id}"),
        names.index(f"invoke:{second.request_id}"),
    ]
    assert order == sorted(order)
    result = sb.shutdown()
    assert result.killed == []
    assert_gone(payload["pid"])


def test_handler_exception_becomes_error_result(sandboxes: list[LambdaSandbox], task_root: Path) -> None:
    sb = make(sandboxes, task_root)
    failed = sb.invoke({"op": "raise", "x": 7})
    assert failed.payload is None
    assert failed.error is not None
    assert failed.error["errorType"] == "ValueError"
    assert failed.error["errorMessage"] == "boom 7"
    assert failed.reset_reason is None
    assert f"runtime_error:{failed.request_id}" in sb.timeline_names()
    pid = sb.runtime_pid
    ok = sb.invoke({})
    assert ok.error is None and ok.payload["pid"] == pid  # a handler error does not reset the environment


def test_remaining_time_reflects_timeout(sandboxes: list[LambdaSandbox], task_root: Path) -> None:
    sb = make(sandboxes, task_root, timeout_s=5.0)
    remaining = sb.invoke({"op": "remaining"}).payload["remaining"]
    assert 4000 < remaining <= 5000
    remaining = sb.invoke({"op": "remaining"}, timeout_s=2.0).payload["remaining"]
    assert 1000 < remaining <= 2000


def test_extension_lifecycle(sandboxes: list[LambdaSandbox], task_root: Path, ext_layer: ExtLayer) -> None:
    record = ext_layer.add("recorder", post_invoke_sleep=0.3)
    sb = make(sandboxes, task_root, layers=[ext_layer.root], shutdown_budget_s=2.0)
    sb.start()

    # Runtime init starts only after the extension registered; init ends after both called next.
    registered = sb.first("extension_registered:recorder")
    runtime_started = sb.first("runtime_started")
    assert registered is not None and runtime_started is not None and registered < runtime_started
    ext_next = sb.first("extension_next:recorder")
    init_done = sb.first("init_done")
    assert ext_next is not None and init_done is not None and ext_next < init_done

    start, reg = read_records(record)[:2]
    assert start["hidden"] == []  # _HANDLER, LAMBDA_TASK_ROOT, ... are not visible to extensions
    assert start["token"] == sb.session_token
    assert start["cwd"] == str(sb.opt_dir)
    assert reg["body"] == {"functionName": "sandbox-fn", "functionVersion": "$LATEST", "handler": "app.handler"}

    results = [sb.invoke({"n": i}) for i in range(2)]
    invokes = [e for e in events_of(record) if e["eventType"] == "INVOKE"]
    assert [e["requestId"] for e in invokes] == [r.request_id for r in results]
    for res, ev in zip(results, invokes, strict=True):
        assert res.error is None
        assert res.extension_events["recorder"] == ev
        assert ev["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:sandbox-fn"
        assert ev["tracing"]["type"] == "X-Amzn-Trace-Id"
        assert ev["deadlineMs"] > time.time() * 1000
        # The extension's work after INVOKE extends the invoke phase, not the function's duration.
        assert res.post_runtime_extensions_ms >= 250
        assert res.duration_ms < res.post_runtime_extensions_ms

    ext_pid = sb.extension_pids["recorder"]
    t0 = time.monotonic()
    result = sb.shutdown()
    assert time.monotonic() - t0 < 2.0
    assert result.reason == "SPINDOWN"
    assert result.exit_codes == {"recorder": 0}
    assert result.killed == []
    shutdown = events_of(record)[-1]
    assert shutdown["eventType"] == "SHUTDOWN"
    assert shutdown["shutdownReason"] == "SPINDOWN"
    assert shutdown["deadlineMs"] > time.time() * 1000 - 2000
    assert_gone(ext_pid)
    logs = sb.logs()
    assert set(logs) == {"recorder", "runtime"}


def test_processes_are_frozen_between_invocations(
    sandboxes: list[LambdaSandbox], task_root: Path, ext_layer: ExtLayer
) -> None:
    ext_layer.add("sleeper")
    sb = make(sandboxes, task_root, layers=[ext_layer.root])
    sb.start()
    rt_pid, ext_pid = sb.runtime_pid, sb.extension_pids["sleeper"]
    assert rt_pid is not None
    assert process_state(rt_pid) == "T" and process_state(ext_pid) == "T"  # frozen after INIT too
    for _ in range(2):
        result = sb.invoke({})
        assert result.error is None and result.payload["pid"] == rt_pid
        assert process_state(rt_pid) == "T"
        assert process_state(ext_pid) == "T"
    names = sb.timeline_names()
    assert names[-1] == "frozen" and "thawed" in names


def test_no_freeze_mode_leaves_processes_running(sandboxes: list[LambdaSandbox], task_root: Path) -> None:
    sb = make(sandboxes, task_root, freeze=False)
    sb.invoke({})
    assert sb.runtime_pid is not None
    assert process_state(sb.runtime_pid) in ("S", "R")
    assert "frozen" not in sb.timeline_names()


def test_extension_ignoring_shutdown_is_killed_after_budget(
    sandboxes: list[LambdaSandbox], task_root: Path, ext_layer: ExtLayer
) -> None:
    record = ext_layer.add("stubborn", ignore_shutdown=True)
    ext_layer.add("polite")
    sb = make(sandboxes, task_root, layers=[ext_layer.root], shutdown_budget_s=0.5)
    sb.invoke({})
    pids = sb.extension_pids
    result = sb.shutdown()
    assert result.killed == ["stubborn"]
    assert result.exit_codes == {"polite": 0, "stubborn": None}
    assert 450 <= result.elapsed_ms < 3000
    assert events_of(record)[-1]["eventType"] == "SHUTDOWN"
    for pid in pids.values():
        assert_gone(pid)
    assert sb.shutdown() is result  # idempotent


def test_killed_extension_does_not_fail_the_function(
    sandboxes: list[LambdaSandbox], task_root: Path, ext_layer: ExtLayer
) -> None:
    victim_record = ext_layer.add("victim")
    ext_layer.add("survivor")
    sb = make(sandboxes, task_root, layers=[ext_layer.root])
    assert sb.invoke({}).error is None
    sb.kill_extension("victim")
    t0 = time.monotonic()
    result = sb.invoke({"after": "kill"})
    assert time.monotonic() - t0 < 5
    assert result.error is None and result.payload["event"] == {"after": "kill"}
    assert "victim" not in result.extension_events and "survivor" in result.extension_events
    assert len([e for e in events_of(victim_record) if e["eventType"] == "INVOKE"]) == 1
    shut = sb.shutdown()
    assert shut.exit_codes["victim"] == -9
    assert shut.exit_codes["survivor"] == 0
    assert shut.killed == []


def test_init_timeout_raises_and_cleans_up(
    sandboxes: list[LambdaSandbox], task_root: Path, ext_layer: ExtLayer
) -> None:
    record = ext_layer.add("lazy", never_register=True)
    sb = make(sandboxes, task_root, layers=[ext_layer.root], init_timeout_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(SandboxInitError) as info:
        sb.start()
    assert 0.9 < time.monotonic() - t0 < 5
    assert "not registered" in str(info.value) and "lazy" in str(info.value)
    assert "runtime_started" not in sb.timeline_names()  # never got past extension init
    assert_gone(read_records(record)[0]["pid"])


def test_extension_init_error_fails_init(sandboxes: list[LambdaSandbox], task_root: Path, ext_layer: ExtLayer) -> None:
    record = ext_layer.add("misconfigured", init_error=True)
    sb = make(sandboxes, task_root, layers=[ext_layer.root])
    with pytest.raises(SandboxInitError) as info:
        sb.start()
    assert "misconfigured" in info.value.reason
    # The sandbox kills the extension as soon as the error arrives, as Lambda may: the extension's
    # own note of the 202 is only there if it was written before the kill.
    posted = [r for r in read_records(record) if r.get("kind") == "init_error_posted"]
    assert posted in ([], [{"kind": "init_error_posted", "status": 202}])
    [err] = sb.extension_errors
    assert err["extension"] == "misconfigured" and err["kind"] == "init"
    assert err["errorType"] == "Extension.ConfigInvalid"
    assert err["body"]["errorMessage"] == "bad config"


def test_runtime_init_error_raises(sandboxes: list[LambdaSandbox], task_root: Path) -> None:
    sb = make(sandboxes, task_root, handler="broken.handler")
    with pytest.raises(SandboxInitError) as info:
        sb.start()
    err = info.value
    assert err.init_error is not None
    assert err.init_error["errorType"] == "Runtime.ImportModuleError"
    assert "module_that_does_not_exist_anywhere" in err.init_error["errorMessage"]
    assert "runtime" in err.logs


def test_timeout_resets_environment_like_lambda(
    sandboxes: list[LambdaSandbox], task_root: Path, ext_layer: ExtLayer
) -> None:
    record = ext_layer.add("watcher")
    sb = make(sandboxes, task_root, layers=[ext_layer.root], timeout_s=0.5)
    first_pid = sb.invoke({}).payload["pid"]
    timed_out = sb.invoke({"op": "sleep", "seconds": 5})
    assert timed_out.error is not None
    assert timed_out.error["errorType"] == "Sandbox.Timeout"
    assert timed_out.reset_reason == "TIMEOUT"
    assert timed_out.duration_ms < 2000
    assert events_of(record)[-1]["shutdownReason"] == "TIMEOUT"
    assert sb.resets[-1].exit_codes == {"watcher": 0}
    assert_gone(first_pid)
    # The next invoke re-initialises the environment (new processes, fresh module state).
    again = sb.invoke({})
    assert again.error is None
    assert again.payload["count"] == 1 and again.payload["pid"] != first_pid
    assert sb.timeline_names().count("init_done") == 2


def test_runtime_crash_resets_environment_with_failure(
    sandboxes: list[LambdaSandbox], task_root: Path, ext_layer: ExtLayer
) -> None:
    record = ext_layer.add("watcher")
    sb = make(sandboxes, task_root, layers=[ext_layer.root])
    crashed = sb.invoke({"op": "exit"})
    assert crashed.error is not None
    assert crashed.error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in crashed.error["errorMessage"]
    assert crashed.reset_reason == "FAILURE"
    assert events_of(record)[-1]["shutdownReason"] == "FAILURE"
    assert sb.invoke({}).payload["count"] == 1


def test_context_manager_leaves_no_process_behind(task_root: Path, ext_layer: ExtLayer) -> None:
    ext_layer.add("stubborn", ignore_shutdown=True)
    with LambdaSandbox(
        handler="app.handler", task_root=task_root, layers=[ext_layer.root], shutdown_budget_s=0.2
    ) as sb:
        sb.invoke({})
        pids = [*sb.extension_pids.values(), sb.runtime_pid]
    for pid in pids:
        assert pid is not None
        assert_gone(pid)
    assert not any(p.exists() for p in (sb.opt_dir,))
    assert os.path.exists(task_root)
