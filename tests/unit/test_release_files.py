"""One version source, the licence the package declares, and a changelog entry for the version."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import genesys_auth

ROOT = Path(__file__).resolve().parents[2]


def test_the_version_is_written_once_and_the_package_metadata_reads_it() -> None:
    project = tomllib.loads((ROOT / "layer" / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "genesys_auth.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", genesys_auth.__version__)
    # The editable install in .venv was built from the same attribute.
    assert importlib.metadata.version("genesys-auth") == genesys_auth.__version__


def test_the_changelog_has_an_entry_for_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{genesys_auth.__version__}]" in changelog


def test_the_license_file_names_the_declared_licence() -> None:
    declared = tomllib.loads((ROOT / "layer" / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License, Version 2.0" in text
    assert f"SPDX-License-Identifier: {declared}" in text


def test_the_urllib3_range_covers_the_pinned_version() -> None:
    dependencies = tomllib.loads((ROOT / "layer" / "pyproject.toml").read_text())["project"]["dependencies"]
    (declared,) = [d for d in dependencies if d.startswith("urllib3")]
    pins = dict(line.split("==", 1) for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    from packaging.requirements import Requirement

    assert Requirement(declared).specifier.contains(pins["urllib3"].strip())
