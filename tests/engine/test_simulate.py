"""What-if simulation (issue 18) through the CLI on a real DuckDB store: a scenario equal to its
baseline changes nothing to the fen, a point value scales every point payable exactly, the
budget-neutral point value brackets the budget, sweeps, regrouping under another ruleset, and
nothing is written to the settlement tables."""

from __future__ import annotations

import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from PIL import Image

from engine.cli import cli
from engine.policy import load_policy
from engine.synth import generate
from tests.engine.test_pipeline import build_store, table
from weights import build_drg, open_store, save_weight_version

POLICY = "fuzhou_drg_2025"
FOSHAN_WEIGHTS = "test-foshan-2025"
HELD = ("invalid", "violation")
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The settlement test store (chs_drg_11 weights) plus a foshan_2022 weight version built
    from the same history, for the ruleset scenario."""
    paths = build_store(tmp_path_factory.mktemp("simulate"))
    _, history, _ = generate(3000, 5, 2024, 11)  # build_store's history (same seed)
    con = open_store(paths["db"])
    build = build_drg(history, "foshan_2022")
    save_weight_version(con, FOSHAN_WEIGHTS, "drg", build.weights, ruleset="foshan_2022",
                        region="fuzhou", year=2025, source="test history")
    con.close()
    return paths


def simulate(region: dict[str, Path], sim_id: str, *args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(cli, [
        "simulate", "--cases", str(region["2025-03"]), "--baseline", POLICY,
        "--hospitals", str(region["hospitals"]), "--db", str(region["db"]),
        "--sim-id", sim_id, *args])
    if ok:
        assert result.exit_code == 0, result.output
    return result.output


def sim(region: dict[str, Path], name: str, sim_id: str) -> pl.DataFrame:
    return table(region["db"], f"SELECT * FROM {name} WHERE sim_id = '{sim_id}'")


def test_equal_scenario_changes_nothing_and_baseline_is_settlement(region):
    before = table(region["db"], "SELECT count(*) AS n FROM case_results")["n"][0]
    out = simulate(region, "same", "--scenario", POLICY)
    assert "exactly as the baseline" in out
    cases = sim(region, "sim_case", "same")
    n = pl.read_parquet(region["2025-03"]).height
    assert cases.height == n and cases["case_id"].n_unique() == n
    assert "patient_id" not in cases.columns
    assert (cases["change"] == 0).all() and (cases["cause"] == "none").all()
    assert (sim(region, "sim_hospital", "same")["change"] == 0).all()
    assert table(region["db"], "SELECT count(*) AS n FROM case_results")["n"][0] == before
    # the baseline pays what `drgdip settle` pays for the same file, case by case
    settled = CliRunner().invoke(cli, [
        "settle", "--policy", POLICY, "--cases", str(region["2025-03"]), "--period", "2025-03",
        "--run-id", "sim-check", "--hospitals", str(region["hospitals"]),
        "--db", str(region["db"])])
    assert settled.exit_code == 0, settled.output
    batch = table(region["db"], "SELECT case_id, fund_payable FROM case_results "
                                "WHERE run_id = 'sim-check'")
    joined = cases.join(batch, on="case_id", how="left")
    assert (joined["base_fund_payable"] == joined["fund_payable_right"]).all()


SAME_VALUES = [("outliers.k_low", "0.4"), ("pool.employee.pv_budget", "232.7300"),
               ("pool.resident.pv_budget", "232.36"), ("clearing.risk_reserve_rate", "0.05"),
               ("readmission.merge_days", "10")]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(SAME_VALUES), min_size=1, max_size=3, unique=True))
def test_any_field_set_to_its_own_value_changes_nothing(region, sets):
    assert load_policy(POLICY).outliers.k_low == Decimal("0.4")  # the values above are its own
    args = [a for key, value in sets for a in ("--set", f"{key}={value}")]
    simulate(region, "own-values", *args)
    cases = sim(region, "sim_case", "own-values")
    assert (cases["change"] == 0).all() and (cases["base_points"] == cases["points"]).all()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.decimals(min_value=Decimal("0.5"), max_value=Decimal(2), places=3))
def test_point_value_scales_every_point_payable_by_its_ratio(region, factor):
    policy = load_policy(POLICY)
    new = {p: (policy.pool[p].pv_budget * factor).quantize(Decimal("0.0001"), ROUND_HALF_UP)
           for p in policy.pool}
    args = [a for p, v in new.items() for a in ("--set", f"pool.{p}.pv_budget={v}")]
    simulate(region, "pv-ratio", *args)
    # fuzhou pays high outliers `cost_excess_share`: their excess points are money ÷ point value
    # (payment-rules §3.4), so only their standard part scales; every other point is a weight.
    assert policy.outliers.high_outlier_method == "cost_excess_share"
    cases = sim(region, "sim_case", "pv-ratio").filter(
        ~pl.col("case_type").is_in((*HELD, "high_outlier")) & (pl.col("points") > 0))
    assert cases.height > 100
    for r in cases.iter_rows(named=True):
        old = policy.pool[r["fund_pool"]].pv_budget
        ratio = new[r["fund_pool"]] / old
        assert r["points"] == r["base_points"]
        assert r["point_value"] == new[r["fund_pool"]]
        # before rounding the points part is the baseline's times the ratio, exactly
        exact = r["points"] * new[r["fund_pool"]]
        assert exact == r["base_points"] * old * ratio or abs(
            exact - r["base_points"] * old * ratio) < Decimal("1e-20")
        assert r["payment_standard"] - r["fixed_amount"] == exact.quantize(CENT, ROUND_HALF_UP)
        base_points_part = (r["base_points"] * old).quantize(CENT, ROUND_HALF_UP)
        assert r["base_payment_standard"] - r["fixed_amount"] == base_points_part


def test_budget_neutral_point_value_brackets_the_budget(region):
    simulate(region, "base-only", "--scenario", POLICY)
    paid = sim(region, "sim_case", "base-only").filter(~pl.col("case_type").is_in(HELD))
    now = dict(paid.group_by("fund_pool").agg(pl.col("base_fund_payable").sum()).iter_rows())
    budgets = {p: (v * Decimal("1.1")).quantize(CENT) for p, v in now.items()}
    sets = [a for p, b in budgets.items() for a in ("--set", f"pool.{p}.budget={b}")]
    out = simulate(region, "solve", *sets, "--solve")
    assert "budget-neutral pv_budget" in out
    solutions = sim(region, "sim_solution", "solve")
    assert set(solutions["fund_pool"]) == set(budgets)
    for r in solutions.iter_rows(named=True):
        assert r["budget"] == budgets[r["fund_pool"]]
        assert Decimal(0) <= r["gap"] < r["step_payable"]
        # check the bracket independently: settle at the value and one step above it
        for value, expect_at_most in ((r["value"], True), (r["value"] + Decimal("0.0001"), False)):
            sid = f"check-{r['fund_pool']}-{expect_at_most}"
            simulate(region, sid, *sets, "--set", f"pool.{r['fund_pool']}.pv_budget={value}")
            got = sim(region, "sim_case", sid).filter(
                ~pl.col("case_type").is_in(HELD) & (pl.col("fund_pool") == r["fund_pool"])
            )["fund_payable"].sum()
            if expect_at_most:
                assert got == r["fund_payable"] and got <= r["budget"]
            else:
                assert got > r["budget"]
                assert got - r["fund_payable"] == r["step_payable"]


def test_sweep_one_row_per_point_and_outliers_grow_with_k_low(region):
    out = simulate(region, "sweep", "--sweep", "outliers.k_low=0.3,0.4,0.5")
    rows = sim(region, "sim_sweep", "sweep").sort("point")
    assert rows["params"].to_list() == [f"outliers.k_low={v}" for v in ("0.3", "0.4", "0.5")]
    assert rows["change"][1] == 0  # 0.4 is the policy's own k_low
    shares = rows["outlier_share"].to_list()
    assert shares == sorted(shares) and shares[0] < shares[-1]
    assert "outliers.k_low=0.5" in out
    simulate(region, "sweep2", "--sweep", "outliers.k_low=0.3,0.5",
             "--sweep", "outliers.excess_share=0.8,1")
    assert sim(region, "sim_sweep", "sweep2").height == 4


def test_another_ruleset_regroups_and_the_causes_add_up(region):
    simulate(region, "ruleset", "--scenario", f"{POLICY}@{FOSHAN_WEIGHTS}",
             "--ruleset", "foshan_2022")
    runs = sim(region, "sim_runs", "ruleset")
    assert '"groupings": 2' in runs["summary"][0]
    cases = sim(region, "sim_case", "ruleset")
    moved = cases.filter(pl.col("moved"))
    assert moved.height > 0 and (moved["cause"] == "regrouped").all()
    causes = dict(sim(region, "sim_cause", "ruleset").select("cause", "change").iter_rows())
    total = sim(region, "sim_hospital", "ruleset")["change"].sum()
    assert sum(causes.values()) == total
    # the same parameters on the same ruleset reuse one grouping
    simulate(region, "reuse", "--set", "outliers.k_low=0.3", "--scenario", POLICY,
             "--scenario", POLICY)
    assert '"groupings": 1' in sim(region, "sim_runs", "reuse")["summary"][0]


def test_rerunning_a_sim_id_replaces_it(region):
    simulate(region, "again", "--set", "outliers.k_low=0.3")
    simulate(region, "again", "--set", "outliers.k_low=0.3")
    n = pl.read_parquet(region["2025-03"]).height
    assert sim(region, "sim_case", "again").height == n
    assert sim(region, "sim_runs", "again").height == 1


@pytest.mark.parametrize(("args", "says"), [
    (["--set", "outliers.k_low=7"], "outliers.k_low"),
    (["--set", "outliers.k_high=2.5"], "k_high_tiers"),
    (["--set", "pool.*.base_rate=9000"], "base_rate"),
    (["--set", "nodot=1"], "section.key=value"),
    (["--sweep", "outliers.k_low=0.3", "--sweep", "outliers.k_low=0.4",
      "--sweep", "outliers.excess_share=1"], "one or two"),
    (["--scenario", "nope_2025"], "unknown policy"),
])
def test_bad_scenarios_fail_with_one_line(region, args, says):
    result = CliRunner().invoke(cli, [
        "simulate", "--cases", str(region["2025-03"]), "--baseline", POLICY,
        "--db", str(region["db"]), *args])
    assert result.exit_code != 0
    assert says in str(result.exception) + result.output


def test_outputs_for_people(region, tmp_path):
    out = tmp_path / "out"
    simulate(region, "files", "--set", "outliers.k_low=0.5", "--out", str(out))
    csv = (out / "hospitals 医院.csv").read_bytes()
    assert csv.startswith("\ufeff".encode()) and "医院 hospital".encode() in csv
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script src=" not in page and page.count('class="plotly-graph-div"') >= 3
    simulate(region, "xlsx", "--set", "outliers.k_low=0.5", "--out", str(tmp_path / "x"),
             "--format", "xlsx")
    book = load_workbook(tmp_path / "x" / "simulation 测算.xlsx")
    assert book["hospitals 医院"]["B1"].value == "医院 hospital"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian package chromium not "
                    "installed (`apt-get install -y chromium`; .ci/run does it)")
def test_report_renders_its_charts_in_headless_chromium(region, tmp_path):
    from tests.engine.test_report_browser import chromium, console_messages

    out = tmp_path / "out"
    simulate(region, "browser", "--set", "outliers.k_low=0.5", "--out", str(out))
    run = chromium(out / "report.html", tmp_path / "profile", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_messages(run.stderr) == []
    n_charts = run.stdout.count('class="plotly-graph-div')
    assert n_charts >= 3 and run.stdout.count('class="main-svg"') >= n_charts
    shot = tmp_path / "shot.png"
    run = chromium(out / "report.html", tmp_path / "profile", "--window-size=1280,1200",
                   "--hide-scrollbars", f"--screenshot={shot}")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert int((pixels.max(axis=2) - pixels.min(axis=2) > 60).sum()) > 500  # coloured bars
