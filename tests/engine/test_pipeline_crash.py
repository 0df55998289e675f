"""Crash safety of a settle run (issue 6): a real subprocess is killed (SIGKILL) inside the
run's write transaction, after its case rows were inserted but before COMMIT. The store then
holds none of that run's rows (or, for a re-run, exactly the previous complete result), and
re-running gives the same rows as a clean run in a fresh store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tests.engine.test_pipeline import POLICY, build_store, table

# The child runs the real batch; the only addition is a pause right after the first INSERT of
# the run's transaction, announced through a marker file, so the parent can kill it there.
CHILD = """
import sys, time
from pathlib import Path
import engine.pipeline as p
from engine.policy import load_policy

marker = Path(sys.argv[1])
real_insert = p._insert
def insert_then_wait(con, table, frame):
    real_insert(con, table, frame)
    marker.write_text(table)
    time.sleep(120)
p._insert = insert_then_wait
p.run_settle(Path(sys.argv[2]), load_policy(sys.argv[3]), Path(sys.argv[4]),
             period=sys.argv[5], run_id=sys.argv[6], hospitals_path=Path(sys.argv[7]))
"""

CASE_SQL = ("SELECT * EXCLUDE (run_id) FROM case_results WHERE run_id = 'crash' "
            "ORDER BY case_id")
PERIOD_SQL = ("SELECT * EXCLUDE (run_id) FROM hospital_period_results WHERE run_id = 'crash' "
              "ORDER BY fund_pool, hospital_id")


def kill_mid_transaction(paths: dict[str, Path], period: str, marker: Path) -> None:
    marker.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(marker), str(paths["db"]), POLICY,
                              str(paths[period]), period, "crash", str(paths["hospitals"])],
                             env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        assert time.monotonic() < deadline, "child never reached the write transaction"
        time.sleep(0.05)
    assert marker.read_text() == "case_results"
    child.kill()  # SIGKILL: no cleanup, no rollback by the process itself
    child.wait()
    assert child.returncode != 0


def settle_in_process(paths: dict[str, Path], period: str) -> None:
    from engine.pipeline import run_settle
    from engine.policy import load_policy

    run_settle(paths["db"], load_policy(POLICY), paths[period], period=period, run_id="crash",
               hospitals_path=paths["hospitals"])


@pytest.mark.parametrize("previous", [None, "2025-04"], ids=["first-run", "re-run"])
def test_killed_run_leaves_no_partial_rows_and_rerun_equals_clean_run(tmp_path, previous):
    crashed = build_store(tmp_path / "crashed")
    clean = build_store(tmp_path / "clean")
    if previous is not None:  # a complete earlier result of the same run id (other input)
        settle_in_process(crashed, previous)
    before = table(crashed["db"], CASE_SQL)
    kill_mid_transaction(crashed, "2025-03", tmp_path / "marker")
    # After the kill: exactly the state before the run (nothing, or the complete old result).
    assert table(crashed["db"], CASE_SQL).equals(before)
    runs = table(crashed["db"], "SELECT input FROM runs WHERE run_id = 'crash'")
    assert runs.height == (0 if previous is None else 1)
    settle_in_process(crashed, "2025-03")
    settle_in_process(clean, "2025-03")
    got, want = table(crashed["db"], CASE_SQL), table(clean["db"], CASE_SQL)
    assert got.height == pl.read_parquet(crashed["2025-03"]).height
    assert got.equals(want)
    assert table(crashed["db"], PERIOD_SQL).equals(table(clean["db"], PERIOD_SQL))
