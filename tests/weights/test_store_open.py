"""Store opening from the CLI (issue 13 bullet 3, issue 14 bullet 2): read verbs open an
existing store read-only and refuse a missing one with one line (exit 3) without creating it;
only demo, weights build-*, settle and `drgdip --create` make a store; a store locked by
another process is waited for (`drgdip --wait SECONDS`) and then refused with one line (exit 4)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]


def drgdip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True,
                          text=True, check=False, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("verb", [
    ("weights", "list"), ("weights", "show", "v1"), ("weights", "verify", "v1"),
    ("weights", "audit"), ("sql", "SELECT 1"), ("keys", "list"), ("report", "--out", "OUT"),
    ("clear", "--policy", "fuzhou_drg_2025", "--year", "2025"),
    ("weights", "set-rate", "--fund-pool", "employee", "--year", "2024", "--scheme", "drg",
     "--kind", "base_rate", "--value", "1"),
    ("weights", "publish", "v1", "--why", "x"),
])
def test_a_missing_store_is_refused_and_not_created(tmp_path: Path, verb: tuple[str, ...]) -> None:
    db = tmp_path / "drg.duckbd"  # a typo
    args = [str(tmp_path / "out") if a == "OUT" else a for a in verb]
    run = drgdip(*args, "--db", str(db))
    assert run.returncode == 3, run.stderr
    assert run.stderr.count("\n") == 1 and "store not found" in run.stderr, run.stderr
    assert not db.exists() and not list(tmp_path.glob("drg.duckbd*"))


def test_create_makes_a_store_and_read_verbs_then_work(tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"
    made = drgdip("--create", "weights", "set-rate", "--fund-pool", "employee", "--year", "2024",
                  "--scheme", "drg", "--kind", "base_rate", "--value", "15000", "--db", str(db))
    assert made.returncode == 0, made.stderr
    listed = drgdip("sql", "SELECT value FROM rates", "--json", "--db", str(db))
    assert listed.returncode == 0 and "15000" in listed.stdout


def test_a_locked_store_is_waited_for_then_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    assert drgdip("--create", "weights", "set-rate", "--fund-pool", "employee", "--year", "2024",
                  "--scheme", "drg", "--kind", "base_rate", "--value", "1",
                  "--db", str(db)).returncode == 0
    # The holder keeps the lock until told on stdin, so a slow CLI start on a loaded machine
    # cannot outlast it (a fixed 4 s hold did once).
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "print('held', flush=True)\n"
        "sys.stdin.readline()\n"
        "con.close()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        refused = drgdip("--wait", "1", "weights", "list", "--db", str(db))
        waited = time.monotonic() - started
        assert refused.returncode == 4, refused.stderr
        assert refused.stderr.count("\n") == 1 and "in use by another process" in refused.stderr
        assert "waited 1 s" in refused.stderr and "--wait SECONDS" in refused.stderr
        assert waited >= 1.0
        waiting = subprocess.Popen([sys.executable, "-m", "engine.cli", "--wait", "60", "weights",
                                    "list", "--db", str(db)], cwd=ROOT, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)  # the waiting run starts and finds the store locked, or soon will
        assert holder.stdin is not None
        holder.stdin.write("release\n")
        holder.stdin.flush()
        holder.wait(30)
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, err  # it outlasted the holder
    finally:
        holder.kill()
        holder.wait()
    con = duckdb.connect(str(db), read_only=True)
    con.close()
