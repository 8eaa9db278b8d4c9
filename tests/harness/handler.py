"""Calling a function's handler in this process, as Lambda would (demo stages share this)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_APP = ROOT / "functions" / "example" / "app.py"


class Context:
    """The two things a handler reads from Lambda's context object."""

    def __init__(self, timeout_s: float, request_id: str) -> None:
        self.deadline = time.monotonic() + timeout_s
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def load_handler(path: Path = EXAMPLE_APP, name: str = "example_app") -> ModuleType:
    """Import a handler module under its own name: a fresh import is a fresh container."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
