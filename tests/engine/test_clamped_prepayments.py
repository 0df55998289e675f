"""Clamped prepayments are listed, never applied silently (issue 12 item 3, payment-rules §4.3:
"a monthly prepayment that comes out negative is paid as 0 … each such clamp is listed in the
run's summary and stored"). Real store, CLI."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import polars as pl
from click.testing import CliRunner

from engine.cli import cli
from engine.policy import load_policy
from engine.presettle import clamped_prepayments, prepayment_due
from tests.engine.test_pipeline import POLICY, build_store, settle, table


def test_negative_prepayments_are_listed_in_the_summary_stored_and_printed(tmp_path):
    paths = build_store(tmp_path, cases=1500, hospitals=4)
    db = str(paths["db"])
    assert load_policy(POLICY).prepay.method == "points"  # ratio × (value − liability)
    out = settle(paths, "2025-03", "fit-03")
    assert "negative prepayment" not in out
    stored = json.loads(table(paths["db"], "SELECT summary FROM runs WHERE run_id = 'fit-03'")
                        ["summary"][0])
    assert stored["prepayments_clamped"] == {}
    # a point value far below the catalogue's scale: the points are worth less than what the
    # patients paid, so the advance due is negative at every hospital
    result = CliRunner().invoke(cli, [
        "weights", "set-rate", "--region", "fuzhou", "--fund-pool", "employee", "--year",
        "2025", "--scheme", "drg", "--kind", "pv_budget", "--value", "5.0000", "--db", db],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = settle(paths, "2025-03", "low-03")
    stored = json.loads(table(paths["db"], "SELECT summary FROM runs WHERE run_id = 'low-03'")
                        ["summary"][0])
    clamped = stored["prepayments_clamped"]
    assert set(clamped) == {"employee"} and clamped["employee"]
    rows = table(paths["db"], "SELECT hospital_id, prepayment, points, fixed_amount, liability "
                              "FROM hospital_period_results WHERE run_id = 'low-03' "
                              "AND fund_pool = 'employee'")
    paid = dict(zip(rows["hospital_id"], rows["prepayment"], strict=True))
    for hospital, due in clamped["employee"].items():
        assert D(due) < 0 and paid[hospital] == 0
        r = rows.filter(pl.col("hospital_id") == hospital).row(0, named=True)
        value = (r["points"] * D(5)).quantize(D("0.01"), ROUND_HALF_UP) + r["fixed_amount"]
        assert D(due) == (D("0.90") * (value - r["liability"])).quantize(D("0.01"), ROUND_HALF_UP)
    assert "warning: employee: negative prepayment paid as 0 for" in out
    assert all(h in out for h in clamped["employee"])


def test_clamped_prepayments_name_exactly_the_rows_paid_zero_for_a_negative_due():
    policy = load_policy(POLICY)
    rows = pl.DataFrame({
        "fund_pool": ["employee", "employee", "resident"], "hospital_id": ["A", "B", "C"],
        "points": [D("100.0000"), D("100.0000"), D("0.0000")],
        "fixed_amount": [D("0.00")] * 3, "payment_standard": [D("0.00")] * 3,
        "liability": [D("50000.00"), D("10.00"), D("0.00")],
        "ffs_fund_amount": [D("1.00")] * 3, "point_value": [D("232.7300")] * 3})
    rows = rows.with_columns(pl.Series("prepayment", [
        max(D(0), prepayment_due(policy, r, r["point_value"])) for r in rows.iter_rows(named=True)]))
    # A: 0.9 × (23,273.00 − 50,000) = −24,054.30 → paid 0; B positive; C exactly 0 (not clamped)
    assert clamped_prepayments(rows, policy) == {"employee": {"A": "-24054.30"}}
