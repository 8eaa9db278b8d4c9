"""The Lambda Python runtime's interpreter, for benchmarks and e2e tests: python3.12 with what the
runtime ships beside it (boto3, botocore and AWS's runtime interface client), never the layers'
packages. Kept in ``.venv-py312`` and made on first use from the pins of requirements-dev.txt.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_PACKAGES = ("boto3", "botocore", "awslambdaric")


class LambdaPythonMissing(RuntimeError):
    """No Python of the Lambda target's version on this machine; the message says how to get one."""


def _build_layers() -> ModuleType:
    sys.path.insert(0, str(ROOT / "extension"))
    try:
        import build_layers
    finally:
        sys.path.remove(str(ROOT / "extension"))
    return build_layers


def _pins() -> list[str]:
    wanted = set(RUNTIME_PACKAGES)
    pins = []
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        name = re.split(r"[\s<>=!~;\[]", line.strip(), maxsplit=1)[0].lower()
        if name in wanted:
            pins.append(line.strip())
    return sorted(pins)


def lambda_python() -> tuple[Path, str]:
    """(interpreter, its version) of the runtime venv, made now if missing or out of date."""
    build_layers = _build_layers()
    try:
        base, version = build_layers.target_python()
    except build_layers.TargetPythonMissing as exc:
        raise LambdaPythonMissing(str(exc)) from None
    short = build_layers.PYTHON_VERSION
    venv = ROOT / f".venv-py{short.replace('.', '')}"
    stamp = venv / ".installed"
    want = "\n".join([version, *_pins()])
    python = venv / "bin" / "python"
    if stamp.is_file() and stamp.read_text() == want and python.exists():
        return python, version
    # The stamp is written last, so a venv left half-made by an interrupted run is made again.
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *_pins()],
            check=True,
            timeout=600,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-3:]
        raise LambdaPythonMissing(f"could not make {venv.name} with {base}: {' / '.join(tail)}") from None
    except (subprocess.SubprocessError, OSError) as exc:
        raise LambdaPythonMissing(f"could not make {venv.name} with {base}: {exc}") from None
    stamp.write_text(want)
    return python, version


def add_bytecode(opt: Path, layer: Path) -> int:
    """Copy the layer's ``__pycache__`` directories into ``opt``, where the layer was unpacked
    without them (the local sandbox drops .pyc files when it copies layers); returns how many."""
    copied = 0
    for cache in layer.rglob("__pycache__"):
        target = opt / cache.relative_to(layer)
        if target.parent.is_dir():
            shutil.copytree(cache, target, dirs_exist_ok=True)
            copied += 1
    return copied
