"""Synthetic region: determinism, consistency of every case, grouping rate, documented ranges."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from engine.cli import cli
from engine.ingest import COST_COLUMNS, read_cases
from engine.synth import SEEDED_KINDS, SynthError, default_params, generate
from grouper import group_drg, load_ruleset

ROOT = Path(__file__).resolve().parents[2]
REGION = ROOT / "data" / "fixtures" / "region"
# the arguments the committed fixture was made with (data/fixtures/region/region.json)
FIXTURE_ARGS = {"cases": 20_000, "hospitals": 20, "year": 2024, "seed": 2024}


@pytest.fixture(scope="module")
def cases() -> pl.DataFrame:
    return pl.read_parquet(REGION / "cases.parquet")


@pytest.fixture(scope="module")
def grouped(cases: pl.DataFrame) -> pl.DataFrame:
    g = group_drg(cases)
    costs = cases.select("case_id", "hospital_id", "patient_id", "admit_date", "discharge_date",
                         "los", "procedures", "diagnoses", "readmit_plan_31d",
                         pl.col("total_cost").cast(pl.Float64).alias("cost"))
    out = costs.with_columns(g.select("status", "mdc", "adrg", "drg"))
    return out.with_columns(
        (pl.col("cost") / pl.col("cost").mean().over("drg")).alias("r"))


@pytest.fixture(scope="module")
def seeded() -> pl.DataFrame:
    return pl.read_parquet(REGION / "seeded.parquet")


def test_fixture_is_what_the_generator_makes(cases: pl.DataFrame, seeded: pl.DataFrame) -> None:
    hospitals, again, seeds = generate(**FIXTURE_ARGS)
    assert again.equals(cases)
    assert hospitals.equals(pl.read_parquet(REGION / "hospitals.parquet"))
    assert seeds.sort("kind", "case_id", "hospital_id").equals(
        seeded.sort("kind", "case_id", "hospital_id"))


def test_deterministic_by_seed() -> None:
    a = generate(3000, 6, 2023, 11)
    b = generate(3000, 6, 2023, 11)
    c = generate(3000, 6, 2023, 12)
    assert all(x.equals(y) for x, y in zip(a, b, strict=True))
    assert not a[1].equals(c[1])


def test_generated_cases_ingest_without_problems_and_group_ok(
        cases: pl.DataFrame, grouped: pl.DataFrame) -> None:
    result = read_cases(REGION / "cases.parquet")
    assert result.problems.height == 0
    assert (result.cases["ingest_status"] == "ok").all()
    assert (grouped["status"] == "ok").mean() >= 0.97


def test_money_parts_and_breakdown_add_up_to_the_fen(cases: pl.DataFrame) -> None:
    fen = cases.select((pl.col(pl.Decimal) * 100).cast(pl.Int64))
    parts = fen["fund_paid"] + fen["other_fund_paid"] + fen["patient_paid"]
    assert (parts == fen["total_cost"]).all()
    assert (fen.select(pl.sum_horizontal(COST_COLUMNS))["cost_bed"] == fen["total_cost"]).all()
    assert (fen["self_pay_out_of_scope"] <= fen["patient_paid"]).all()
    assert (fen.select(pl.min_horizontal(pl.all())).to_series() >= 0).all()


def test_dates_los_and_people_are_consistent(cases: pl.DataFrame, grouped: pl.DataFrame
                                            ) -> None:
    year = FIXTURE_ARGS["year"]
    assert cases["admit_date"].dt.year().eq(year).all()
    assert cases["discharge_date"].dt.year().eq(year).all()
    days = (cases["discharge_date"] - cases["admit_date"]).dt.total_days()
    assert (days >= 0).all()
    assert (cases["los"] == days.clip(lower_bound=1)).all()
    g = cases.with_columns(grouped.select("mdc", "adrg"))
    assert g.filter(pl.col("mdc").is_in(["MDCN", "MDCO"]))["sex"].eq(2).all()
    assert g.filter(pl.col("mdc") == "MDCM")["sex"].eq(1).all()
    newborns = g.filter(pl.col("mdc") == "MDCP")
    assert newborns.height > 0
    assert newborns["age"].eq(0).all() and (newborns["age_days"] <= 28).all()
    assert newborns["birth_weight"].is_not_null().all()
    bands = load_ruleset("chs_drg_11").tables["adrg"].select(
        "adrg", "weight_min_g", "weight_max_g").drop_nulls(["weight_max_g"])
    banded = newborns.join(bands, on="adrg")
    assert banded.height > 0
    assert ((banded["birth_weight"] >= banded["weight_min_g"].fill_null(0))
            & (banded["birth_weight"] < banded["weight_max_g"])).all()
    assert cases.filter(pl.col("age") < 18)["insurance_type"].eq("resident").all()
    assert set(cases["discharge_way"].unique()) <= {1, 2, 3, 4, 5, 9}


def test_statistics_fall_in_documented_ranges(cases: pl.DataFrame, grouped: pl.DataFrame
                                             ) -> None:
    """The ranges of docs/data.md "Checked statistics"."""
    counts = grouped["drg"].value_counts().sort("count", descending=True)["count"]
    assert counts.len() >= 300                          # groups with cases
    assert 0.70 <= counts.head(200).sum() / grouped.height <= 0.92  # top-200 DRG share
    assert 0.01 <= (grouped["r"] > 3).mean() <= 0.05    # high-cost outliers
    assert 0.04 <= (grouped["r"] < 0.4).mean() <= 0.20  # low-cost outliers
    assert 0.003 <= (cases["discharge_way"] == 5).mean() <= 0.03  # deaths
    assert 0.01 <= (cases["discharge_way"] == 2).mean() <= 0.03   # transfers
    assert 0.01 <= cases["day_surgery"].mean() <= 0.08
    assert 0.05 <= cases["tcm_treatment"].mean() <= 0.30
    assert 2.0 <= (cases["diagnoses"].list.len() - 1).mean() <= 6.0  # secondary diagnoses
    long_stay = grouped.filter(pl.col("mdc").is_in(["MDCT", "MDCX"]))["los"].mean()
    assert long_stay > 2 * grouped["los"].mean()  # psychiatry and rehabilitation


def test_seeded_gaming_is_recorded_and_findable(cases: pl.DataFrame, grouped: pl.DataFrame,
                                                seeded: pl.DataFrame) -> None:
    p = default_params()["gaming"]
    n = FIXTURE_ARGS["cases"]
    kinds = dict(seeded["kind"].value_counts().iter_rows())
    assert set(kinds) == set(SEEDED_KINDS)
    assert kinds["split_admission"] == round(n * p["split_admission_rate"])
    assert kinds["low_standard_admission"] == round(n * p["low_standard_rate"])
    assert kinds["high_mcc_hospital"] >= 1 and kinds["low_cost_outlier_hospital"] >= 1

    splits = seeded.filter(pl.col("kind") == "split_admission").join(
        grouped, on="case_id").join(grouped, left_on="related_case_id", right_on="case_id",
                                    suffix="_first")
    assert splits.height == kinds["split_admission"]
    gap = (splits["admit_date"] - splits["discharge_date_first"]).dt.total_days()
    assert gap.is_between(1, 15).all()
    assert (splits["patient_id"] == splits["patient_id_first"]).all()
    assert (splits["hospital_id"] == splits["hospital_id_first"]).all()
    assert (splits["adrg"] == splits["adrg_first"]).all()
    assert (~splits["readmit_plan_31d"]).all()

    low = seeded.filter(pl.col("kind") == "low_standard_admission").join(grouped, on="case_id")
    assert (low["los"] <= 2).all() and (low["procedures"].list.len() == 0).all()
    assert (low["r"] < 0.3).all()

    mcc_codes = load_ruleset("chs_drg_11").tables["mcc"]["dx_code"]
    share = (cases.select("hospital_id", pl.col("diagnoses").list.slice(1).list.eval(
        pl.element().is_in(mcc_codes.implode())).list.any().alias("mcc"))
        .group_by("hospital_id").agg(pl.col("mcc").mean()))
    flagged = seeded.filter(pl.col("kind") == "high_mcc_hospital")["hospital_id"]
    high = share.filter(pl.col("hospital_id").is_in(flagged.implode()))["mcc"].min()
    rest = share.filter(~pl.col("hospital_id").is_in(flagged.implode()))["mcc"].median()
    assert high > 2 * rest  # type: ignore[operator]

    # low-cost outliers against same-level peers (supervision compares like with like)
    level = pl.read_parquet(REGION / "hospitals.parquet").select("hospital_id", "level")
    low_share = (grouped.join(level, on="hospital_id")
                 .with_columns((pl.col("cost") / pl.col("cost").mean().over("drg", "level"))
                               .alias("r_level"))
                 .group_by("hospital_id").agg((pl.col("r_level") < 0.4).mean().alias("low")))
    flagged = seeded.filter(pl.col("kind") == "low_cost_outlier_hospital")["hospital_id"]
    worst = low_share.filter(pl.col("hospital_id").is_in(flagged.implode()))["low"].min()
    typical = low_share.filter(~pl.col("hospital_id").is_in(flagged.implode()))["low"].median()
    assert worst > 2 * typical  # type: ignore[operator]


def test_synth_command_writes_the_region(tmp_path: Path) -> None:
    out = tmp_path / "region"
    result = CliRunner().invoke(cli, ["synth", "--cases", "800", "--hospitals", "4",
                                      "--year", "2025", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    cases = pl.read_parquet(out / "cases.parquet")
    hospitals = pl.read_parquet(out / "hospitals.parquet")
    assert cases.height == 800 and hospitals.height == 4
    assert set(cases["hospital_id"]) <= set(hospitals["hospital_id"])
    assert set(hospitals["level"]) <= {"三级", "二级", "一级", "基层"}
    assert (out / "seeded.parquet").exists()


@pytest.mark.parametrize("args", [(100, 0, 2024, 1), (0, 3, 2024, 1), (100, 3, 20, 1)])
def test_bad_arguments_raise(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(SynthError):
        generate(*args)
