"""The sandbox's constants, errors and results, and the clock values Lambda hands out."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RUNTIME_API_VERSION = "2018-06-01"
EXTENSION_API_VERSION = "2020-01-01"
ACCOUNT_ID = "123456789012"
MAX_EXTENSIONS = 10
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
EXECUTION_ENV = "AWS_Lambda_python3.12"

#: Variables Lambda gives the runtime process but not extensions (runtimes-extensions-api.md).
HIDDEN_FROM_EXTENSIONS: frozenset[str] = frozenset(
    {
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_XRAY_CONTEXT_MISSING",
        "AWS_XRAY_DAEMON_ADDRESS",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
        "_AWS_XRAY_DAEMON_ADDRESS",
        "_AWS_XRAY_DAEMON_PORT",
        "_HANDLER",
    }
)

# Keys of the caller's ``env`` that cannot override the sandbox's own value (PATH/PYTHONPATH are merged instead).
_PROTECTED_ENV = frozenset({"AWS_LAMBDA_RUNTIME_API", "_HANDLER", "LAMBDA_TASK_ROOT", "PATH", "PYTHONPATH"})
_VALID_EVENTS = frozenset({"INVOKE", "SHUTDOWN"})
_LOG_TAIL_CHARS = 6000


class SandboxError(RuntimeError):
    """Misuse of the sandbox or an unexpected state."""


class SandboxInitError(SandboxError):
    """The INIT phase failed: runtime or extension init error, crash, or ``init_timeout_s`` exceeded."""

    def __init__(
        self,
        reason: str,
        *,
        logs: Mapping[str, str],
        init_error: dict[str, Any] | None = None,
    ) -> None:
        self.reason = reason
        self.logs = dict(logs)
        self.init_error = init_error
        parts = [reason]
        if init_error is not None:
            parts.append(f"init error: {json.dumps(init_error)}")
        for name, text in self.logs.items():
            tail = text[-_LOG_TAIL_CHARS:]
            parts.append(f"--- {name} output (last {len(tail)} chars) ---\n{tail}")
        super().__init__("\n".join(parts))


@dataclass
class InvokeResult:
    request_id: str
    #: Decoded JSON response of the handler (text if it was not JSON); None on error.
    payload: Any  # None on error; typed Any (not Any | None) so callers can index it without narrowing
    #: The body the runtime posted to ``/invocation/{id}/error``, or a sandbox-made error
    #: (``Sandbox.Timeout``, ``Runtime.ExitError``, ``Function.ResponseSizeTooLarge``).
    error: dict[str, Any] | None
    #: Event handed to the runtime -> runtime posted its response/error.
    duration_ms: float
    #: Runtime response -> the runtime and all live extensions called ``next`` again.
    post_runtime_extensions_ms: float
    #: INVOKE event queued for each extension registered for INVOKE, by extension name.
    extension_events: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Set when the environment was reset after this invoke ("TIMEOUT" or "FAILURE"); the next invoke re-inits.
    reset_reason: str | None = None
    raw_payload: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ShutdownResult:
    reason: str
    elapsed_ms: float
    #: Extension name -> exit code (negative = signal), None if the sandbox had to SIGKILL it after the budget.
    exit_codes: dict[str, int | None]
    #: Names of processes SIGKILLed because they outlived the budget ("runtime" included if it had to be).
    killed: list[str]
    runtime_exit_code: int | None = None


def _epoch_ms() -> int:
    return int(time.time() * 1000)


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"
