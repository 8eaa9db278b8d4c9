"""Build the two Lambda layers into a directory (``make build`` -> build/layers/).

    <out>/genesys-auth/python/genesys_auth           the library, alone under python/
    <out>/genesys-auth/genesys-auth/lib/             its dependencies (genesys_auth/layer_path.py
                                                     puts them on sys.path after /opt/python)
    <out>/genesys-token/extensions/genesys-token     the extension's bootstrap (executable)
    <out>/genesys-token/genesys-token/genesys_token  the extension's code
    <out>/genesys-token/genesys-token/lib/           its own genesys_auth + dependencies

Dependencies are installed for the Lambda target (``--platform manylinux2014_aarch64
--python-version 3.12 --only-binary=:all:``) at the versions of ``constraints.txt`` (the ones the
suite ran with). boto3/botocore are left out of both layers: every Lambda Python runtime ships
them, in the interpreter's own site-packages, which the extension's ``python3`` sees as well.
Nothing but ``genesys_auth`` lands in ``/opt/python``, so no file of another layer (the official
Powertools layer) is overwritten by ours or overwrites ours. The extension layer does not rely on
the library layer being attached.

Each layer ends with its bytecode, compiled by the target's own Python (``--python``, else
``$LAYER_PYTHON``, else a python3.12 found on PATH or under pyenv; the build fails if there is
none): ``/opt`` is read-only on Lambda, so a layer without ``.pyc`` files is compiled from source
on every cold start. The ``.pyc`` files are unchecked-hash based, valid whatever mtime the
unpacked files get, and name their sources by their paths under ``/opt``.

    python extension/build_layers.py [--out build/layers] [--only genesys-auth|genesys-token|genesys-sdk [--layer-dir DIR]]
                                     [--python PATH] [--sdk-eager-init]

The third layer, genesys-sdk (the official SDK for ``genesys_auth.sdk``), is described above ``build_sdk``.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "layer"
EXTENSION = ROOT / "extension"
CONSTRAINTS = ROOT / "constraints.txt"
LAYERS = ("genesys-auth", "genesys-token")
IN_RUNTIME = {"boto3", "botocore", "s3transfer"}  # provided by every Lambda Python runtime
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.12"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
#: Where Lambda unpacks every layer; the .pyc files name their sources under it.
LAYER_ROOT = "/opt"
PYTHON_ENV = "LAYER_PYTHON"


class TargetPythonMissing(RuntimeError):
    """No interpreter of the Lambda target's version to compile the layers' bytecode with."""


def _version_of(python: str) -> str | None:
    """``X.Y.Z`` of an interpreter, or None if it does not run (a pyenv shim of an inactive version)."""
    try:
        done = subprocess.run(  # noqa: S603 - runs the interpreter the build was told or found
            [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _candidates(version: str) -> list[str]:
    found = [sys.executable]
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    # Newest patch release first; sorted as numbers so 3.12.10 comes before 3.12.9.
    installed = glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", f"python{version}"))
    found += sorted(
        installed, key=lambda p: [int(x) for x in re.findall(r"\d+", Path(p).parents[1].name)], reverse=True
    )
    return found


def target_python(explicit: str | None = None, version: str = PYTHON_VERSION) -> tuple[str, str]:
    """(path, full version) of the interpreter that compiles the layers: ``explicit``, else
    ``$LAYER_PYTHON``, else this interpreter if it is ``version``, else python<version> on PATH or
    under pyenv. Raises :class:`TargetPythonMissing` naming what was tried and how to fix it."""
    chosen = explicit or os.environ.get(PYTHON_ENV)
    if chosen:
        full = _version_of(chosen)
        if full is None or not full.startswith(f"{version}."):
            raise TargetPythonMissing(
                f"{chosen} (from --python or ${PYTHON_ENV}) is {'not runnable' if full is None else 'Python ' + full}; "
                f"the layers target Python {version}: give a python{version}"
            )
        return chosen, full
    for candidate in _candidates(version):
        full = _version_of(candidate)
        if full is not None and full.startswith(f"{version}."):
            return candidate, full
    raise TargetPythonMissing(
        f"no Python {version} found (tried {sys.executable}, python{version} on PATH and pyenv); the layers' "
        f"bytecode must be compiled by the Lambda target's Python: install it (pyenv install {version}) "
        f"or pass --python /path/to/python{version} (or set ${PYTHON_ENV})"
    )


def _requirements() -> list[str]:
    project = tomllib.loads((LIBRARY / "pyproject.toml").read_text())["project"]
    keep = []
    for spec in project["dependencies"]:
        name = re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0].lower()
        if name not in IN_RUNTIME:
            keep.append(spec)
    return keep


def _pip_install(target: Path, requirements: list[str], platform: str, python_version: str) -> None:
    """``requirements`` for the Lambda platform, at the tested versions (constraints.txt), into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed argv: pip with the requirements of layer/pyproject.toml
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
            "--constraint",
            str(CONSTRAINTS),
            *requirements,
        ],
        check=True,
    )
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts are no use in a layer


def _dependencies(target: Path, platform: str, python_version: str) -> None:
    """genesys_auth's dependencies (minus the runtime's boto3), at the tested versions, into ``target``."""
    _pip_install(target, _requirements(), platform, python_version)


def _site(target: Path, platform: str, python_version: str) -> None:
    """genesys_auth and its dependencies side by side in ``target`` (the extension's own lib/)."""
    _dependencies(target, platform, python_version)
    shutil.copytree(LIBRARY / "genesys_auth", target / "genesys_auth", ignore=_IGNORE, dirs_exist_ok=True)


def compile_bytecode(layer: Path, python: str | None = None, *, version: str = PYTHON_VERSION) -> int:
    """Compile every ``.py`` under ``layer`` with the target Python; returns how many were compiled.

    Unchecked-hash ``.pyc`` files: Lambda unpacks layers with arbitrary mtimes into a read-only
    ``/opt``, where timestamp-based ones would be stale and could not be rewritten. Sources are
    named by their path under /opt, so the output does not depend on the build directory."""
    path, full = target_python(python, version)
    sources = [p for p in layer.rglob("*.py") if p.is_file()]
    subprocess.run(  # noqa: S603 - the target interpreter's own compileall on our build directory
        [
            path,
            "-m",
            "compileall",
            "-q",
            "-f",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(layer),
            "-p",
            LAYER_ROOT,
            str(layer),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"compiled {len(sources)} modules in {layer} with Python {full} ({path})")
    return len(sources)


def build_library(
    layer: Path, *, platform: str = PLATFORM, python_version: str = PYTHON_VERSION, python: str | None = None
) -> Path:
    """The library layer's content into ``layer`` (replaced): python/genesys_auth, genesys-auth/lib.
    ``python``: the interpreter that compiles its bytecode (see :func:`target_python`)."""
    shutil.rmtree(layer / "python", ignore_errors=True)
    shutil.rmtree(layer / "genesys-auth", ignore_errors=True)
    _dependencies(layer / "genesys-auth" / "lib", platform, python_version)
    shutil.copytree(LIBRARY / "genesys_auth", layer / "python" / "genesys_auth", ignore=_IGNORE)
    compile_bytecode(layer, python, version=python_version)
    return layer


def build_extension(
    layer: Path,
    *,
    platform: str = PLATFORM,
    python_version: str = PYTHON_VERSION,
    site: Path | None = None,
    python: str | None = None,
) -> Path:
    """The extension layer's content into ``layer`` (replaced). ``site``: an already built library
    layer whose content to copy instead of installing again."""
    code = layer / "genesys-token"
    bootstrap = layer / "extensions" / "genesys-token"
    shutil.rmtree(code, ignore_errors=True)
    if site is not None:
        shutil.copytree(site / "genesys-auth" / "lib", code / "lib", ignore=_IGNORE)
        shutil.copytree(site / "python" / "genesys_auth", code / "lib" / "genesys_auth", ignore=_IGNORE)
    else:
        _site(code / "lib", platform, python_version)
    shutil.copytree(EXTENSION / "genesys_token", code / "genesys_token", ignore=_IGNORE)
    bootstrap.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXTENSION / "bootstrap", bootstrap)
    bootstrap.chmod(bootstrap.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    compile_bytecode(layer, python, version=python_version)
    return layer


def build(out: Path, only: str | None = None, *, python: str | None = None) -> dict[str, Path]:
    """Build the layers (both, or ``only`` one) as ``out/<name>``; returns name -> layer directory."""
    built: dict[str, Path] = {}
    if only in (None, "genesys-auth"):
        built["genesys-auth"] = build_library(out / "genesys-auth", python=python)
    if only in (None, "genesys-token"):
        site = built.get("genesys-auth")
        built["genesys-token"] = build_extension(out / "genesys-token", site=site, python=python)
    return built


# -- The SDK layer (genesys-sdk): PureCloudPlatformClientV2 for genesys_auth.sdk ------------------
#
#     <out>/genesys-sdk/python/PureCloudPlatformClientV2   the SDK, alone under python/
#     <out>/genesys-sdk/genesys-sdk/lib/                    its dependencies (the SDK's __init__,
#                                                           rewritten here, puts them on sys.path)
#
# Attach it together with the library layer. As there, nothing but one package of a name only we
# use lands in /opt/python. The dependencies are resolved with the library's requirements and
# constraints.txt, so a package both layers hold (urllib3, certifi) has the same version in both,
# whichever directory comes first on sys.path. The SDK's import (its __init__ imports ~6,650 model
# modules) is what a cold start pays: the layer has bytecode (compile_bytecode) and lazy
# __init__ files (below).

SDK_LAYER = "genesys-sdk"
SDK_PACKAGE = "PureCloudPlatformClientV2"


def _sdk_requirements() -> list[str]:
    project = tomllib.loads((LIBRARY / "pyproject.toml").read_text())["project"]
    return list(project["optional-dependencies"]["sdk"])


def build_sdk(
    layer: Path,
    *,
    platform: str = PLATFORM,
    python_version: str = PYTHON_VERSION,
    python: str | None = None,
    bytecode: bool = True,
    lazy_init: bool = True,
) -> Path:
    """The SDK layer's content into ``layer`` (replaced): python/PureCloudPlatformClientV2, genesys-sdk/lib."""
    shutil.rmtree(layer / "python", ignore_errors=True)
    shutil.rmtree(layer / SDK_LAYER, ignore_errors=True)
    lib = layer / SDK_LAYER / "lib"
    _pip_install(lib, _sdk_requirements(), platform, python_version)
    (layer / "python").mkdir()
    shutil.move(lib / SDK_PACKAGE, layer / "python" / SDK_PACKAGE)
    init = layer / "python" / SDK_PACKAGE / "__init__.py"
    source = init.read_text()
    for package in LAZY_PACKAGES if lazy_init else ():
        package_init = layer / "python" / package / "__init__.py"
        package_init.write_text(lazy_init_source(package_init.read_text(), package))
    if not lazy_init:
        future = "from __future__ import absolute_import\n"
        head, found, rest = source.partition(future)
        init.write_text(head + found + _SDK_LIB_PATH + rest if found else _SDK_LIB_PATH + source)
    if bytecode:
        compile_bytecode(layer, python, version=python_version)
    return layer


#: First lines of the layer's PureCloudPlatformClientV2/__init__.py: the layer's dependency
#: directory joins sys.path right after /opt/python (as genesys_auth/layer_path.py does for the
#: library), before the runtime's bundled copies. Outside the layer there is no such directory.
_SDK_LIB_PATH = """import os as _os
import sys as _sys


def _add_layer_dependencies():
    home = _os.path.dirname(_os.path.dirname(_os.path.realpath(__file__)))
    lib = _os.path.realpath(_os.path.join(home, _os.pardir, "genesys-sdk", "lib"))
    if not _os.path.isdir(lib):
        return
    real = [_os.path.realpath(entry) if entry else "" for entry in _sys.path]
    if lib not in real:
        _sys.path.insert(real.index(home) + 1 if home in real else len(_sys.path), lib)


_add_layer_dependencies()
"""


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
{prelude}
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
    prelude = "\n" + _SDK_LIB_PATH if package == SDK_PACKAGE else ""
    return _LAZY_TEMPLATE.format(lazy=lazy, tail=extra, prelude=prelude)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "layers")
    parser.add_argument("--only", choices=(*LAYERS, SDK_LAYER))
    parser.add_argument("--layer-dir", type=Path, help="with --only: write that layer's content here (sam build)")
    parser.add_argument(
        "--python", help=f"Python {PYTHON_VERSION} that compiles the bytecode (default: ${PYTHON_ENV}, PATH, pyenv)"
    )
    parser.add_argument("--sdk-eager-init", action="store_true", help=f"{SDK_LAYER}: keep the SDK's own __init__ files")
    args = parser.parse_args(argv)
    try:
        target_python(args.python)  # before pip runs: a missing interpreter fails the build at once
        if args.only == SDK_LAYER:
            layer = args.layer_dir or args.out / SDK_LAYER
            built = {SDK_LAYER: build_sdk(layer, python=args.python, lazy_init=not args.sdk_eager_init)}
        elif args.layer_dir is not None:
            if args.only is None:
                parser.error("--layer-dir needs --only")
            builder = build_library if args.only == "genesys-auth" else build_extension
            built = {args.only: builder(args.layer_dir, python=args.python)}
        else:
            built = build(args.out, args.only, python=args.python)
            if args.only is None:  # make build: all three (build() itself stays the two the e2e tests use)
                layer = args.out / SDK_LAYER
                built[SDK_LAYER] = build_sdk(layer, python=args.python, lazy_init=not args.sdk_eager_init)
    except TargetPythonMissing as exc:
        print(f"build_layers: {exc}", file=sys.stderr)
        return 2
    for name, path in built.items():
        print(f"built {name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
