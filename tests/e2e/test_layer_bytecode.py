"""The built layers carry bytecode for the Lambda target's Python, and that Python uses it.

Lambda mounts layers read-only under /opt, so a module without a matching .pyc is compiled from
source on every cold start. The layers are built once for this module with extension/build_layers.py
(what ``make build`` runs); the target interpreter is the one the build finds (python3.12).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extension"))
try:
    import build_layers
finally:
    sys.path.remove(str(ROOT / "extension"))

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def target() -> tuple[str, str]:
    return build_layers.target_python()


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory, target: tuple[str, str]) -> dict[str, Path]:
    return build_layers.build(tmp_path_factory.mktemp("bytecode-layers"), python=target[0])


def _target_facts(python: str) -> tuple[str, bytes]:
    done = subprocess.run(  # the target's own cache tag and magic number, not this interpreter's
        [
            python,
            "-c",
            "import sys, importlib.util; print(sys.implementation.cache_tag, importlib.util.MAGIC_NUMBER.hex())",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    tag, magic = done.stdout.split()
    return tag, bytes.fromhex(magic)


def test_every_module_of_both_layers_has_unchecked_hash_bytecode_for_the_target(
    layers: dict[str, Path], target: tuple[str, str]
) -> None:
    tag, magic = _target_facts(target[0])
    assert tag == "cpython-" + build_layers.PYTHON_VERSION.replace(".", "")
    for name, layer in layers.items():
        sources = sorted(layer.rglob("*.py"))
        assert len(sources) > 100, f"{name}: expected the library and its dependencies"
        missing, wrong = [], []
        for source in sources:
            pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
            if not pyc.is_file():
                missing.append(str(source.relative_to(layer)))
                continue
            header = pyc.read_bytes()[:8]
            # Flags word 1 = hash-based, not checked against the source: valid for any mtime.
            if header[:4] != magic or int.from_bytes(header[4:8], "little") != 1:
                wrong.append(str(pyc.relative_to(layer)))
        assert missing == [], f"{name}: modules without {tag} bytecode: {missing[:10]}"
        assert wrong == [], f"{name}: bytecode of another version or timestamp-based: {wrong[:10]}"
    assert not any(p.suffix == ".pyc" and p.parent.name != "__pycache__" for p in layers["genesys-auth"].rglob("*"))


def test_the_target_python_imports_the_library_from_bytecode_in_a_read_only_layer(
    layers: dict[str, Path], target: tuple[str, str], tmp_path: Path
) -> None:
    # A copy with every file read-only and its sources dated later than their bytecode (as an
    # unpacked layer may be): timestamp-based bytecode would be stale there and could not be rewritten.
    opt = tmp_path / "opt"
    shutil.copytree(layers["genesys-auth"], opt)
    later = time.time() + 86400
    for path in sorted(opt.rglob("*"), reverse=True):
        if path.suffix == ".py":
            os.utime(path, (later, later))
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    site = opt / "python"
    try:
        done = subprocess.run(
            [target[0], "-v", "-c", "import genesys_auth, requests, urllib3, idna, certifi, charset_normalizer"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"},
            check=True,
            timeout=60,
        )
    finally:
        for path in opt.rglob("*"):
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    # `-v` prints "# code object from '<file>'" for every module it loads, naming the .pyc when it used one.
    loaded = [
        line.split("from ", 1)[1].strip("'")
        for line in done.stderr.splitlines()
        if line.startswith("# code object from")
    ]
    # The library under python/, its dependencies under genesys-auth/lib (joined to sys.path by genesys_auth).
    from_layer = [path for path in loaded if path.startswith(str(opt))]
    assert len(from_layer) > 30
    from_source = [path for path in from_layer if not path.endswith(".pyc")]
    assert from_source == [], f"compiled from source: {from_source[:10]}"


def test_the_build_names_its_interpreter_and_refuses_another_version(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, target: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "mod.py").write_text("VALUE = 1\n")
    assert build_layers.compile_bytecode(tmp_path, target[0]) == 1
    assert f"with Python {target[1]} ({target[0]})" in capsys.readouterr().out
    other = tmp_path / "python3.11"  # answers the version probe as a 3.11 would
    other.write_text("#!/bin/sh\necho 3.11.9\n")
    other.chmod(0o755)
    monkeypatch.setenv(build_layers.PYTHON_ENV, str(other))
    with pytest.raises(build_layers.TargetPythonMissing, match=r"target Python 3\.12: give a python3\.12"):
        build_layers.target_python()
    assert build_layers.main(["--out", str(tmp_path / "out")]) == 2
    assert "the layers target Python 3.12" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before installing anything
