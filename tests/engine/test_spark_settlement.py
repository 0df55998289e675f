"""Spark settlement (issue 9) equals the single-machine settlement to the fen.

The same synthetic region, store and weights as the settlement batch tests (a published DRG
weight version, five hospitals, March and April 2025), with duplicate case ids and a review file
added so that the file-wide and per-hospital rules (duplicate ids, review quota, readmission
merge) are exercised. Spark runs in local mode (local[2]); skipped with a reason when PySpark or
Java is missing (install with `pip install '.[spark]'`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

pytest.importorskip("pyspark", reason="PySpark not installed: pip install '.[spark]'")
pytest.importorskip("pandas", reason="PySpark's Arrow functions need pandas: pip install '.[spark]'")
if shutil.which("java") is None:
    pytest.skip("no Java runtime for Spark", allow_module_level=True)

from engine.cli import cli
from engine.policy import load_policy
from engine.spark import clear_spark, spark_session
from grouper.errors import RefusedError
from tests.engine.test_pipeline import POLICY, build_store, table
from weights.store import open_store


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    paths = build_store(tmp_path_factory.mktemp("spark_settle"))
    march = pl.read_parquet(paths["2025-03"])
    # a case id repeated later in the file (ingestion flags the repeat), and reviews: more
    # approvals in one hospital than its quota allows, a violation, a rejection
    pl.concat([march, march.head(2)]).write_parquet(paths["2025-03"])  # resubmitted claims
    busiest = march.group_by("hospital_id").len().sort("len")["hospital_id"][-1]
    ids = march.filter(pl.col("hospital_id") == busiest)["case_id"].to_list()
    reviews = pl.DataFrame({
        "case_id": ids[:12] + [march.filter(pl.col("hospital_id") != busiest)["case_id"][0]],
        "review_outcome": ["approved_ffs", "approved_uplift"] * 5 + ["violation", "rejected",
                                                                     "approved_ffs"],
        "deduction": ["0"] * 10 + ["500.00", "0", "0"]})
    paths["reviews"] = paths["db"].parent / "reviews.csv"
    reviews.write_csv(paths["reviews"])
    return paths


def settle(region: dict[str, Path], period: str, run_id: str, *extra: str) -> str:
    result = CliRunner().invoke(cli, [
        "settle", "--policy", POLICY, "--cases", str(region[period]), "--period", period,
        "--run-id", run_id, "--hospitals", str(region["hospitals"]), "--db", str(region["db"]),
        "--reviews", str(region["reviews"]), *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def run_rows(db: Path, name: str, run_id: str) -> pl.DataFrame:
    order = {"case_results": "case_id, error_code NULLS FIRST",
             "hospital_period_results": "fund_pool, hospital_id"}[name]
    return table(db, f"SELECT * EXCLUDE (run_id) FROM {name} WHERE run_id = '{run_id}' "
                     f"ORDER BY {order}")


@pytest.mark.parametrize("period", ["2025-03", pytest.param("2025-04", marks=pytest.mark.slow)])
def test_spark_settle_equals_single_machine_to_the_fen(region: dict[str, Path],
                                                       period: str) -> None:
    spark_session("local[2]")
    if period == "2025-04" and table(region["db"], "SELECT * FROM runs WHERE run_id = "
                                     "'s-2025-03'").height == 0:
        # April's readmission merge looks back at March: settle March first when the March
        # case of this test did not run (as under `-m slow`)
        settle(region, "2025-03", "s-2025-03", "--engine", "spark", "--master", "local[2]")
    polars_out = settle(region, period, f"p-{period}")
    spark_out = settle(region, period, f"s-{period}", "--engine", "spark", "--master", "local[2]")
    assert "on Spark (local[2])" in spark_out
    # the summary figures agree: case types, payable, FFS amount, prepayment, invalid
    assert polars_out.splitlines()[-1] == spark_out.splitlines()[-1].split("; Parquet")[0]
    # one run path (engine.pipeline.run_settle + engine.executors): the same runs row and
    # stored summary, every key (outside_period, group_types, unmatched … included)
    runs = table(region["db"], f"SELECT * EXCLUDE (run_id, started_at, finished_at) FROM runs "
                               f"WHERE run_id IN ('p-{period}', 's-{period}') ORDER BY run_id")
    assert runs.height == 2 and runs.n_unique() == 1, runs
    for name in ("case_results", "hospital_period_results"):
        expected = run_rows(region["db"], name, f"p-{period}")
        got = run_rows(region["db"], name, f"s-{period}")
        assert got.height == expected.height > 0
        assert got.equals(expected), name  # every column, money to the fen
    if period == "2025-03":
        cases = run_rows(region["db"], "case_results", "s-2025-03")
        assert cases.filter(pl.col("error_code") == "I107").height == 2  # the repeated ids
        assert cases["review_over_quota"].any()  # the quota applied inside one hospital
        assert {"violation", "review_ffs", "review_uplift"} <= set(cases["case_type"])
    else:  # an April stay merged into a March one settled by the earlier run (§2.5)
        across = table(region["db"], """
            SELECT a.case_id FROM case_results a JOIN case_results m
              ON m.run_id = 's-2025-03' AND m.status = 'ok' AND m.patient_id = a.patient_id
             AND m.hospital_id = a.hospital_id AND m.group_code = a.group_code
             AND a.admit_date - m.discharge_date BETWEEN 0 AND 10
            WHERE a.run_id = 's-2025-04' AND a.case_type = 'readmission_merged'""")
        assert across.height > 0


@pytest.mark.slow
def test_spark_settle_rerun_replaces_and_parquet_is_partitioned(region: dict[str, Path]) -> None:
    settle(region, "2025-03", "s-again", "--engine", "spark", "--master", "local[2]")
    first = run_rows(region["db"], "case_results", "s-again")
    settle(region, "2025-03", "s-again", "--engine", "spark", "--master", "local[2]")
    assert run_rows(region["db"], "case_results", "s-again").equals(first)
    runs = table(region["db"], "SELECT * FROM runs WHERE run_id = 's-again'")
    assert runs.height == 1 and runs["n_cases"][0] == first.height
    out = region["db"].parent / "results" / "s-again" / "case_results"
    assert {p.name for p in out.iterdir() if p.is_dir()} <= {
        "fund_pool=employee", "fund_pool=resident", "fund_pool=__HIVE_DEFAULT_PARTITION__"}
    parquet = pl.read_parquet(out / "**" / "*.parquet", hive_partitioning=True)
    assert parquet.height == first.height
    assert parquet["fund_payable"].sum() == first["fund_payable"].sum()


@pytest.mark.slow
def test_spark_settle_no_store_writes_parquet_only(region: dict[str, Path]) -> None:
    out = settle(region, "2025-04", "s-nostore", "--engine", "spark", "--master", "local[2]",
                 "--no-store")
    assert "store not loaded" in out
    assert table(region["db"], "SELECT * FROM runs WHERE run_id = 's-nostore'").height == 0
    assert (region["db"].parent / "results" / "s-nostore" / "hospital_period_results.parquet"
            ).is_file()


@pytest.mark.slow  # a Spark start: ~20 s
def test_spark_settle_refuses_too_many_held_cases_unless_allowed(region: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    """The held-share refusal and --allow-held take effect on Spark as on this machine (the
    Spark path used to store such a run without asking)."""
    bad = tmp_path / "misspelt.parquet"
    pl.read_parquet(region["2025-03"]).rename({"total_cost": "医疗总费"}).write_parquet(bad)
    args = ["settle", "--policy", POLICY, "--cases", str(bad), "--period", "2025-05",
            "--run-id", "s-held-05", "--hospitals", str(region["hospitals"]),
            "--db", str(region["db"]), "--engine", "spark", "--master", "local[2]"]
    refused = CliRunner().invoke(cli, args)
    assert isinstance(refused.exception, RefusedError) and refused.exception.exit_code == 4
    assert "are held" in str(refused.exception) and "S104" in str(refused.exception)
    assert table(region["db"], "SELECT * FROM runs WHERE run_id = 's-held-05'").height == 0
    # the Parquet Spark wrote while settling goes with the refusal (it used to stay behind)
    assert not (region["db"].parent / "results" / "s-held-05").exists()
    allowed = CliRunner().invoke(cli, [*args, "--allow-held"], catch_exceptions=False)
    assert allowed.exit_code == 0, allowed.output
    stored = table(region["db"], "SELECT count(*) AS n FROM case_results "
                                 "WHERE run_id = 's-held-05' AND error_code = 'S104'")
    assert stored["n"][0] > 0
    con = open_store(region["db"])
    try:
        for name in ("case_results", "hospital_period_results", "runs"):
            con.execute(f"DELETE FROM {name} WHERE run_id = 's-held-05'")
    finally:
        con.close()


def test_spark_clearing_equals_single_machine(region: dict[str, Path]) -> None:
    spark = spark_session("local[2]")
    done = table(region["db"], "SELECT period FROM runs WHERE run_id LIKE 's-2025-%'")
    periods = sorted(done["period"])
    assert periods, "runs after test_spark_settle_equals_single_machine_to_the_fen"
    for period in periods:  # the latest run of each period (what clear reads) is the polars one
        settle(region, period, f"p-{period}")
    result = CliRunner().invoke(cli, ["clear", "--policy", POLICY, "--year", "2025",
                                      "--partial", "--db", str(region["db"])],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = table(region["db"], "SELECT * EXCLUDE (run_id) FROM clearing_results "
                                   "ORDER BY fund_pool, hospital_id")
    periods = table(region["db"], "SELECT * EXCLUDE (run_id) FROM hospital_period_results "
                                  "WHERE run_id LIKE 's-2025-%'")
    got = pl.from_arrow(clear_spark(spark, spark.createDataFrame(periods.to_arrow()),
                                    load_policy(POLICY), 2025).toArrow())
    assert isinstance(got, pl.DataFrame)
    assert got.height == expected.height > 0
    for col in ("payable", "ffs_fund_amount", "surplus_retained", "overspend_shared",
                "final_payment", "prepaid", "net_clearing", "reserve_withheld", "point_value"):
        assert got[col].cast(pl.String).to_list() == expected[col].cast(pl.String).to_list(), col


REGION = Path(__file__).parents[2] / "data" / "fixtures" / "region"


def test_spark_settles_fixture_region_like_single_machine(tmp_path: Path) -> None:
    """The committed 20-hospital region (with seeded split admissions, so the readmission merge
    applies) settled as one batch: Spark's case rows and hospital sums equal the pipeline's."""
    from engine.pipeline import Weights, read_case_file, settle_frame
    from engine.spark import hospital_period_spark, read_cases_spark, settle_spark, write_parquet
    from weights import build_drg

    spark = spark_session("local[2]")
    policy = load_policy(POLICY)
    hospitals = pl.read_parquet(REGION / "hospitals.parquet")
    cases = read_case_file(REGION / "cases.parquet")
    weights = Weights("region", build_drg(cases, policy.policy.ruleset).weights)
    expected, expected_periods = settle_frame(cases, policy, weights, hospitals, "2024-12")
    results = settle_spark(spark, read_cases_spark(spark, REGION / "cases.parquet"), policy,
                           weights, hospitals, "2024-12")
    write_parquet(results, tmp_path / "case_results")
    written = spark.read.parquet(str(tmp_path / "case_results"))
    got = pl.read_parquet(tmp_path / "case_results" / "*.parquet").sort("_seq")
    assert got.drop("_seq", "period").equals(expected)
    assert (expected["case_type"] == "readmission_merged").any()
    periods = pl.from_arrow(hospital_period_spark(written, policy, "2024-12").toArrow())
    assert isinstance(periods, pl.DataFrame)
    assert periods.equals(expected_periods)


@pytest.mark.slow
def test_spark_settles_dip_like_single_machine(tmp_path: Path) -> None:
    """The DIP path: a catalogue built from history and read back from the store (broadcast to
    the workers), group_dip and DIP settlement under jiangmen_dip_2025."""
    from engine.pipeline import load_weights, read_case_file, settle_frame
    from engine.spark import hospital_period_spark, read_cases_spark, settle_spark, write_parquet
    from engine.synth import generate
    from weights import open_store, publish
    from weights.dip_build import build_dip_catalog
    from weights.dip_store import save_catalog

    spark = spark_session("local[2]")
    hospitals, history, _ = generate(3000, 5, 2024, 3)
    _, current, _ = generate(2000, 5, 2025, 3)
    db = tmp_path / "dip.duckdb"
    open_store(db).close()
    save_catalog(db, build_dip_catalog(history).catalog, "dip-spark-2025", region="jiangmen",
                 year=2025, source="test history")
    con = open_store(db)
    publish(con, "dip-spark-2025")
    policy = load_policy("jiangmen_dip_2025")
    weights = load_weights(con, policy)
    con.close()
    current.write_parquet(tmp_path / "cases.parquet")
    expected, expected_periods = settle_frame(read_case_file(tmp_path / "cases.parquet"), policy,
                                              weights, hospitals, "2025-03")
    results = settle_spark(spark, read_cases_spark(spark, tmp_path / "cases.parquet"), policy,
                           weights, hospitals, "2025-03")
    write_parquet(results, tmp_path / "case_results")
    got = pl.read_parquet(tmp_path / "case_results" / "*.parquet").sort("_seq")
    assert got.drop("_seq", "period").equals(expected)
    assert (expected["method"] == "dip").all() and (expected["status"] == "ok").any()
    periods = pl.from_arrow(hospital_period_spark(
        spark.read.parquet(str(tmp_path / "case_results")), policy, "2025-03").toArrow())
    assert isinstance(periods, pl.DataFrame)
    assert periods.equals(expected_periods)


@pytest.mark.slow
def test_spark_settles_chinese_headers_with_repeated_ids(tmp_path: Path) -> None:
    """A hospital file with Chinese headers (aliases resolved per batch, and by the driver for
    the repeated-case_id check) and repeated claims settles as on one machine."""
    from engine.pipeline import Weights, read_case_file, settle_frame
    from engine.spark import read_cases_spark, settle_spark
    from weights import build_drg

    spark = spark_session("local[2]")
    policy = load_policy(POLICY)
    cases = pl.read_parquet(REGION / "cases.parquet").head(5_000)
    cases = pl.concat([cases, cases.head(3)]).rename(
        {"case_id": "病案号", "hospital_id": "定点医疗机构编码", "total_cost": "医疗总费用"})
    cases.write_parquet(tmp_path / "cases.parquet")
    hospitals = pl.read_parquet(REGION / "hospitals.parquet")
    typed = read_case_file(tmp_path / "cases.parquet")
    weights = Weights("region", build_drg(typed, policy.policy.ruleset).weights)
    expected, _ = settle_frame(typed, policy, weights, hospitals, "2024-12")
    got = pl.from_arrow(settle_spark(spark, read_cases_spark(spark, tmp_path / "cases.parquet"),
                                     policy, weights, hospitals, "2024-12").toArrow())
    assert isinstance(got, pl.DataFrame)
    assert got.sort("_seq").drop("_seq", "period").equals(expected)
    assert (expected["error_code"] == "I107").sum() == 3


def test_spark_settle_ruleset_auto_equals_single_machine_and_refuses_another_ruleset(  # type: ignore[no-untyped-def]
        tmp_path: Path) -> None:
    """`settle --engine spark --ruleset auto`: the fixture region's 2024 discharges (one
    undated: held E108) settle exactly as on the single machine; moved into 2025 they fall
    under chs_drg_20, and the run is refused on the driver with the single machine's line."""
    from engine.pipeline import Weights, read_case_file, settle_frame
    from engine.spark import read_cases_spark, settle_spark, write_parquet
    from grouper.errors import RefusedError
    from weights import build_drg

    spark = spark_session("local[2]")
    policy = load_policy(POLICY)
    hospitals = pl.read_parquet(REGION / "hospitals.parquet")
    source = pl.read_parquet(REGION / "cases.parquet")
    undated = source.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(None)
                                  .otherwise(pl.col("discharge_date")).alias("discharge_date"))
    undated.write_parquet(tmp_path / "cases.parquet")
    cases = read_case_file(tmp_path / "cases.parquet")
    weights = Weights("region", build_drg(read_case_file(REGION / "cases.parquet"),
                                          policy.policy.ruleset).weights)
    expected, _ = settle_frame(cases, policy, weights, hospitals, "2024-12", by_date=True)
    assert expected.filter(pl.col("error_code") == "E108").height == 1
    results = settle_spark(spark, read_cases_spark(spark, tmp_path / "cases.parquet"), policy,
                           weights, hospitals, "2024-12", by_date=True)
    write_parquet(results, tmp_path / "case_results")
    got = pl.read_parquet(tmp_path / "case_results" / "*.parquet").sort("_seq")
    assert got.drop("_seq", "period").equals(expected)

    later = source.with_columns(pl.col("discharge_date").dt.offset_by("1y"))
    later.write_parquet(tmp_path / "later.parquet")
    with pytest.raises(RefusedError, match="under chs_drg_20 by discharge date"):
        settle_spark(spark, read_cases_spark(spark, tmp_path / "later.parquet"), policy,
                     weights, hospitals, "2024-12", by_date=True)
    with pytest.raises(RefusedError) as single:
        settle_frame(read_case_file(tmp_path / "later.parquet"), policy, weights, hospitals,
                     "2024-12", by_date=True)
    with pytest.raises(RefusedError) as on_spark:
        settle_spark(spark, read_cases_spark(spark, tmp_path / "later.parquet"), policy,
                     weights, hospitals, "2024-12", by_date=True)
    assert str(on_spark.value) == str(single.value)
