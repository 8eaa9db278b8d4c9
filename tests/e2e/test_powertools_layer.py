"""Our library layer next to the official Powertools layer, in both orders, in the local Lambda sandbox.

Lambda unpacks a function's layers into one /opt, later layers overwriting earlier files. The
official Powertools layer puts ``aws_lambda_powertools`` (and its dependencies) under
``/opt/python``; ours puts only ``genesys_auth`` there and keeps requests, urllib3 and its own
Powertools in ``/opt/genesys-auth/lib``, which ``genesys_auth`` adds to ``sys.path`` right after
``/opt/python``. So in either order no file of one layer replaces a file of the other, the
function gets the Powertools layer's version, and genesys_auth works with it.

The "official Powertools layer" is emulated by a directory with another pip-installed
aws-lambda-powertools release under ``python/`` (as the real layer has it). The runtime is
emulated as Lambda's: an interpreter whose own site-packages hold boto3 (with urllib3) and the
runtime client, but neither requests nor Powertools, so nothing the test checks can come from the
test's own virtualenv.
"""

from __future__ import annotations

import filecmp
import subprocess
import sys
import venv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import App, LeakWatch
from tests.harness.lambda_sandbox import LambdaSandbox

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = Path(__file__).resolve().parent / "powertools_fn"
#: A Powertools release other than the one our layer ships (constraints.txt), so the test can tell them apart.
OFFICIAL_POWERTOOLS = "3.36.0"
#: What Lambda's Python runtime has in its own site-packages: boto3 and its dependencies, the runtime client.
RUNTIME_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "six.py",
    "urllib3",
    "awslambdaric",
    "runtime_client.*.so",
    "simplejson",
    "snapshot_restore_py.py",
)


def _constraint(name: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned in constraints.txt")


@pytest.fixture(scope="module")
def library_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sys.path.insert(0, str(ROOT / "extension"))
    try:
        import build_layers
    finally:
        sys.path.remove(str(ROOT / "extension"))
    layer: Path = build_layers.build_library(tmp_path_factory.mktemp("layers") / "genesys-auth")
    return layer


@pytest.fixture(scope="module")
def powertools_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layer = tmp_path_factory.mktemp("powertools-layer")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--only-binary=:all:",
            "--target",
            str(layer / "python"),
            f"aws-lambda-powertools=={OFFICIAL_POWERTOOLS}",
        ],
        check=True,
    )
    return layer


@pytest.fixture(scope="module")
def lambda_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An interpreter like Lambda's python3.x: boto3 and the runtime client only."""
    home = tmp_path_factory.mktemp("runtime")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(home / "venv")
    site = next((home / "venv" / "lib").glob("python3*/site-packages"))
    ours = Path(next(p for p in sys.path if p.endswith("site-packages") and (Path(p) / "boto3").is_dir()))
    runtime = home / "runtime-site"
    runtime.mkdir()
    for pattern in RUNTIME_PACKAGES:
        for found in ours.glob(pattern):
            (runtime / found.name).symlink_to(found)
    (site / "lambda-runtime.pth").write_text(f"{runtime}\n")
    python = home / "venv" / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "import boto3, awslambdaric, importlib.util as u; print(u.find_spec('requests'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "None", "the emulated runtime must not have requests"
    return str(python)


@pytest.fixture
def run(
    library_layer: Path, lambda_python: str, leaks: LeakWatch, make_app: Callable[..., App]
) -> Iterator[Callable[[list[Path]], tuple[LambdaSandbox, dict[str, Any]]]]:
    made: list[LambdaSandbox] = []

    def invoke(layers: list[Path]) -> tuple[LambdaSandbox, dict[str, Any]]:
        values = make_app().env(GENESYS_TOKEN_EXTENSION="off")
        values.pop("AWS_SESSION_TOKEN", None)  # the sandbox makes a random one, as Lambda does
        box = LambdaSandbox(
            handler="app.handler",
            task_root=FUNCTION_DIR,
            layers=layers,
            env=values,
            python=lambda_python,
            function_name=f"powertools-fn-{len(made)}",
        )
        made.append(box)
        result = box.invoke({})
        assert result.ok, f"{result.error}\n{box.logs()}"
        payload: dict[str, Any] = result.payload
        return box, payload

    yield invoke
    for box in made:
        box.close()
        for text in box.logs().values():
            leaks.feed(text)


def _files(layer: Path) -> list[Path]:
    return [p.relative_to(layer) for p in layer.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_our_layer_and_the_powertools_layer_share_no_file(library_layer: Path, powertools_layer: Path) -> None:
    assert (powertools_layer / "python" / "aws_lambda_powertools").is_dir()
    assert sorted(p.name for p in (library_layer / "python").iterdir()) == ["genesys_auth"]
    assert not set(_files(library_layer)) & set(_files(powertools_layer))


@pytest.mark.parametrize("order", ["ours-first", "powertools-first"])
def test_both_orders_keep_every_file_and_the_function_uses_the_powertools_layer(
    order: str,
    library_layer: Path,
    powertools_layer: Path,
    run: Callable[[list[Path]], tuple[LambdaSandbox, dict[str, Any]]],
) -> None:
    layers = [library_layer, powertools_layer] if order == "ours-first" else [powertools_layer, library_layer]
    box, out = run(layers)
    opt = box.opt_dir
    for layer in layers:  # nothing overwritten, whichever layer Lambda unpacked last
        for relative in _files(layer):
            assert filecmp.cmp(layer / relative, opt / relative, shallow=False), f"{relative} clobbered ({order})"

    assert out["status"] == 200  # genesys_auth read the secret through the layer's Powertools and called Genesys
    assert out["powertools_version"] == OFFICIAL_POWERTOOLS
    assert Path(out["powertools_file"]).is_relative_to(opt / "python")
    assert Path(out["genesys_auth_file"]).is_relative_to(opt / "python" / "genesys_auth")
    lib = opt / "genesys-auth" / "lib"
    assert Path(out["requests_file"]).is_relative_to(lib)
    assert Path(out["urllib3_file"]).is_relative_to(lib)  # ahead of the runtime's own urllib3
    assert out["urllib3_version"] == _constraint("urllib3")
    path = out["sys_path"]
    assert path.index(str(lib)) == path.index(str(opt / "python")) + 1


def test_without_the_powertools_layer_the_function_uses_ours(
    library_layer: Path, run: Callable[[list[Path]], tuple[LambdaSandbox, dict[str, Any]]]
) -> None:
    box, out = run([library_layer])
    assert out["status"] == 200
    assert out["powertools_version"] == _constraint("aws-lambda-powertools")
    assert Path(out["powertools_file"]).is_relative_to(box.opt_dir / "genesys-auth" / "lib")
