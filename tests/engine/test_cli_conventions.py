"""CLI conventions (issue 13 bullet 7): `--version` and one exit status per kind of failure
(README "Exit codes"): 0 success, 2 usage, 3 unusable input, 4 refused, 1 internal. Every case
runs the real console entry point in a child process."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb
import polars

ROOT = Path(__file__).resolve().parents[2]


def drgdip(*args: str, code: str = "from engine.cli import main; main()"
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_version_names_the_project_and_its_engines() -> None:
    run = drgdip("--version")
    assert run.returncode == 0, run.stderr
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["dynamic"] == ["version"]  # one copy: engine.__version__
    from engine import __version__
    assert run.stdout.startswith(f"drgdip {__version__} (Python 3.")
    assert f"polars {polars.__version__}" in run.stdout
    assert f"duckdb {duckdb.__version__}" in run.stdout


def test_usage_errors_exit_2() -> None:
    missing_arg = drgdip("group")
    assert missing_arg.returncode == 2 and "Missing argument 'INPUT'" in missing_arg.stderr
    unknown_option = drgdip("policies", "--nope")
    assert unknown_option.returncode == 2 and "No such option" in unknown_option.stderr
    bad_ruleset = drgdip("rulesets", "check", "nope")
    assert bad_ruleset.returncode == 2
    assert "unknown ruleset='nope'" in _one_line(bad_ruleset)


def test_unusable_input_exits_3(tmp_path: Path) -> None:
    missing = drgdip("group", str(tmp_path / "nope.csv"), str(tmp_path / "out.csv"))
    assert missing.returncode == 3
    assert "nope.csv" in _one_line(missing)
    empty = tmp_path / "cases.csv"
    empty.write_text("a,b\n1,2\n", encoding="utf-8")
    no_columns = drgdip("validate", str(empty))
    assert no_columns.returncode == 3
    assert _one_line(no_columns).startswith("drgdip: error: ")
    bad_output = drgdip("group", str(empty), str(tmp_path / "out.txt"))
    assert bad_output.returncode == 3 and "unknown output format" in _one_line(bad_output)


def test_refused_by_the_store_state_exits_4(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    weights = tmp_path / "w.csv"
    weights.write_text("DRG编码,DRG名称,权重\nAA19,心脏移植,12.5\nAB19,肝移植,9.25\n",
                       encoding="utf-8")
    for args in (["--create", "weights", "import", str(weights), "--version", "w1", "--year",
                  "2025"],
                 ["weights", "publish", "w1", "--why", "test"]):
        ok = drgdip(*args, "--db", db)
        assert ok.returncode == 0, ok.stderr
    again = drgdip("weights", "publish", "w1", "--why", "twice", "--db", db)
    assert again.returncode == 4
    assert "publishing twice is refused" in _one_line(again)
    replace = drgdip("weights", "import", str(weights), "--version", "w1", "--year", "2025",
                     "--replace", "--db", db)
    assert replace.returncode == 4 and "immutable" in _one_line(replace)


def test_a_bug_exits_1_with_the_traceback_and_one_last_line() -> None:
    boom = ("import click\nfrom engine.cli import cli, main\n"
            "@cli.command('boom')\ndef boom():\n    return 1 // 0\nmain()")
    run = drgdip("boom", code=boom)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert lines[0].startswith("Traceback")
    assert lines[-1].startswith("drgdip: internal error")
    assert "ZeroDivisionError" in lines[-1]
