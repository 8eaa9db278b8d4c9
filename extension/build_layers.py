"""Build the two Lambda layers into a directory (``make build`` -> build/layers/).

    <out>/genesys-auth/python/                       genesys_auth + its pure-Python dependencies
    <out>/genesys-token/extensions/genesys-token     the extension's bootstrap (executable)
    <out>/genesys-token/genesys-token/genesys_token  the extension's code
    <out>/genesys-token/genesys-token/lib/           its own genesys_auth + dependencies

Dependencies are installed for the Lambda target (``--platform manylinux2014_aarch64
--python-version 3.12 --only-binary=:all:``). boto3/botocore are left out of both layers: every
Lambda Python runtime ships them, in the interpreter's own site-packages, which the extension's
``python3`` sees as well. The extension layer does not rely on the library layer being attached.

    python extension/build_layers.py [--out build/layers] [--only genesys-auth|genesys-token|genesys-sdk [--layer-dir DIR]]

The third layer, genesys-sdk (the official SDK for ``genesys_auth.sdk``), is described above ``build_sdk``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "layer"
EXTENSION = ROOT / "extension"
LAYERS = ("genesys-auth", "genesys-token")
IN_RUNTIME = {"boto3", "botocore", "s3transfer"}  # provided by every Lambda Python runtime
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.12"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _requirements() -> list[str]:
    project = tomllib.loads((LIBRARY / "pyproject.toml").read_text())["project"]
    keep = []
    for spec in project["dependencies"]:
        name = re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0].lower()
        if name not in IN_RUNTIME:
            keep.append(spec)
    return keep


def _site(target: Path, platform: str, python_version: str) -> None:
    """genesys_auth and its dependencies (minus the runtime's boto3) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed argv: pip with the pinned requirements of layer/pyproject.toml
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--upgrade",
            "--target",
            str(target),
            "--platform",
            platform,
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--only-binary=:all:",
            *_requirements(),
        ],
        check=True,
    )
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts are no use in a layer
    shutil.copytree(LIBRARY / "genesys_auth", target / "genesys_auth", ignore=_IGNORE, dirs_exist_ok=True)


def build_library(layer: Path, *, platform: str = PLATFORM, python_version: str = PYTHON_VERSION) -> Path:
    """The library layer's content into ``layer`` (replaced)."""
    shutil.rmtree(layer / "python", ignore_errors=True)
    _site(layer / "python", platform, python_version)
    return layer


def build_extension(
    layer: Path, *, platform: str = PLATFORM, python_version: str = PYTHON_VERSION, site: Path | None = None
) -> Path:
    """The extension layer's content into ``layer`` (replaced). ``site``: an already built library
    site to copy instead of installing again."""
    code = layer / "genesys-token"
    bootstrap = layer / "extensions" / "genesys-token"
    shutil.rmtree(code, ignore_errors=True)
    if site is not None:
        shutil.copytree(site, code / "lib", ignore=_IGNORE)
    else:
        _site(code / "lib", platform, python_version)
    shutil.copytree(EXTENSION / "genesys_token", code / "genesys_token", ignore=_IGNORE)
    bootstrap.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXTENSION / "bootstrap", bootstrap)
    bootstrap.chmod(bootstrap.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return layer


def build(out: Path, only: str | None = None) -> dict[str, Path]:
    """Build the layers (both, or ``only`` one) as ``out/<name>``; returns name -> layer directory."""
    built: dict[str, Path] = {}
    if only in (None, "genesys-auth"):
        built["genesys-auth"] = build_library(out / "genesys-auth")
    if only in (None, "genesys-token"):
        site = built["genesys-auth"] / "python" if "genesys-auth" in built else None
        built["genesys-token"] = build_extension(out / "genesys-token", site=site)
    return built


# -- The SDK layer (genesys-sdk): PureCloudPlatformClientV2 for genesys_auth.sdk ------------------
#
#     <out>/genesys-sdk/python/   the SDK and the dependencies the library layer does not already
#                                 hold, with bytecode compiled by Python 3.12 (the Lambda runtime)
#
# Attach it together with the library layer. Without bytecode the SDK's import (its __init__
# imports ~6,600 model modules) takes seconds longer on every cold start: Lambda's /opt is
# read-only, so nothing compiled at import time is ever kept. The .pyc files are unchecked-hash:
# the zip round trip changes source mtimes, which would make timestamp .pyc files stale.

SDK_LAYER = "genesys-sdk"


def _sdk_requirements() -> list[str]:
    project = tomllib.loads((LIBRARY / "pyproject.toml").read_text())["project"]
    return list(project["optional-dependencies"]["sdk"])


def _pip_target(platform: str, python_version: str) -> list[str]:
    return [
        "--platform",
        platform,
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
    ]


def _library_distributions(platform: str, python_version: str) -> set[str]:
    """Normalised names of what the library layer installs (resolved, not installed)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = _resolve(scratch, platform, python_version)
    return {_normalise(entry["metadata"]["name"]) for entry in json.loads(report)["install"]}


def _resolve(scratch: str, platform: str, python_version: str) -> str:
    return subprocess.run(  # noqa: S603 - fixed argv: pip resolving the library's own requirements
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--dry-run",
            "--ignore-installed",
            "--report",
            "-",
            "--target",  # pip accepts the platform options only with a target; nothing is written
            scratch,
            *_pip_target(platform, python_version),
            *_requirements(),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _remove_distribution(site: Path, dist_info: Path) -> None:
    """Delete one installed distribution by its RECORD (the files pip wrote for it)."""
    tops = set()
    for line in (dist_info / "RECORD").read_text().splitlines():
        relative = line.split(",", 1)[0]
        if relative:
            (site / relative).unlink(missing_ok=True)
            tops.add(relative.split("/", 1)[0])
    shutil.rmtree(dist_info, ignore_errors=True)
    for top in tops:
        directory = site / top
        if directory.is_dir() and not any(path.is_file() for path in directory.rglob("*")):
            shutil.rmtree(directory)  # only the empty package directories the RECORD listed


def lambda_python(version: str = PYTHON_VERSION) -> str:
    """A python<version> to compile bytecode the Lambda runtime accepts (same magic number)."""
    candidates = [sys.executable] if f"{sys.version_info[0]}.{sys.version_info[1]}" == version else []
    pyenv = shutil.which("pyenv")
    if pyenv:
        installed = subprocess.run(  # noqa: S603 - fixed argv
            [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
        ).stdout.split()
        for candidate in sorted((v for v in installed if v.startswith(version + ".")), reverse=True):
            prefix = subprocess.run(  # noqa: S603 - fixed argv
                [pyenv, "prefix", candidate], capture_output=True, text=True, check=False
            ).stdout.strip()
            candidates.append(str(Path(prefix) / "bin" / f"python{version}"))
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)  # last: a pyenv shim on PATH may not be runnable
    for candidate in candidates:
        probe = subprocess.run(  # noqa: S603 - fixed argv: does this interpreter run, and is it <version>?
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    raise SystemExit(
        f"the {SDK_LAYER} layer's bytecode must be compiled by Python {version} (the Lambda runtime's); "
        f"put python{version} on PATH (pyenv install {version}) or pass --python"
    )


def compile_bytecode(site: Path, python: str) -> None:
    subprocess.run(  # noqa: S603 - fixed argv: the Lambda target's compileall over the layer
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(site)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def build_sdk(
    layer: Path,
    *,
    platform: str = PLATFORM,
    python_version: str = PYTHON_VERSION,
    python: str | None = None,
    bytecode: bool = True,
    lazy_init: bool = True,
) -> Path:
    """The SDK layer's content into ``layer`` (replaced)."""
    site = layer / "python"
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    # Resolved together with the library's requirements so that a package both need (urllib3,
    # certifi) gets the version the library layer holds; the library layer then provides it.
    subprocess.run(  # noqa: S603 - fixed argv: pip with the pinned requirements of layer/pyproject.toml
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(site),
            *_pip_target(platform, python_version),
            *_requirements(),
            *_sdk_requirements(),
        ],
        check=True,
    )
    shutil.rmtree(site / "bin", ignore_errors=True)
    provided = _library_distributions(platform, python_version) | IN_RUNTIME
    for dist_info in sorted(site.glob("*.dist-info")):
        name = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        if _normalise(name) in provided:
            _remove_distribution(site, dist_info)
    if lazy_init:
        for package in LAZY_PACKAGES:
            init = site / package / "__init__.py"
            init.write_text(lazy_init_source(init.read_text(), package))
    if bytecode:
        compile_bytecode(site, python or lambda_python(python_version))
    return layer


# The SDK's __init__ files import every model (6,650) and every API (176) up front, although a
# function uses a few. The layer replaces them with PEP 562 module __getattr__ that imports a name
# on first use: same names, same modules, same objects (the SDK's deserializer looks models up as
# attributes of PureCloudPlatformClientV2.models, which still works). Only the order and moment
# of import change; `--sdk-eager-init` builds the SDK's own files instead.
LAZY_PACKAGES = ("PureCloudPlatformClientV2", "PureCloudPlatformClientV2/models", "PureCloudPlatformClientV2/apis")
_EAGER_IMPORT = re.compile(r"from (\.[\w.]+) import (\w+)\s*$")
_LAZY_TEMPLATE = """# Written by genesys-auth's extension/build_layers.py in place of the SDK's own __init__, which
# imported every name below eagerly: each is now imported on first use (PEP 562).
from __future__ import absolute_import

import importlib as _importlib

_LAZY = {lazy!r}
__all__ = list(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        try:
            return _importlib.import_module("." + name, __name__)
        except ModuleNotFoundError as exc:
            if exc.name != __name__ + "." + name:
                raise
            raise AttributeError("module %r has no attribute %r" % (__name__, name)) from None
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
{tail}"""


def lazy_init_source(text: str, package: str) -> str:
    """A lazy ``__init__`` with the same names as the SDK's eager one (``text``)."""
    lazy: dict[str, str] = {}
    tail: list[str] = []
    for line in text.splitlines():
        match = _EAGER_IMPORT.match(line.strip())
        if match:
            lazy[match.group(2)] = match.group(1)
        elif line.strip() and not line.lstrip().startswith("#") and "absolute_import" not in line:
            tail.append(line.strip())
    extra = ""
    if tail:
        # The package's own statements (`configuration = Configuration()`) still run at import.
        needed = sorted({name for name in lazy if any(re.search(rf"\b{name}\b", stmt) for stmt in tail)})
        imports = "".join(f"from {lazy[name]} import {name}\n" for name in needed)
        extra = "\n\n" + imports + "\n".join(tail) + "\n"
    if not lazy:
        raise SystemExit(f"{package}/__init__.py has no eager imports to defer: the SDK layout changed")
    return _LAZY_TEMPLATE.format(lazy=lazy, tail=extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "layers")
    parser.add_argument("--only", choices=(*LAYERS, SDK_LAYER))
    parser.add_argument("--layer-dir", type=Path, help="with --only: write that layer's content here (sam build)")
    parser.add_argument("--python", help=f"{SDK_LAYER}: the python3.12 that compiles its bytecode")
    parser.add_argument("--sdk-eager-init", action="store_true", help=f"{SDK_LAYER}: keep the SDK's own __init__ files")
    args = parser.parse_args(argv)
    if args.only == SDK_LAYER:
        built = {
            SDK_LAYER: build_sdk(
                args.layer_dir or args.out / SDK_LAYER, python=args.python, lazy_init=not args.sdk_eager_init
            )
        }
    elif args.layer_dir is not None:
        if args.only is None:
            parser.error("--layer-dir needs --only")
        builder = build_library if args.only == "genesys-auth" else build_extension
        built = {args.only: builder(args.layer_dir)}
    else:
        built = build(args.out, args.only)
        if args.only is None:  # make build: all three (build() itself stays the two the e2e tests use)
            built[SDK_LAYER] = build_sdk(args.out / SDK_LAYER, python=args.python, lazy_init=not args.sdk_eager_init)
    for name, path in built.items():
        print(f"built {name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
