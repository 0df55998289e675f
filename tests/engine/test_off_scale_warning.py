"""A run paying far from what its cases cost says so (issue 12 item 3, "a run that would pay
wrongly must stop or say so"): a point value on another catalogue's scale — an imported
catalogue priced at another region's point value paid 522 M against 88 M of FFS — is listed per
fund pool in the settle run's summary, stored, and printed as a warning. Real store, CLI."""

from __future__ import annotations

import json
from decimal import Decimal as D

import polars as pl
from click.testing import CliRunner

from engine.cli import cli
from engine.policy import load_policy
from engine.settlement.presettle import off_scale_pools
from tests.engine.test_pipeline import POLICY, build_store, settle, table


def _summary(db, run_id: str) -> dict:
    return json.loads(table(db, f"SELECT summary FROM runs WHERE run_id = '{run_id}'")
                      ["summary"][0])


def _pool_sums(db, run_id: str) -> dict[str, tuple[D, D]]:
    rows = table(db, "SELECT fund_pool, sum(fund_payable) AS p, sum(ffs_fund_amount) AS f "
                     f"FROM hospital_period_results WHERE run_id = '{run_id}' GROUP BY ALL")
    return {pool: (D(p), D(f)) for pool, p, f in rows.iter_rows()}


def _expected(sums: dict[str, tuple[D, D]]) -> dict[str, dict[str, str]]:
    """The pools outside 0.5–2.0 of FFS, recomputed from the stored hospital-period rows."""
    return {pool: {"payable_to_ffs": f"{p / f:.3f}", "band": "0.5–2.0",
                   "fund_payable": str(p), "ffs_fund_amount": str(f)}
            for pool, (p, f) in sums.items() if not D("0.5") <= p / f <= D("2.0")}


def test_a_point_value_on_another_scale_is_warned_stored_and_exact(tmp_path):
    # this synthetic store's weights are not on fuzhou's scale: its resident pool is paid
    # about a third of FFS at the policy's point value, and the run says so
    paths = build_store(tmp_path, cases=1500, hospitals=4)
    out = settle(paths, "2025-03", "fit-03")
    before = _pool_sums(paths["db"], "fit-03")
    assert _summary(paths["db"], "fit-03")["off_scale_pools"] == _expected(before)
    assert set(_expected(before)) == {"resident"}
    assert "warning: resident: fund payable" in out and "warning: employee" not in out
    # the employee pool's point value set 6× in the store: now paid over twice FFS
    pv = load_policy(POLICY).provisional_point_value("employee")
    result = CliRunner().invoke(cli, [
        "weights", "set-rate", "--region", "fuzhou", "--fund-pool", "employee", "--year",
        "2025", "--scheme", "drg", "--kind", "pv_budget", "--value", str(pv * 6),
        "--db", str(paths["db"])], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = settle(paths, "2025-03", "six-03")
    after = _pool_sums(paths["db"], "six-03")
    found = _summary(paths["db"], "six-03")["off_scale_pools"]
    assert found == _expected(after) and set(found) == {"employee", "resident"}
    assert D(found["employee"]["payable_to_ffs"]) > 2
    assert "warning: employee: fund payable" in out and "超出政策区间 0.5–2.0" in out


def test_the_band_is_inclusive_and_pools_without_ffs_are_skipped():
    policy = load_policy(POLICY)
    rows = pl.DataFrame({
        "fund_pool": ["employee", "employee", "resident", "other"],
        "hospital_id": ["A", "B", "C", "D"],
        "fund_payable": [D("150.00"), D("50.00"), D("100.01"), D("5.00")],
        "ffs_fund_amount": [D("60.00"), D("40.00"), D("50.00"), D("0.00")]})
    # employee 200 / 100 = 2.000 exactly: inside; resident 100.01 / 50 = 2.0002: outside
    assert off_scale_pools(rows, policy) == {"resident": {
        "payable_to_ffs": "2.000", "band": "0.5–2.0", "fund_payable": "100.01",
        "ffs_fund_amount": "50.00"}}
