"""The settlement batch through the CLI on a real DuckDB file and real Parquet (issue 6):
idempotent by run id, per-case rows add up to the stored hospital totals, clearing conserves
money, the analyst views answer, and bad arguments fail with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import engine.views  # migrations 200/201 before any store opens; its folder holds the policies
from engine.cli import cli
from engine.ingest import read_cases
from engine.policy import load_policy
from engine.synth import generate
from grouper.errors import RefusedError
from weights import build_drg, open_store, publish, query, save_weight_version

POLICY = "fuzhou_drg_2025"
WEIGHTS = "test-drg-2025"


def build_store(folder: Path, *, cases: int = 3000, hospitals: int = 5) -> dict[str, Path]:
    """A store with published DRG weights (and the history's per-hospital mean costs) built
    from a synthetic 2024, and 2025 case files for March and April (Parquet) plus the hospital
    table."""
    policy = load_policy(POLICY)
    h, history, _ = generate(cases, hospitals, 2024, 11)
    _, current, _ = generate(cases, hospitals, 2025, 11)
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "store.duckdb"
    con = open_store(db)
    build = build_drg(history, policy.policy.ruleset)
    save_weight_version(con, WEIGHTS, "drg", build.weights, ruleset=policy.policy.ruleset,
                        region="fuzhou", year=2025, source="test history",
                        extra=build.extra_tables() or None)
    publish(con, WEIGHTS)
    con.close()
    paths = {"db": db, "hospitals": folder / "hospitals.parquet"}
    h.write_parquet(paths["hospitals"])
    month = pl.col("discharge_date").dt.month()
    for m in (3, 4):
        paths[f"2025-{m:02d}"] = folder / f"cases_2025_{m:02d}.parquet"
        current.filter(month == m).write_parquet(paths[f"2025-{m:02d}"])
    return paths


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_store(tmp_path_factory.mktemp("settle"))


def settle(paths: dict[str, Path], period: str, run_id: str, *extra: str) -> str:
    result = CliRunner().invoke(cli, [
        "settle", "--policy", POLICY, "--cases", str(paths[period]), "--period", period,
        "--run-id", run_id, "--hospitals", str(paths["hospitals"]), "--db", str(paths["db"]),
        *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def table(db: Path, sql: str) -> pl.DataFrame:
    con = open_store(db, read_only=True)
    try:
        return query(con, sql)
    finally:
        con.close()


def test_settle_writes_every_case_once_and_rerun_replaces(region):
    out = settle(region, "2025-03", "r-03")
    n = read_cases(region["2025-03"]).cases.height
    assert f"settled {n:,} cases" in out
    assert "outside" not in out  # every case of the March file was discharged in March
    first = table(region["db"], "SELECT * FROM case_results WHERE run_id = 'r-03' "
                                "ORDER BY case_id")
    assert first.height == n and first["case_id"].n_unique() == n
    settle(region, "2025-03", "r-03")
    again = table(region["db"], "SELECT * FROM case_results WHERE run_id = 'r-03' "
                                "ORDER BY case_id")
    assert again.equals(first)
    runs = table(region["db"], "SELECT * FROM runs WHERE run_id = 'r-03'")
    assert runs.height == 1 and runs["status"][0] == "done"
    assert runs["weights_version"][0] == WEIGHTS
    parquet = pl.read_parquet(region["db"].parent / "results" / "r-03" / "case_results.parquet")
    assert parquet.height == n


def test_case_rows_add_up_to_stored_hospital_totals(region):
    settle(region, "2025-03", "r-03")
    check = table(region["db"], """
        SELECT h.hospital_id, h.fund_pool, h.fund_payable, c.s
        FROM hospital_period_results h JOIN (
            SELECT hospital_id, fund_pool, sum(fund_payable) AS s FROM case_results
            WHERE run_id = 'r-03' GROUP BY ALL) c USING (hospital_id, fund_pool)
        WHERE h.run_id = 'r-03'""")
    assert check.height > 0
    assert (check["fund_payable"] == check["s"]).all()


def test_clear_after_two_months_conserves_money_and_reruns_cleanly(region):
    settle(region, "2025-03", "r-03")
    settle(region, "2025-04", "r-04")
    runner = CliRunner()
    args = ["clear", "--policy", POLICY, "--year", "2025", "--db", str(region["db"])]
    refused = runner.invoke(cli, args)  # ten months without a settle run
    assert isinstance(refused.exception, RefusedError) and refused.exception.exit_code == 4
    assert "2025-01, 2025-02, 2025-05" in str(refused.exception)
    assert "--partial" in str(refused.exception)
    args.append("--partial")
    first = runner.invoke(cli, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "conservation gap 0.00" in first.output
    assert "partial clearing" in first.output and "2025-12" in first.output
    rows = table(region["db"], "SELECT * FROM clearing_results ORDER BY fund_pool, hospital_id")
    runner.invoke(cli, args, catch_exceptions=False)
    assert table(region["db"], "SELECT * FROM clearing_results "
                               "ORDER BY fund_pool, hospital_id").equals(rows)
    pools = table(region["db"], "SELECT * FROM clearing_pools")
    for p in pools.iter_rows(named=True):
        paid = p["final_total"] + p["reserve_left"] + p["surplus_not_retained"]
        back = p["violation_deductions"] + p["pool_residual"] + p["special_review_pool"]
        assert paid + back == p["budget"]
    prepaid = table(region["db"], "SELECT sum(prepayment) AS s FROM hospital_period_results "
                                  "WHERE run_id IN ('r-03', 'r-04')")["s"][0]
    assert rows["prepaid"].sum() == prepaid


def test_analyst_views_through_sql_command(region):
    settle(region, "2025-03", "r-03")
    runner = CliRunner()
    for sql in (("SELECT hospital_id, cmi, cost_index, time_index FROM v_hospital_indices "
                 "WHERE run_id = 'r-03'"),
                ("SELECT group_code, cases FROM v_group_statistics WHERE run_id = 'r-03' "
                 "ORDER BY cases DESC LIMIT 3"),
                ("SELECT hospital_id, fund_payable FROM v_hospital_period_summary "
                 "WHERE run_id = 'r-03'"),
                "SELECT count(*) AS n FROM v_case_settlement WHERE run_id = 'r-03'"):
        result = runner.invoke(cli, ["sql", sql, "--db", str(region["db"])],
                               catch_exceptions=False)
        assert result.exit_code == 0, result.output
    idx = table(region["db"], "SELECT * FROM v_hospital_indices WHERE run_id = 'r-03'")
    assert idx.height > 0 and idx["cmi"].min() > 0
    weighted = (idx["cost_index"] * idx["cases"]).sum() / idx["cases"].sum()
    assert 0.5 < weighted < 2.0


@pytest.mark.parametrize(("args", "message"), [
    (["--policy", "nowhere_2025"], "unknown policy='nowhere_2025'"),
    (["--period", "2025-13"], "period='2025-13'; expected YYYY-MM"),
    (["--period", "2024-03"], "outside the policy year 2025"),
    (["--weights", "no-such-version"], "no-such-version"),
])
def test_bad_arguments_fail_with_one_line(region, args, message):
    base = {"--policy": POLICY, "--period": "2025-03", "--run-id": "bad",
            "--cases": str(region["2025-03"]), "--hospitals": str(region["hospitals"]),
            "--db": str(region["db"])}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    proc = subprocess.run([sys.executable, "-c", "from engine.cli import main; main()",
                           "settle", *[x for kv in base.items() for x in kv]],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_dip_policy_settles_and_clears_through_the_store(tmp_path):
    """The DIP path: a catalogue built from history, stored and published, groups and settles
    a month under jiangmen_dip_2025, and the year clears with money conserved."""
    from engine.pipeline import run_clear, run_settle
    from weights.dip_build import build_dip_catalog
    from weights.dip_store import save_catalog

    h, history, _ = generate(3000, 5, 2024, 3)
    _, current, _ = generate(2000, 5, 2025, 3)
    db = tmp_path / "dip.duckdb"
    open_store(db).close()
    save_catalog(db, build_dip_catalog(history).catalog, "dip-test-2025", region="jiangmen",
                 year=2025, source="test history")
    con = open_store(db)
    publish(con, "dip-test-2025")
    con.close()
    h.write_parquet(tmp_path / "hospitals.parquet")
    march = current.filter(pl.col("discharge_date").dt.month() == 3)
    march.write_parquet(tmp_path / "march.parquet")
    policy = load_policy("jiangmen_dip_2025")
    result = run_settle(db, policy, tmp_path / "march.parquet", period="2025-03",
                        run_id="dip-03", hospitals_path=tmp_path / "hospitals.parquet")
    cases = result.frames["case_results"]
    assert cases.height == march.height
    assert cases["method"].unique().to_list() == ["dip"]
    assert (cases.filter(pl.col("status") == "ok")["group_type"].is_in(
        ["core", "comprehensive", "basic", "tcm", "day_surgery"])).all()
    grouped = cases.filter(pl.col("status") == "ok")
    assert (grouped["case_type"] == "normal").mean() > 0.6
    assert grouped["avg_cost"].null_count() == 0  # TCM/day-surgery use their reference's cost
    # too little history for some categories: those cases are paid by item, never dropped
    assert (cases.filter(pl.col("status") == "ungroupable")["case_type"] == "unmatched").all()
    periods = result.frames["hospital_period_results"]
    assert periods["fund_payable"].sum() == cases["fund_payable"].sum()
    cleared = run_clear(db, policy, year=2025, partial=True)
    assert all(s["conservation_gap"] == "0.00" for pool, s in cleared.summary.items()
               if pool != "missing_months")


def test_cases_outside_the_period_are_settled_and_counted(region):
    april = read_cases(region["2025-04"]).cases.height
    result = CliRunner().invoke(cli, [
        "settle", "--policy", POLICY, "--cases", str(region["2025-04"]), "--period", "2025-03",
        "--run-id", "r-misfiled", "--hospitals", str(region["hospitals"]),
        "--db", str(region["db"])], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"note: {april:,} cases were discharged outside 2025-03" in result.output
    stored = table(region["db"], "SELECT count(*) AS n FROM case_results "
                                 "WHERE run_id = 'r-misfiled'")
    assert stored["n"][0] == april


def test_settle_no_store_writes_parquet_only(region, tmp_path):
    """`--no-store` takes effect on this machine too (it was read by Spark runs only): the
    Parquet copies are written, the store gets no run."""
    out = tmp_path / "results"
    result = CliRunner().invoke(cli, [
        "settle", "--policy", POLICY, "--cases", str(region["2025-03"]), "--period", "2025-03",
        "--run-id", "nostore-03", "--hospitals", str(region["hospitals"]),
        "--db", str(region["db"]), "--out", str(out), "--no-store"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "store not loaded (--no-store)" in result.output
    assert table(region["db"], "SELECT * FROM runs WHERE run_id = 'nostore-03'").height == 0
    cases = pl.read_parquet(out / "nostore-03" / "case_results.parquet")
    assert cases.height == pl.read_parquet(region["2025-03"]).height
    assert (out / "nostore-03" / "hospital_period_results.parquet").is_file()


def test_settle_master_without_spark_is_a_usage_error(region):
    result = CliRunner().invoke(cli, [
        "settle", "--policy", POLICY, "--cases", str(region["2025-03"]), "--period", "2025-03",
        "--run-id", "m-03", "--db", str(region["db"]), "--master", "local[2]"])
    assert getattr(result.exception, "exit_code", None) == 2, result.output
    assert "--engine spark" in str(result.exception)


def test_settle_refuses_a_run_with_too_many_held_cases(region, tmp_path):
    """A misspelt money header (医疗总费 for 医疗总费用) holds every case (S104): the run is
    refused with exit 4 and nothing stored, unless --allow-held."""
    bad = tmp_path / "misspelt.parquet"
    pl.read_parquet(region["2025-03"]).rename({"total_cost": "医疗总费"}).write_parquet(bad)
    args = ["settle", "--policy", POLICY, "--cases", str(bad), "--period", "2025-05",
            "--run-id", "held-05", "--hospitals", str(region["hospitals"]),
            "--db", str(region["db"])]
    refused = CliRunner().invoke(cli, args)
    assert isinstance(refused.exception, RefusedError) and refused.exception.exit_code == 4
    message = str(refused.exception)
    assert "are held" in message and "S104" in message and "--allow-held" in message
    assert table(region["db"], "SELECT * FROM runs WHERE run_id = 'held-05'").height == 0
    out = CliRunner().invoke(cli, [*args, "--allow-held"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "医疗总费 → 医疗总费用?" in out.output  # the unknown header and its closest alias
    assert table(region["db"], "SELECT * FROM runs WHERE run_id = 'held-05'").height == 1
    con = open_store(region["db"])
    try:
        con.execute("DELETE FROM case_results WHERE run_id = 'held-05'")
        con.execute("DELETE FROM hospital_period_results WHERE run_id = 'held-05'")
        con.execute("DELETE FROM runs WHERE run_id = 'held-05'")
    finally:
        con.close()


def test_settle_ruleset_auto_by_discharge_date(region, tmp_path):
    """`--ruleset auto`: 2025 discharges fall under chs_drg_20 by the manifests' calendar, so
    a run with chs_drg_11 weights is refused (exit 4); a region calendar keeping chs_drg_11
    settles exactly as the policy's ruleset does, and a case without a discharge date is held
    with E108, not guessed."""
    base = ["settle", "--cases", str(region["2025-03"]), "--period", "2025-03",
            "--hospitals", str(region["hospitals"]), "--db", str(region["db"])]
    refused = CliRunner().invoke(cli, [*base, "--policy", POLICY, "--run-id", "auto-x",
                                       "--ruleset", "auto"])
    assert isinstance(refused.exception, RefusedError) and refused.exception.exit_code == 4
    assert "under chs_drg_20" in str(refused.exception)
    source = Path(engine.views.__file__).parent / "policies" / f"{POLICY}.toml"
    toml = source.read_text(encoding="utf-8").replace(
        "[policy]\n", '[policy]\nruleset_calendar = { "2020-01-01" = "chs_drg_11" }\n', 1)
    regional = tmp_path / "fuzhou_calendar.toml"
    regional.write_text(toml, encoding="utf-8")
    cases = pl.read_parquet(region["2025-03"])
    undated = tmp_path / "undated.parquet"
    cases.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(None)
                       .otherwise(pl.col("discharge_date")).alias("discharge_date")
                       ).write_parquet(undated)
    auto = CliRunner().invoke(cli, [*base, "--policy", str(regional), "--run-id", "auto-ok",
                                    "--ruleset", "auto"], catch_exceptions=False)
    assert auto.exit_code == 0, auto.output
    plain = CliRunner().invoke(cli, [*base, "--policy", str(regional), "--run-id", "auto-plain"],
                               catch_exceptions=False)
    assert plain.exit_code == 0, plain.output
    got = table(region["db"], "SELECT run_id, case_id, fund_payable, group_code FROM "
                              "case_results WHERE run_id IN ('auto-ok', 'auto-plain') "
                              "ORDER BY case_id")
    a, b = (got.filter(pl.col("run_id") == r).drop("run_id") for r in ("auto-ok", "auto-plain"))
    assert a.equals(b)
    held = CliRunner().invoke(cli, [*base[:2], str(undated), *base[3:], "--policy", str(regional),
                                    "--run-id", "auto-undated", "--ruleset", "auto"],
                              catch_exceptions=False)
    assert held.exit_code == 0, held.output
    first = table(region["db"], f"SELECT error_code FROM case_results WHERE run_id = "
                                f"'auto-undated' AND case_id = '{cases['case_id'][0]}'")
    assert first["error_code"].to_list() == ["E108"]
