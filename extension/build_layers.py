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

    python extension/build_layers.py [--out build/layers] [--only genesys-auth|genesys-token [--layer-dir DIR]]
"""

from __future__ import annotations

import argparse
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


def _requirements() -> list[str]:
    project = tomllib.loads((LIBRARY / "pyproject.toml").read_text())["project"]
    keep = []
    for spec in project["dependencies"]:
        name = re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0].lower()
        if name not in IN_RUNTIME:
            keep.append(spec)
    return keep


def _dependencies(target: Path, platform: str, python_version: str) -> None:
    """genesys_auth's dependencies (minus the runtime's boto3), at the tested versions, into ``target``."""
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
            *_requirements(),
        ],
        check=True,
    )
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts are no use in a layer


def _site(target: Path, platform: str, python_version: str) -> None:
    """genesys_auth and its dependencies side by side in ``target`` (the extension's own lib/)."""
    _dependencies(target, platform, python_version)
    shutil.copytree(LIBRARY / "genesys_auth", target / "genesys_auth", ignore=_IGNORE, dirs_exist_ok=True)


def build_library(layer: Path, *, platform: str = PLATFORM, python_version: str = PYTHON_VERSION) -> Path:
    """The library layer's content into ``layer`` (replaced): python/genesys_auth, genesys-auth/lib."""
    shutil.rmtree(layer / "python", ignore_errors=True)
    shutil.rmtree(layer / "genesys-auth", ignore_errors=True)
    _dependencies(layer / "genesys-auth" / "lib", platform, python_version)
    shutil.copytree(LIBRARY / "genesys_auth", layer / "python" / "genesys_auth", ignore=_IGNORE)
    return layer


def build_extension(
    layer: Path, *, platform: str = PLATFORM, python_version: str = PYTHON_VERSION, site: Path | None = None
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
    return layer


def build(out: Path, only: str | None = None) -> dict[str, Path]:
    """Build the layers (both, or ``only`` one) as ``out/<name>``; returns name -> layer directory."""
    built: dict[str, Path] = {}
    if only in (None, "genesys-auth"):
        built["genesys-auth"] = build_library(out / "genesys-auth")
    if only in (None, "genesys-token"):
        site = built.get("genesys-auth")
        built["genesys-token"] = build_extension(out / "genesys-token", site=site)
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "layers")
    parser.add_argument("--only", choices=LAYERS)
    parser.add_argument("--layer-dir", type=Path, help="with --only: write that layer's content here (sam build)")
    args = parser.parse_args(argv)
    if args.layer_dir is not None:
        if args.only is None:
            parser.error("--layer-dir needs --only")
        builder = build_library if args.only == "genesys-auth" else build_extension
        built = {args.only: builder(args.layer_dir)}
    else:
        built = build(args.out, args.only)
    for name, path in built.items():
        print(f"built {name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
