"""The special-review quota counts against the year (payment-rules §2.7), hand-built and through
monthly runs in a real store: earlier periods' approvals use it up, a re-run never counts
itself."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import polars as pl
import pytest

from engine.pipeline import run_settle
from engine.policy import load_policy, parse_policy
from engine.settlement.batch import settle_cases
from engine.settlement.review import normalise_reviews
from tests.engine.test_pipeline import build_store, table
from tests.engine.test_settle_cases import DRG_POLICY, HOSPITALS, WEIGHTS, frames


@pytest.mark.parametrize(("before", "granted", "types"), [
    # floor(0.5 × (3 + 2)) − 2 = 0: both approvals over quota, paid as high outliers
    (3, 2, ["high_outlier", "high_outlier"]),
    # floor(0.5 × 5) − 1 = 1: c01 (first in the review file) keeps its approval
    (3, 1, ["high_outlier", "review_ffs"]),
    # floor(0.5 × 6) − 1 = 2: both approved
    (4, 1, ["review_ffs", "review_ffs"]),
])
def test_earlier_cases_and_approvals_set_what_is_left(before, granted, types):
    cases, grouped = frames([{"hospital_id": "Q", "total_cost": 50000}] * 2)
    reviews = normalise_reviews(pl.DataFrame({"case_id": ["c01", "c00"],
                                              "review_outcome": ["approved_ffs"] * 2}))
    hospitals = HOSPITALS.with_columns(
        pl.when(pl.col("hospital_id") == "Q").then(before).otherwise(0)
        .alias("review_cases_before"),
        pl.when(pl.col("hospital_id") == "Q").then(granted).otherwise(0)
        .alias("review_granted_before"))
    out = settle_cases(cases, grouped, WEIGHTS, hospitals, parse_policy(DRG_POLICY),
                       reviews=reviews)
    assert out["case_type"].to_list() == types
    # RW 1.2, r = 5: 1.2 + 1.2 × (5 − 2.5) = 4.2 points × 10,000; FFS pays the cost
    standard = {"high_outlier": D("42000.00"), "review_ffs": D("50000.00")}
    assert out["payment_standard"].to_list() == [standard[t] for t in types]
    assert out["review_over_quota"].to_list() == [t == "high_outlier" for t in types]


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_store(tmp_path_factory.mktemp("quota"), cases=1200, hospitals=3)


def test_monthly_runs_share_the_year_quota(region, tmp_path):
    base = load_policy("fuzhou_drg_2025")
    policy = base.model_copy(update={"review": base.review.model_copy(
        update={"quota": D("0.2")})})
    files = {p: pl.read_parquet(region[p]) for p in ("2025-03", "2025-04")}
    hospital = files["2025-03"]["hospital_id"].value_counts(sort=True)["hospital_id"][0]
    ids = {p: f.filter(pl.col("hospital_id") == hospital)["case_id"].to_list()
           for p, f in files.items()}
    n_mar, n_apr = len(ids["2025-03"]), len(ids["2025-04"])
    assert n_mar >= 20 and n_apr >= 20

    def run(period: str, run_id: str, approve: list[str]) -> int:
        path = tmp_path / f"reviews_{run_id}_{len(approve)}.csv"
        pl.DataFrame({"case_id": approve, "review_outcome": ["approved_ffs"] * len(approve)},
                     schema={"case_id": pl.String, "review_outcome": pl.String}
                     ).write_csv(path)
        run_settle(region["db"], policy, region[period], period=period, run_id=run_id,
                   hospitals_path=region["hospitals"], reviews_path=path)
        rows = table(region["db"], f"SELECT review_outcome, review_over_quota FROM case_results "
                                   f"WHERE run_id = '{run_id}' AND hospital_id = '{hospital}'")
        assert rows.height == (n_mar if period == "2025-03" else n_apr)
        granted = rows.filter(pl.col("review_outcome") == "approved_ffs").height
        assert rows["review_over_quota"].sum() == len(approve) - granted
        return granted

    year = (n_mar + n_apr) * 2 // 10  # floor(0.2 × the hospital's cases of both months)
    assert run("2025-03", "q-03", ids["2025-03"][:1]) == 1
    # April: the year so far allows `year`, March already used 1 (a per-run quota gave
    # floor(0.2 × n_apr))
    assert run("2025-04", "q-04", ids["2025-04"]) == year - 1
    # re-running the same run id does not count its own earlier rows
    assert run("2025-04", "q-04", ids["2025-04"]) == year - 1
    # a new run id for April supersedes q-04 (latest run of the period), so q-04 is not counted
    assert run("2025-04", "q-04b", ids["2025-04"]) == year - 1
    # a March re-run sees only earlier months (none): its own floor(0.2 × n_mar), whatever
    # April used — a month's result never depends on later months
    march = n_mar * 2 // 10
    assert run("2025-03", "q-03", ids["2025-03"]) == march
    # April re-run: what the year so far allows minus March's new approvals
    assert run("2025-04", "q-04b", ids["2025-04"]) == year - march
    # a run of another policy name does not share the quota
    other = policy.model_copy(update={"name": "other_policy"})
    run_settle(region["db"], other, region["2025-03"], period="2025-03", run_id="o-03",
               hospitals_path=region["hospitals"])
    assert run("2025-04", "q-04b", ids["2025-04"]) == year - march
