"""Before and after in one run: a benchmark script run from an earlier commit's tree and from the
working tree, alternately, its output lines printed side by side.

The earlier tree is `git archive <ref>` of the code and the fixture region, unpacked in a
temporary directory (nothing is checked out; the worktree is untouched). Each tree runs its own
copy of the script, so a script whose imports moved still runs at both commits. The runs
alternate (before, after, before, …) so a change of load on a shared machine hits both.

Usage:
python bench/compare_refs.py --ref 522f28b [--rounds 2] -- bench/bench_estimate.py --cases 5000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = ("api", "bench", "engine", "grouper", "weights", "loadtests", "data/fixtures/region",
         "pyproject.toml")


def export(ref: str, target: Path) -> None:
    present = [p for p in PATHS if subprocess.run(
        ["git", "cat-file", "-e", f"{ref}:{p}"], cwd=ROOT, capture_output=True,
        check=False).returncode == 0]
    tar = subprocess.run(["git", "archive", ref, *present], cwd=ROOT, check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        archive.extractall(target, filter="data")


def run(tree: Path, script: list[str]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, *script], cwd=tree, env=env, capture_output=True,
                          check=False,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {' '.join(script)} failed:\n{done.stderr[-2000:]}")
    return done.stdout.rstrip("\n").splitlines()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", required=True, help="the earlier commit")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("script", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    script = [a for a in args.script if a != "--"] if args.script else []
    if not script:
        ap.error("name the benchmark script after --")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="drgdip-before-") as tmp:
        before_tree = Path(tmp)
        export(args.ref, before_tree)
        for r in range(args.rounds):
            before, after = run(before_tree, script), run(ROOT, script)
            width = max(len(line) for line in before + [""])
            print(f"--- round {r + 1}: {' '.join(script)}")
            print(f"{'before ' + args.ref:<{width}} | after {head} (working tree)")
            for i in range(max(len(before), len(after))):
                left = before[i] if i < len(before) else ""
                right = after[i] if i < len(after) else ""
                print(f"{left:<{width}} | {right}", flush=True)


if __name__ == "__main__":
    main()
