"""`drgdip demo` is the whole main job, for a DRG and a DIP policy, and running it twice in one
folder gives the same store (issue 6)."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from click.testing import CliRunner

from engine.cli import cli
from weights import open_store, query

TABLES = {
    "case_results": "SELECT * FROM case_results ORDER BY run_id, case_id",
    "hospital_period_results": "SELECT * FROM hospital_period_results "
                               "ORDER BY run_id, fund_pool, hospital_id",
    "clearing_results": "SELECT * FROM clearing_results ORDER BY fund_pool, hospital_id",
    "clearing_pools": "SELECT * FROM clearing_pools ORDER BY fund_pool",
    "runs": "SELECT * EXCLUDE (started_at, finished_at) FROM runs ORDER BY run_id",
    "weight_versions": "SELECT version, status, checksum FROM weight_versions",
    "drg_weights": "SELECT * FROM drg_weights ORDER BY version, drg",
    "hospitals": "SELECT hospital_id, level, type FROM hospitals ORDER BY hospital_id",
}
DIP_TABLES = {name: sql for name, sql in TABLES.items() if name != "drg_weights"} | {
    "weight_versions": "SELECT version, kind, status, checksum FROM weight_versions",
    "dip_catalog": "SELECT * FROM dip_catalog ORDER BY version, dip_code",
    "dip_aux": "SELECT * FROM dip_aux ORDER BY version, dip_code, dimension, level",
}


def snapshot(db, tables: dict[str, str] = TABLES) -> dict[str, pl.DataFrame]:
    con = open_store(db, read_only=True)
    try:
        return {name: query(con, sql) for name, sql in tables.items()}
    finally:
        con.close()


def test_demo_twice_gives_the_same_store(tmp_path):
    db = tmp_path / "drgdip.duckdb"
    args = ["demo", "--cases", "4000", "--hospitals", "6", "--dir", str(tmp_path),
            "--db", str(db)]
    first = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    for step in ("1/5", "2/5", "3/5", "4/5", "5/5", "conservation gap 0.00"):
        assert step in first.output
    assert "H0006" in first.output and "final" in first.output
    before = snapshot(db)
    assert before["case_results"].height == 4000
    assert before["runs"].height == 13  # twelve months and the clearing
    assert (tmp_path / "results" / "demo-fuzhou_drg_2025-2025-03" / "case_results.parquet").is_file()
    second = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert second.exit_code == 0, second.output
    after = snapshot(db)
    for name in TABLES:
        assert after[name].equals(before[name]), name


def test_demo_with_a_dip_policy_clears_every_hospital_to_the_fen(tmp_path):
    db = tmp_path / "drgdip.duckdb"
    args = ["demo", "--policy", "jiangmen_dip_2025", "--cases", "3000", "--hospitals", "5",
            "--dir", str(tmp_path), "--db", str(db)]
    first = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "DIP catalogue" in first.output
    assert first.output.count("conservation gap 0.00") == 2  # employee and resident
    store = snapshot(db, DIP_TABLES)
    versions = store["weight_versions"]
    assert versions.select("kind", "status").rows() == [("dip", "published")]
    cases, periods = store["case_results"], store["hospital_period_results"]
    assert cases.height == 3000 and set(cases["method"]) == {"dip"}
    assert cases["group_type"].is_in(["core", "comprehensive"]).sum() > 2000
    assert store["runs"].height == 13

    # Per-case amounts add up to each hospital's monthly row, to the fen.
    keys = ["run_id", "fund_pool", "hospital_id"]
    paid = ~pl.col("case_type").is_in(["invalid", "violation"])
    sums = cases.group_by(keys).agg(pl.col("fund_payable").sum(),
                                    pl.col("points").filter(paid).sum())
    joined = periods.select(*keys, "fund_payable", "points").join(sums, on=keys, how="full",
                                                                  coalesce=True)
    assert joined.height == periods.height
    assert (joined["fund_payable"] == joined["fund_payable_right"]).all()
    assert (joined["points"] == joined["points_right"]).all()

    # Every hospital is cleared in every pool it had cases in, on the year's points.
    clearing, pools = store["clearing_results"], store["clearing_pools"]
    hospitals = set(pl.read_parquet(tmp_path / "demo_data" / "chs_drg_11" / "region_2025" /
                                    "hospitals.parquet")["hospital_id"])
    assert set(clearing["hospital_id"]) == hospitals
    year = periods.group_by("fund_pool", "hospital_id").agg(pl.col("points").sum())
    assert year.sort("fund_pool", "hospital_id").rows() == clearing.sort(
        "fund_pool", "hospital_id").select("fund_pool", "hospital_id", "points").rows()

    # Money is conserved per pool, and the settlement point value lands near the calibrated one
    # (last year's points against this year's, same budget rule). 2025 is a new draw (other
    # patients, drifted case mix) priced by a catalogue fitted to 2024's 3,000 cases, most of
    # whose groups hold one or two cases: out of sample the value moves by up to ~20 % here (at
    # the demo's 60,000 cases by a few per cent: tests/engine/test_policy_scale.py).
    finals = dict(clearing.group_by("fund_pool").agg(pl.col("final_payment").sum()).rows())
    budget_pv = dict(cases.filter(pl.col("point_value").is_not_null())
                     .group_by("fund_pool").agg(pl.col("point_value").unique()).rows())
    for p in pools.iter_rows(named=True):
        assert finals[p["fund_pool"]] == p["final_total"]
        returned = (p["final_total"] + p["reserve_left"] + p["surplus_not_retained"]
                    + p["violation_deductions"] + p["pool_residual"] + p["special_review_pool"])
        assert returned == p["budget"], p["fund_pool"]
        [calibrated] = budget_pv[p["fund_pool"]]
        assert abs(p["point_value"] / calibrated - 1) < Decimal("0.25"), (p, calibrated)

    second = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert second.exit_code == 0, second.output
    again = snapshot(db, DIP_TABLES)
    for name in DIP_TABLES:
        assert again[name].equals(store[name]), name


def test_demo_is_a_real_year_with_its_policy_on_file_and_drg_dip_side_by_side(tmp_path):
    """issue 12 item 5: 2024 and 2025 drawn with different seeds from the same hospitals with
    case-mix drift; the fitted policy written next to the store and used by later commands
    (a month re-settled by hand pays what the demo paid, `report` knows the policy); a DRG and
    a DIP demo in one store and folder do not overwrite each other's runs."""
    import json

    from engine.policy import load_policy

    db = tmp_path / "drgdip.duckdb"
    common = ["--cases", "3000", "--hospitals", "5", "--dir", str(tmp_path), "--db", str(db)]
    for name in ("fuzhou_drg_2025", "jiangmen_dip_2025"):
        out = CliRunner().invoke(cli, ["demo", "--policy", name, *common],
                                 catch_exceptions=False)
        assert out.exit_code == 0, out.output
        assert f"--policy {name}-demo" in out.output
    data = tmp_path / "demo_data" / "chs_drg_11"
    history = pl.read_parquet(data / "region_2024" / "cases.parquet")
    year = pl.read_parquet(data / "region_2025" / "cases.parquet")
    marker = json.loads((data / "region_2025" / "region.json").read_text())
    assert (marker["seed"], marker["hospital_seed"], marker["drift"]) == (8, 7, 0.1)
    assert pl.read_parquet(data / "region_2024" / "hospitals.parquet").equals(
        pl.read_parquet(data / "region_2025" / "hospitals.parquet"))  # the same hospitals
    assert not set(history["patient_id"]) & set(year["patient_id"])  # new patients
    mix = [f.group_by("hospital_id").len().sort("hospital_id")["len"] / f.height
           for f in (history, year)]
    assert (mix[0] - mix[1]).abs().max() > 0  # not the same draw

    runs = snapshot(db, {"runs": "SELECT run_id, policy, kind FROM runs ORDER BY run_id"})["runs"]
    assert runs.height == 26  # 12 months + clearing, twice: nothing overwritten
    assert set(runs["policy"]) == {"fuzhou_drg_2025-demo", "jiangmen_dip_2025-demo"}

    # the fitted policy is a file next to the store; a month settled by hand with it pays the
    # demo's amounts to the fen
    fitted = tmp_path / "policies" / "fuzhou_drg_2025-demo.toml"
    assert fitted.is_file()
    policy = load_policy("fuzhou_drg_2025-demo", store=db)
    shipped = load_policy("fuzhou_drg_2025")
    assert policy.pool["employee"].budget != shipped.pool["employee"].budget
    march = tmp_path / "march.parquet"
    year.filter(pl.col("discharge_date").dt.month() == 3).write_parquet(march)
    out = CliRunner().invoke(cli, [
        "settle", "--policy", "fuzhou_drg_2025-demo", "--cases", str(march), "--period",
        "2025-03", "--run-id", "by-hand-03", "--hospitals",
        str(data / "region_2025" / "hospitals.parquet"), "--db", str(db)],
        catch_exceptions=False)
    assert out.exit_code == 0, out.output
    paid = snapshot(db, {"c": "SELECT run_id, case_id, fund_payable, points FROM case_results "
                              "WHERE run_id IN ('by-hand-03', 'demo-fuzhou_drg_2025-2025-03') "
                              "ORDER BY case_id, run_id"})["c"]
    by_hand = paid.filter(pl.col("run_id") == "by-hand-03").drop("run_id")
    demo = paid.filter(pl.col("run_id") == "demo-fuzhou_drg_2025-2025-03").drop("run_id")
    assert by_hand.height > 0 and by_hand.equals(demo)
    out = CliRunner().invoke(cli, ["report", "--out", str(tmp_path / "report"), "--run-id",
                                   "demo-jiangmen_dip_2025-clear-2025", "--db", str(db)],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "unknown policy" not in out.output
