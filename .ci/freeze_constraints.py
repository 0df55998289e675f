"""Write constraints.txt: the versions installed now of every package drgdip needs.

The closure of the requirements in pyproject.toml (the dependencies and every extra) is walked
through the installed distributions' metadata (markers evaluated for this interpreter) and each
one is pinned to the installed version. The README's install commands and `.ci/run` pass the
file with `pip install -c constraints.txt …`, so a new polars (or DuckDB, pyarrow …) release
cannot change behaviour unseen: upgrading is a reviewed change of this file.

    python .ci/freeze_constraints.py            # rewrite constraints.txt
    python .ci/freeze_constraints.py --check    # exit 1 if it would change
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "constraints.txt"
HEADER = ("# Pinned versions of everything drgdip installs (dependencies and all extras), from\n"
          "# the environment they were tested in. Regenerate: python .ci/freeze_constraints.py\n"
          "# Used as: pip install -c constraints.txt \".[test]\" (README, .ci/run)\n")


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        reqs += [Requirement(r) for r in extra]
    return reqs


def closure(reqs: list[Requirement]) -> tuple[dict[str, str], list[str]]:
    """name → installed version for the requirement closure; names not installed."""
    pins: dict[str, str] = {}
    missing: list[str] = []
    todo = [(r, frozenset(r.extras)) for r in reqs]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        pins[name] = dist.version
        for text in dist.requires or []:
            sub = Requirement(text)
            env = default_environment()
            wanted = [""] + sorted(extras)
            if sub.marker is not None and not any(
                    sub.marker.evaluate({**env, "extra": e}) for e in wanted):
                continue
            todo.append((sub, frozenset(sub.extras)))
    return pins, sorted(set(missing))


def render() -> tuple[str, list[str]]:
    pins, missing = closure(project_requirements())
    pins.pop("drgdip", None)
    body = "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))
    return HEADER + body, missing


def main(argv: list[str]) -> int:
    text, missing = render()
    if missing:
        print(f"not installed, not pinned: {', '.join(missing)}", file=sys.stderr)
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != text:
            print("constraints.txt differs from the installed versions; run "
                  "python .ci/freeze_constraints.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.name}: {text.count(chr(10)) - HEADER.count(chr(10))} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
