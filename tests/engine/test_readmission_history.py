"""Readmission merge across runs (payment-rules §2.5): an April readmission within
`merge_days` (10) of a March discharge settled by an earlier run is merged (0 points), hand-built
and through real March/April runs in a store; the earlier runs are the latest run of each
earlier period of the same policy and year, never the run itself.

Hand-built cases: test_settle_cases' DRG rate policy (G1, RW 1.2 at 10,000 yuan per RW, tertiary
hospital A, cost 10,000 of which the patient pays 3,000, stays of 3 days).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.ingest import read_cases
from engine.pipeline import run_settle
from engine.policy import load_policy, parse_policy
from engine.pseudonym import pseudonymise
from engine.readmission_history import earlier_episodes
from engine.settle_case import settle_cases
from engine.settle_readmission import EPISODE_SCHEMA
from tests.engine.test_pipeline import build_store, table
from tests.engine.test_settle_cases import DRG_POLICY, HOSPITALS, WEIGHTS, frames
from weights import open_store

POLICY = parse_policy(DRG_POLICY)
APR = date(2025, 4, 1)


def _earlier(rows: list[tuple[str, str, str, date, date]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EPISODE_SCHEMA, orient="row")


# title, April case (patient, admit, extra fields), expected case_type
APRIL = [
    ("5 days after a March discharge: merged", ("p1", APR + timedelta(days=1), {}),
     "readmission_merged"),
    ("13 days after: not merged", ("p2", APR + timedelta(days=1), {}), "normal"),
    ("first stay at another hospital: not merged", ("p3", APR + timedelta(days=1), {}),
     "normal"),
    ("first stay in another group: not merged", ("p4", APR + timedelta(days=1), {}), "normal"),
    ("planned chemotherapy (Z51): not merged",
     ("p5", APR + timedelta(days=1), {"diagnoses": ["Z51.100"]}), "normal"),
    ("exactly merge_days (10) after: merged", ("p6", APR + timedelta(days=9), {}),
     "readmission_merged"),
    ("same day as an earlier run's discharge: merged", ("p7", APR, {}), "readmission_merged"),
    ("6 days after March: merged", ("p8", APR + timedelta(days=4), {}), "readmission_merged"),
    ("7 days after that merged April stay: merged too", ("p8", APR + timedelta(days=14), {}),
     "readmission_merged"),
    ("the latest of two March stays counts (gap 5)", ("p10", APR + timedelta(days=2), {}),
     "readmission_merged"),
]
EARLIER = _earlier([
    ("p1", "A", "G1", date(2025, 3, 25), date(2025, 3, 28)),
    ("p2", "A", "G1", date(2025, 3, 17), date(2025, 3, 20)),
    ("p3", "B", "G1", date(2025, 3, 28), date(2025, 3, 31)),
    ("p4", "A", "G2", date(2025, 3, 28), date(2025, 3, 31)),
    ("p5", "A", "G1", date(2025, 3, 28), date(2025, 3, 31)),
    ("p6", "A", "G1", date(2025, 3, 28), date(2025, 3, 31)),
    ("p7", "A", "G1", date(2025, 3, 29), date(2025, 4, 1)),
    ("p8", "A", "G1", date(2025, 3, 27), date(2025, 3, 30)),
    ("p10", "A", "G1", date(2025, 3, 1), date(2025, 3, 5)),
    ("p10", "A", "G1", date(2025, 3, 26), date(2025, 3, 29)),
])


def _april() -> tuple[pl.DataFrame, pl.DataFrame]:
    return frames([{"patient_id": p, "admit_date": d, "los": 3, **extra}
                   for _, (p, d, extra), _ in APRIL])


@pytest.mark.parametrize("index", range(len(APRIL)), ids=[a[0] for a in APRIL])
def test_april_case_against_march_episodes(index):
    cases, grouped = _april()
    out = settle_cases(cases, grouped, WEIGHTS, HOSPITALS, POLICY, earlier_episodes=EARLIER)
    title, _, case_type = APRIL[index]
    row = out.row(index, named=True)
    paid = case_type == "normal"
    want = (case_type, D("1.2") if paid else D(0), D("12000.00") if paid else D("0.00"),
            D("9000.00") if paid else D("0.00"))
    assert (row["case_type"], row["points"], row["payment_standard"],
            row["fund_payable"]) == want, title


def test_without_earlier_episodes_only_the_runs_own_chain_is_merged():
    cases, grouped = _april()
    out = settle_cases(cases, grouped, WEIGHTS, HOSPITALS, POLICY)
    merged = out.filter(pl.col("case_type") == "readmission_merged")["case_id"].to_list()
    assert merged == ["c08"]  # p8's second April stay, 7 days after its first


def test_merge_off_ignores_earlier_episodes():
    cases, grouped = _april()
    off = parse_policy(DRG_POLICY + "[readmission]\nmerge = false\n")
    out = settle_cases(cases, grouped, WEIGHTS, HOSPITALS, off, earlier_episodes=EARLIER)
    assert "readmission_merged" not in out["case_type"].to_list()


def _episodes(rng: np.random.Generator, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        admit = date(2025, 3, 1) + timedelta(days=int(rng.integers(0, 61)))
        rows.append({"patient_id": f"p{rng.integers(0, 40)}",
                     "hospital_id": ["A", "B"][rng.integers(0, 2)],
                     "drg": ["G1", "G2"][rng.integers(0, 2)], "admit_date": admit,
                     "los": int(rng.integers(1, 7)),
                     "diagnoses": ["Z51.100" if rng.random() < 0.1 else "K80.100"]})
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_split_runs_merge_like_one_run(seed):
    """March and April settled as one run or April after March (March's episodes as the
    earlier ones): the April cases come out the same, case by case."""
    rows = _episodes(np.random.default_rng(seed), 400)
    march = sorted((r for r in rows if r["admit_date"] < APR),
                   key=lambda r: (r["admit_date"], r["los"]))
    april = [r for r in rows if r["admit_date"] >= APR]
    cases, grouped = frames(march + april)
    one_run = settle_cases(cases, grouped, WEIGHTS, HOSPITALS, POLICY).tail(len(april))
    m_cases, _ = frames(march)
    earlier = m_cases.select(
        "patient_id", "hospital_id", pl.Series("group_code", [r["drg"] for r in march]),
        "admit_date", "discharge_date")
    a_cases, a_grouped = frames(april)
    split = settle_cases(a_cases, a_grouped, WEIGHTS, HOSPITALS, POLICY,
                         earlier_episodes=earlier)
    alone = settle_cases(a_cases, a_grouped, WEIGHTS, HOSPITALS, POLICY)
    assert split["case_type"].to_list() == one_run["case_type"].to_list()
    assert split["fund_payable"].to_list() == one_run["fund_payable"].to_list()
    gained = (split["case_type"] == "readmission_merged").sum() - (
        alone["case_type"] == "readmission_merged").sum()
    assert gained > 0  # March stays did merge April ones


# ---- real March and April runs in a store ---------------------------------------------------

@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_store(tmp_path_factory.mktemp("readmit"), cases=1500, hospitals=3)


def _case_types(db: Path, run_id: str) -> dict[str, str]:
    rows = table(db, f"SELECT case_id, case_type FROM case_results WHERE run_id = '{run_id}'")
    return dict(rows.iter_rows())


def test_april_readmissions_merge_into_march_runs(region, tmp_path):
    policy = load_policy("fuzhou_drg_2025")
    common = {"hospitals_path": region["hospitals"]}
    run_settle(region["db"], policy, region["2025-03"], period="2025-03", run_id="m-03",
               **common)
    march = table(region["db"], "SELECT * FROM case_results WHERE run_id = 'm-03' AND "
                                "status = 'ok' AND discharge_date >= DATE '2025-03-26' "
                                "ORDER BY case_id")
    assert march.height >= 4 and march["patient_id"].null_count() == 0
    # four of them whose principal diagnosis is not planned care (Z51/Z49 are never merged)
    planned = pl.col("diagnoses").list.first().str.contains("^Z5[19]")
    source = pl.read_parquet(region["2025-03"]).filter(
        pl.col("case_id").is_in(march["case_id"].implode()), ~planned).sort("case_id").head(4)
    assert source.height == 4
    # readmitted 1, 10 and 11 days after the March discharge, and 3 days after at another
    # hospital
    gaps = [1, 10, 11, 3]
    others = sorted(set(pl.read_parquet(region["hospitals"])["hospital_id"]))
    readmits = source.with_columns(
        (pl.lit("R") + pl.col("case_id")).alias("case_id"),
        (pl.col("discharge_date") + pl.Series([timedelta(days=g) for g in gaps]))
        .alias("admit_date"),
        pl.Series("hospital_id", [h if i < 3 else next(o for o in others if o != h)
                                  for i, h in enumerate(source["hospital_id"])]))
    readmits = readmits.with_columns(
        (pl.col("admit_date") + pl.duration(days=pl.col("los"))).alias("discharge_date"))
    april = pl.concat([pl.read_parquet(region["2025-04"]), readmits.select(
        pl.read_parquet(region["2025-04"]).columns)])
    april_path = tmp_path / "april.parquet"
    april.write_parquet(april_path)
    ids = readmits["case_id"].to_list()

    # April before March is in the store (under another policy name): nothing to merge into
    other = policy.model_copy(update={"name": "other_policy"})
    run_settle(region["db"], other, april_path, period="2025-04", run_id="o-04", **common)
    alone = _case_types(region["db"], "o-04")
    assert all(alone[i] != "readmission_merged" for i in ids)

    run_settle(region["db"], policy, april_path, period="2025-04", run_id="a-04", **common)
    got = _case_types(region["db"], "a-04")
    assert [got[i] for i in ids[:2]] == ["readmission_merged"] * 2
    assert got[ids[2]] != "readmission_merged" and got[ids[3]] != "readmission_merged"
    # every April case the store merged (these two, and the synthetic region's own
    # readmissions) follows a March stay of the same patient, hospital and group ≤ 10 days
    changed = {k for k in got if (got[k] == "readmission_merged") != (
        alone[k] == "readmission_merged")}
    assert set(ids[:2]) <= changed and not set(ids[2:]) & changed
    gaps_found = table(region["db"], f"""
        SELECT a.case_id, min(a.admit_date - m.discharge_date) AS gap
        FROM case_results a JOIN case_results m
          ON m.run_id = 'm-03' AND m.status = 'ok' AND m.patient_id = a.patient_id
         AND m.hospital_id = a.hospital_id AND m.group_code = a.group_code
         AND a.admit_date >= m.discharge_date
        WHERE a.run_id = 'a-04' AND a.case_id IN ({", ".join(f"'{k}'" for k in changed)})
        GROUP BY a.case_id""")
    assert gaps_found.height == len(changed) and gaps_found["gap"].max() <= 10
    merged = table(region["db"], "SELECT points, payment_standard, fund_payable FROM "
                                 "case_results WHERE run_id = 'a-04' AND case_id IN "
                                 f"('{ids[0]}', '{ids[1]}')")
    assert set(merged.rows()) == {(D("0.0000"), D("0.00"), D("0.00"))}
    check = table(region["db"], """
        SELECT h.fund_payable, c.s, h.points, c.p
        FROM hospital_period_results h JOIN (
            SELECT hospital_id, fund_pool, sum(fund_payable) AS s,
                   sum(points) FILTER (WHERE case_type NOT IN ('invalid', 'violation')) AS p
            FROM case_results WHERE run_id = 'a-04' GROUP BY ALL) c
          USING (hospital_id, fund_pool)
        WHERE h.run_id = 'a-04'""")
    assert check.height > 0
    assert (check["fund_payable"] == check["s"]).all() and (check["points"] == check["p"]).all()

    # re-running the run id, or April under a new id, finds the same (never itself)
    before = table(region["db"], "SELECT * FROM case_results WHERE run_id = 'a-04' "
                                 "ORDER BY case_id")
    run_settle(region["db"], policy, april_path, period="2025-04", run_id="a-04", **common)
    assert table(region["db"], "SELECT * FROM case_results WHERE run_id = 'a-04' "
                               "ORDER BY case_id").equals(before)
    run_settle(region["db"], policy, april_path, period="2025-04", run_id="a-04b", **common)
    assert _case_types(region["db"], "a-04b") == got

    # March re-run under a new id supersedes m-03 (latest run of the period): still found
    run_settle(region["db"], policy, region["2025-03"], period="2025-03", run_id="m-03b",
               **common)
    con = open_store(region["db"], read_only=True)
    try:
        # the run's cases as settlement reads them: patient ids pseudonymised at ingest
        found = earlier_episodes(con, policy, period="2025-04", run_id="a-04",
                                 cases=read_cases(april_path).cases)
        runs_read = earlier_episodes(con, policy, period="2025-03", run_id="m-03b")
    finally:
        con.close()
    assert found.height > 0 and runs_read.height == 0  # nothing before March
    # the March episodes of the readmitted patients, from one March run only (no duplicates),
    # for the patients and hospitals of the April file only: not the fourth patient's March
    # hospital, where April has no stay of theirs
    source = pseudonymise(source)  # the store holds the patients' pseudonyms only
    first = found.filter(pl.col("patient_id").is_in(source["patient_id"].implode()))
    assert first.height == first.unique().height
    keys = set(first.select("patient_id", "hospital_id").rows())
    assert set(source.head(3).select("patient_id", "hospital_id").rows()) <= keys
    assert source.select("patient_id", "hospital_id").row(3) not in keys
    run_settle(region["db"], policy, april_path, period="2025-04", run_id="a-04", **common)
    assert _case_types(region["db"], "a-04") == got
