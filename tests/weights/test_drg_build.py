"""DRG weights from history against an independent DuckDB SQL computation (issue 4)."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from weights import WeightTableError, build_drg, build_drg_weights
from weights.drg_build import DrgBuildParams, restatement_factors, year_weight_map

# Keep-range per trim method, written as SQL over per-DRG statistics of the restated cost.
SQL_BOUNDS = {
    "iqr": (("quantile_cont(cost, 0.25) - 1.5 * (quantile_cont(cost, 0.75) - "
             "quantile_cont(cost, 0.25))"),
            ("quantile_cont(cost, 0.75) + 1.5 * (quantile_cont(cost, 0.75) - "
             "quantile_cont(cost, 0.25))")),
    "pct": ("quantile_cont(cost, 0.025)", "quantile_cont(cost, 0.975)"),
    "log_sd": ("exp(avg(ln(cost)) - 3 * stddev_samp(ln(cost)))",
               "exp(avg(ln(cost)) + 3 * stddev_samp(ln(cost)))"),
    "none": ("NULL", "NULL"),
}


def sql_weights(history: pl.DataFrame, grouped: pl.DataFrame, trim: str, *, growth: float,
                year_weight_sql: str) -> pl.DataFrame:
    """RW, n_kept, cv, mean_los per DRG computed in SQL, restating costs by power(1+g, 2023-y)."""
    cases = pl.concat([grouped.select("status", "drg"),
                       history.select("total_cost", "los", "year")], how="horizontal")
    lo, hi = SQL_BOUNDS[trim]
    con = duckdb.connect()
    con.register("cases", cases.to_arrow())
    return pl.from_arrow(con.sql(f"""
        WITH c AS (
            SELECT drg, total_cost * power(1 + {growth}, 2023 - year) AS cost, los,
                   {year_weight_sql} AS w
            FROM cases WHERE status = 'ok' AND total_cost > 0),
        b AS (SELECT drg, {lo} AS lo, {hi} AS hi FROM c GROUP BY drg),
        k AS (SELECT c.* FROM c JOIN b USING (drg)
              WHERE (b.lo IS NULL OR c.cost >= b.lo) AND (b.hi IS NULL OR c.cost <= b.hi)),
        m AS (SELECT sum(w * cost) / sum(w) AS mean_all FROM k)
        SELECT drg, sum(w * cost) / sum(w) / any_value(m.mean_all) AS rw_sql,
               count(*) AS n_kept_sql, stddev_samp(cost) / avg(cost) AS cv_sql,
               sum(w * los) / sum(w) AS los_sql
        FROM k, m GROUP BY drg ORDER BY drg""").to_arrow_table())


@pytest.mark.parametrize("trim", ["iqr", "pct", "log_sd", "none"])
def test_rw_matches_sql(history: pl.DataFrame, grouped: pl.DataFrame, trim: str) -> None:
    ours = build_drg_weights(history, "chs_drg_11", trim_method=trim, grouped=grouped,
                             year_weights=(1, 2, 7), cost_growth=0.05)
    ref = sql_weights(history, grouped, trim, growth=0.05,
                      year_weight_sql="CASE year WHEN 2021 THEN 1 WHEN 2022 THEN 2 ELSE 7 END")
    both = ours.join(ref, on="drg", how="full", coalesce=True)
    assert both.height == ours.height == ref.height
    assert (both["n_kept"] == both["n_kept_sql"]).all()
    assert (both["rw"].cast(pl.Float64) - both["rw_sql"]).abs().max() <= 0.00005 + 1e-12
    assert (both["cv"] - both["cv_sql"]).abs().max() <= 0.00005 + 1e-12
    assert (both["mean_los"] - both["los_sql"]).abs().max() <= 0.00005 + 1e-12
    if trim != "none":
        assert (ours["n_kept"] < ours["n_cases"]).any()  # the injected extremes were trimmed


def test_single_year_unweighted_matches_sql(history: pl.DataFrame,
                                             grouped: pl.DataFrame) -> None:
    ours = build_drg_weights(history, "chs_drg_11", grouped=grouped)
    ref = sql_weights(history, grouped, "iqr", growth=0.0, year_weight_sql="1")
    both = ours.join(ref, on="drg")
    assert both.height == ours.height
    assert (both["rw"].cast(pl.Float64) - both["rw_sql"]).abs().max() <= 0.00005 + 1e-12


def test_case_weighted_mean_rw_is_one(history: pl.DataFrame, grouped: pl.DataFrame) -> None:
    """RW = mean_g / mean_all: over the kept cases the RWs average to 1 (no year weights)."""
    w = build_drg_weights(history, "chs_drg_11", grouped=grouped)
    mean_rw = (w["rw"].cast(pl.Float64) * w["n_kept"]).sum() / w["n_kept"].sum()
    assert mean_rw == pytest.approx(1.0, abs=1e-4)
    assert (w["base_points"] == w["rw"] * 100).all()


def test_policy_adjustment_renormalises(history: pl.DataFrame, grouped: pl.DataFrame) -> None:
    plain = build_drg_weights(history, "chs_drg_11", grouped=grouped)
    adrg = plain["adrg"][0]
    drg = plain.filter(pl.col("adrg") != adrg)["drg"][0]
    adjusted = build_drg_weights(history, "chs_drg_11", grouped=grouped,
                                 adjustments={adrg: 1.3, drg: 0.8})
    a = adjusted.join(plain.select("drg", pl.col("rw").alias("rw0")), on="drg")
    n, rw, rw0 = a["n_cases"], a["rw"].cast(pl.Float64), a["rw0"].cast(pl.Float64)
    # total weight kept (to rounding of 4 dp per group)
    assert (n * rw).sum() == pytest.approx((n * rw0).sum(), abs=n.sum() * 0.00006)
    ratio = (rw / rw0)
    untouched = a.filter((pl.col("adrg") != adrg) & (pl.col("drg") != drg))
    k = (untouched["rw"].cast(pl.Float64) / untouched["rw0"].cast(pl.Float64)).median()
    assert k < 1  # net upward adjustment → the others shrink
    in_adrg = a.filter(pl.col("adrg") == adrg)
    assert ((in_adrg["rw"].cast(pl.Float64) / in_adrg["rw0"].cast(pl.Float64)) / k
            ).to_list() == pytest.approx([1.3] * in_adrg.height, rel=2e-3)
    assert float(ratio.filter(a["drg"] == drg)[0]) / k == pytest.approx(0.8, rel=2e-3)
    assert (a["rw_base"] == a["rw0"]).all()


def test_stability_flags(history: pl.DataFrame, grouped: pl.DataFrame) -> None:
    w = build_drg_weights(history, "chs_drg_11", grouped=grouped, min_cases=20)
    ref = sql_weights(history, grouped, "iqr", growth=0.0, year_weight_sql="1")
    both = w.join(ref, on="drg")
    # thresholds compare the unrounded CV (payment-rules conventions)
    expect = ((both["n_kept_sql"] >= 20) & (both["cv_sql"] <= 1.0)).fill_null(False)
    assert (both["stable"] == expect).all()
    assert (~w["stable"]).sum() > 0
    borrowed = build_drg_weights(history, "chs_drg_11", grouped=grouped, min_cases=20,
                                 unstable_rw="adrg")
    b = borrowed.filter(~pl.col("stable"))
    assert (b["rw_source"] == "adrg").all()
    # DRGs of one ADRG that all borrow share one RW
    multi = b.group_by("adrg").agg(pl.col("rw").n_unique().alias("k"), pl.len())
    assert (multi.filter(pl.col("len") > 1)["k"] == 1).all()


def test_restatement_and_year_weights() -> None:
    f = restatement_factors([2021, 2022, 2023], 2023, {2022: 0.04, 2023: 0.10})
    assert f == pytest.approx({2021: 1.04 * 1.10, 2022: 1.10, 2023: 1.0})
    assert restatement_factors([2024], 2023, 0.05)[2024] == pytest.approx(1 / 1.05)
    assert year_weight_map([2022, 2023], (1, 2, 7)) == {2022: 2.0, 2023: 7.0}
    assert year_weight_map([2019, 2020, 2021, 2022], (1, 2, 7)) == {
        2019: 1.0, 2020: 1.0, 2021: 2.0, 2022: 7.0}


def test_report_counts_every_case(history: pl.DataFrame, grouped: pl.DataFrame) -> None:
    r = build_drg(history, "chs_drg_11", grouped=grouped).report
    assert sum(r["by_status"].values()) == r["cases_input"] == history.height
    assert r["cases_used"] + r["cases_without_cost"] == r["by_status"]["ok"]
    assert r["cases_kept"] + r["cases_trimmed"] == r["cases_used"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"trim_method": "median"}, "trim_method='median'"),
    ({"unstable_rw": "expert"}, "unstable_rw='expert'"),
    ({"adjustments": {"GB1": 0}}, "must be > 0"),
    ({"year_weights": (1, -2)}, "year_weights"),
])
def test_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(WeightTableError, match=message):
        DrgBuildParams(**kwargs)


def test_adjustment_of_absent_group(history: pl.DataFrame, grouped: pl.DataFrame) -> None:
    with pytest.raises(WeightTableError, match="XX99"):
        build_drg_weights(history, "chs_drg_11", grouped=grouped, adjustments={"XX99": 1.1})
