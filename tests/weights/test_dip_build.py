"""DIP catalogue build from history: round trip, 1:2:7 weighting, trimming, thresholds, aux,
TCM and day-surgery scores — expected values computed independently in each test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from grouper import group_dip
from grouper.dip_errors import DipCatalogError
from weights.dip_build import DipBuildParams, build_dip_catalog

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "tests" / "data" / "chs_drg_11_dev.parquet"


def dev_history(seed: int = 11) -> pl.DataFrame:
    """The DRG oracle cases with seeded log-normal costs (the fixture region has no costs yet)."""
    cases = pl.read_parquet(DEV).drop(pl.selectors.starts_with("expected_"))
    rng = np.random.default_rng(seed)
    return cases.with_columns(pl.Series("total_cost", np.round(rng.lognormal(9, 0.7,
                                                                             cases.height), 2)))


def region_histories() -> list[tuple[str, pl.DataFrame]]:
    out = [("chs_drg_11_dev+seeded_costs", dev_history())]
    for path in sorted((ROOT / "data" / "fixtures").glob("**/cases.parquet")):
        frame = pl.read_parquet(path)
        if "total_cost" in frame.columns:
            # TCM and day-surgery groups take another group's score (同病同效同分值), so only a
            # history without those flags must average exactly the scale: clear them here.
            flags = [c for c in ("tcm_treatment", "day_surgery") if c in frame.columns]
            frame = frame.with_columns(pl.lit(False).alias(c) for c in flags)
            out.append((str(path.relative_to(ROOT)), frame))
    return out


@pytest.mark.parametrize(("name", "history"), region_histories(), ids=lambda v: v
                         if isinstance(v, str) else "")
@pytest.mark.parametrize("trim", ["iqr", "none"])
def test_round_trip_every_case_grouped_and_mean_score_is_scale(
        name: str, history: pl.DataFrame, trim: str) -> None:
    build = build_dip_catalog(history, DipBuildParams(trim_method=trim, core_threshold=5))
    out = group_dip(history, build.catalog)
    usable = history.filter(pl.col("total_cost").cast(pl.Float64) > 0)
    grouped = out.filter(pl.col("case_id").is_in(usable["case_id"].implode()))
    assert grouped.filter(pl.col("status") != "ok").height == 0, name
    assert grouped["dip_code"].is_in(build.catalog.groups["dip_code"].implode()).all()
    # no TCM/day-surgery flags in this history, so every score is cost-derived
    assert grouped["dip_score"].mean() == pytest.approx(1000.0, abs=0.01), name
    by_group = grouped.group_by("dip_code").len()
    n_cases = build.catalog.groups.select("dip_code", "n_cases").join(by_group, on="dip_code")
    assert (n_cases["n_cases"] == n_cases["len"]).all()
    assert set(build.catalog.groups["dip_type"]) >= {"core", "comprehensive"}


def _cases(dx: str, px: list[str], costs: list[float], year: int, start: int = 0,
           **extra: object) -> list[dict[str, object]]:
    return [{"case_id": f"{dx}-{year}-{start + i}", "diagnoses": [dx], "procedures": px,
             "total_cost": c, "year": year, "age": 40, **extra} for i, c in enumerate(costs)]


def test_three_years_weighted_1_2_7() -> None:
    rows = []
    for year, k_cost in ((2019, 1000.0), (2020, 2000.0), (2021, 4000.0)):
        rows += _cases("K80.101", ["51.2300"], [k_cost] * 3, year)
        rows += _cases("J18.900", [], [500.0] * 3, year)
    build = build_dip_catalog(pl.DataFrame(rows), DipBuildParams(core_threshold=3,
                                                                 trim_method="none"))
    g = {r["principal_dx"]: r for r in build.catalog.groups.to_dicts()}
    k_mean = (1 * 1000 + 2 * 2000 + 7 * 4000) / 10
    m_all = (k_mean + 500.0) / 2  # both groups carry the same weight (3 cases × 10)
    assert g["K80.1"]["mean_cost"] == pytest.approx(k_mean)
    assert g["K80.1"]["score"] == pytest.approx(round(k_mean / m_all * 1000, 4))
    assert g["J18.9"]["score"] == pytest.approx(round(500 / m_all * 1000, 4))
    assert g["J18.9"]["dip_type"] == "basic"  # conservative J18.9 is on the basic-level list
    assert g["K80.1"]["procedures"] == "51.2300" and g["K80.1"]["n_cases"] == 9


def test_core_threshold_and_comprehensive_rest() -> None:
    rows = (_cases("K80.101", ["51.2300"], [5000.0] * 15, 2021)
            + _cases("K80.201", ["51.2300"], [6000.0] * 14, 2021)
            + _cases("K80.301", ["88.0100"], [900.0] * 2, 2021))
    build = build_dip_catalog(pl.DataFrame(rows), DipBuildParams(trim_method="none"))
    groups = {(r["dip_type"], r["principal_dx"], r["treatment_class"] or r["procedures"]):
              r["n_cases"] for r in build.catalog.groups.to_dicts()
              if r["dip_type"] in ("core", "comprehensive")}
    assert groups == {("core", "K80.1", "51.2300"): 15,
                      ("comprehensive", "K80", "surgical"): 14,
                      ("comprehensive", "K80", "diagnostic"): 2}


def test_combinations_keyed_as_the_catalogue_reads_them() -> None:
    """Procedure entries written with `/` or `+` inside: two spellings of one combination make
    one core group (the catalogue would refuse two), an entry that is no combination at all
    makes none and is counted."""
    rows = (_cases("K80.101", ["51.2300/51.2200"], [5000.0] * 3, 2021)
            + _cases("K80.101", ["51.2200/51.2300"], [5000.0] * 3, 2021, start=3)
            + _cases("K80.101", ["51.2300+88.0100"], [6000.0] * 3, 2021, start=6)
            + _cases("K80.101", ["88.0100", "51.2300"], [6000.0] * 3, 2021, start=9)
            + _cases("K80.101", ["51.2300-1"], [7000.0] * 3, 2021, start=12))
    build = build_dip_catalog(pl.DataFrame(rows), DipBuildParams(core_threshold=3,
                                                                 trim_method="none"))
    core = sorted(build.catalog.groups.filter(pl.col("dip_type") == "core")["procedures"])
    # `51.2300+88.0100` written in one entry and as two codes make one group. An entry
    # `51.2300/51.2200` is no code: grouping matches codes exactly or by a listed stem (issue
    # 16), so no case reaches the group it would key and the build keeps none.
    assert core == ["51.2300+88.0100"]
    assert build.report["combinations_unreadable"] == 3


def test_iqr_trimming_leaves_the_mean_not_the_count() -> None:
    costs = [1000.0, 1100.0, 1200.0, 1300.0, 1400.0, 90000.0]
    build = build_dip_catalog(pl.DataFrame(_cases("K80.101", [], costs, 2021)),
                              DipBuildParams(core_threshold=1))
    core = build.catalog.groups.filter(pl.col("dip_type") == "core").row(0, named=True)
    q1, q3 = np.quantile(costs, [0.25, 0.75])
    kept = [c for c in costs if q1 - 1.5 * (q3 - q1) <= c <= q3 + 1.5 * (q3 - q1)]
    assert core["mean_cost"] == pytest.approx(np.mean(kept))
    assert core["n_cases"] == len(costs)


def test_aux_coefficients_from_cost_ratios() -> None:
    young = _cases("K80.101", ["51.2300"], [1000.0] * 10, 2021)
    old = _cases("K80.101", ["51.2300"], [2000.0] * 10, 2021, start=100, age=70)
    build = build_dip_catalog(pl.DataFrame(young + old), DipBuildParams(
        core_threshold=5, trim_method="none", aux_min_cases=10))
    aux = build.catalog.aux.filter(pl.col("dimension") == "age")
    mean = 1500.0
    assert sorted(aux.select("dip_code", "level", "coef").rows()) == [
        ("*", "elderly", round(2000 / mean, 4)), ("K801000", "elderly", round(2000 / mean, 4))]
    out = group_dip(pl.DataFrame(old[:1]), build.catalog).row(0, named=True)
    assert out["aux_dimension"] == "age"
    assert out["adjusted_score"] == round(out["dip_score"] * round(2000 / mean, 4), 4)


def test_tcm_scored_as_western_treatment_and_day_surgery_ratio() -> None:
    rows = (_cases("S52.500", ["79.3200"], [20000.0] * 5, 2021)
            + _cases("S52.500", [], [3000.0] * 5, 2021, start=50)
            + _cases("H25.000", ["13.4100"], [8000.0] * 5, 2021))
    build = build_dip_catalog(pl.DataFrame(rows), DipBuildParams(
        core_threshold=5, trim_method="none", day_surgery_score_ratio=0.9))
    g = {r["dip_code"]: r for r in build.catalog.groups.to_dicts()}
    western = next(r for r in g.values()
                   if r["principal_dx"] == "S52.5" and r["procedures"] == "79.3200")
    assert g["TCM001"]["score"] == western["score"] and g["TCM001"]["ref_code"] == western[
        "dip_code"]
    cataract = next(r for r in g.values() if r["principal_dx"] == "H25.0")
    assert g["RJ001"]["score"] == pytest.approx(round(cataract["score"] * 0.9, 4))
    tcm_case = group_dip(pl.DataFrame([{**rows[5], "tcm_treatment": True}]),
                         build.catalog).row(0, named=True)
    assert (tcm_case["dip_code"], tcm_case["dip_score"]) == ("TCM001", western["score"])


@pytest.mark.parametrize(("field", "value"), [("trim_method", "median"), ("core_threshold", 0),
                                              ("score_scale", -1.0)])
def test_bad_parameters_are_refused(field: str, value: object) -> None:
    with pytest.raises(DipCatalogError, match=field.split("_")[0]):
        DipBuildParams(**{field: value})
