"""Dependency pinning (issue 13 build 1): constraints.txt pins every package drgdip and its
extras install; the README's install commands and .ci/run use it; what is installed here is
what it pins, so a new polars release cannot change behaviour unseen."""

from __future__ import annotations

import importlib.util
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def freeze():  # the .ci script, imported from its file
    spec = importlib.util.spec_from_file_location("freeze_constraints",
                                                  ROOT / ".ci" / "freeze_constraints.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["freeze_constraints"] = module
    spec.loader.exec_module(module)
    return module


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            out[canonicalize_name(name)] = version
    return out


def test_every_requirement_is_pinned_within_its_range() -> None:
    pinned = pins()
    for req in freeze().project_requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req} is not pinned in constraints.txt"
        assert req.specifier.contains(pinned[name], prereleases=True), (req, pinned[name])


def test_installed_versions_are_the_pinned_ones() -> None:
    pinned = pins()
    installed, _ = freeze().closure(freeze().project_requirements())
    installed.pop("drgdip", None)
    for name, version in installed.items():  # extras not installed here are skipped
        assert pinned.get(name) == version, (
            f"{name} {version} installed, constraints.txt pins {pinned.get(name)}: "
            "run python .ci/freeze_constraints.py and review the change")
    for name in ("polars", "duckdb", "pyarrow"):  # the libraries whose behaviour we pin
        assert metadata.version(name) == pinned[name]


def test_install_commands_use_the_constraints() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("```", 2)[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for text in (quickstart, ci, docker):
        commands = re.findall(r"pip install [^&\n]*", text)
        project = [c for c in commands if re.search(r"(^|\s)(\.|\"\.\[[^\"]*\]\")(\s|$)", c)]
        assert project, text
        assert all("-c constraints.txt" in c for c in project), project
