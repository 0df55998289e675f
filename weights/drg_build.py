"""DRG relative weights (RW, 相对权重) from grouped history (payment-rules §2.2).

1. Group the history with `grouper.group_drg`; only `ok` cases with a positive `total_cost` count
   (QY / 0000 / invalid cases are paid FFS or cost-derived points, §2.1).
2. Cost restatement: each year's costs are inflated to `target_year` (default: the newest year of
   the history) with `cost_growth` — one annual rate for every year, or `{year: rate}` meaning the
   growth *into* that year (cost_y = cost_{y−1} × (1 + rate_y)). Optional `year_weights`
   (e.g. 1:2:7, oldest → newest, aligned to the newest years) weight each case by its year.
3. Trimming per DRG on the restated cost (`weights.trimming`).
4. `mean_g` = weighted mean restated cost of the kept cases of g; `mean_all` = weighted mean over
   all kept cases; `rw_base = mean_g / mean_all`.
5. Stability: `stable = n_kept ≥ min_cases and cv ≤ max_cv` (cv = sample sd / mean of the kept
   restated costs). With `unstable_rw="adrg"` an unstable DRG borrows its ADRG's RW (the kept
   cases of all DRGs of the ADRG); `rw_source` says which.
6. Policy adjustment: `rw' = rw × adj` (`adjustments` keyed by DRG or ADRG code, a DRG key wins),
   renormalised so that `Σ n_cases · rw = Σ n_cases · rw_base` holds.
7. `base_points = rw × base_points_scale` (100, point method [L:Jinhua]). RW 4 dp.
8. Same-level mean costs (`weights.level_costs`, payment-rules §3.3): when the cases' hospital
   level is known (a `hospital_level` column, or `hospitals` given to `build_drg`), the kept
   cases' weighted mean cost per (DRG, level) — stored with the version in `drg_level_costs`.
9. Hospital mean costs (`weights.hospital_costs`, payment-rules §2.3 c_{h,g}): when the history
   has `hospital_id`, the kept cases' weighted mean cost per (DRG, hospital) — stored with the
   version in `drg_hospital_costs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from grouper import group_drg, load_ruleset
from grouper.case_input import CaseTable, to_frame
from grouper.errors import InputError
from weights.errors import WeightTableError
from weights.hospital_costs import case_hospitals, hospital_means
from weights.level_costs import (
    case_levels,
    exact_mean,
    exact_mean_fen,
    fen,
    level_means,
    weight_int,
)
from weights.level_costs import W_SCALE
from weights.trimming import check_trim_method, keep_expr, trim_bounds

UNSTABLE_RW = ("own", "adrg")
WEIGHT_COLUMNS = ("drg", "adrg", "mdc", "drg_name", "rw", "rw_base", "adj", "base_points",
                  "mean_cost", "mean_los", "n_cases", "n_kept", "cv", "stable", "rw_source")


@dataclass(frozen=True)
class DrgBuildParams:
    """Parameters of a DRG weight build; each is named in payment-rules §2.2 ([N] or [T])."""

    trim_method: str = "iqr"
    year_weights: tuple[float, ...] | None = None
    cost_growth: float | Mapping[int, float] | None = None
    target_year: int | None = None
    min_cases: int = 5
    max_cv: float = 1.0
    adjustments: Mapping[str, float] = field(default_factory=dict)
    base_points_scale: float = 100.0
    unstable_rw: str = "own"

    def __post_init__(self) -> None:
        check_trim_method(self.trim_method)
        if self.unstable_rw not in UNSTABLE_RW:
            raise WeightTableError(f"unstable_rw={self.unstable_rw!r}; accepted: "
                                   f"{', '.join(UNSTABLE_RW)}")
        if self.year_weights is not None and (not self.year_weights
                                              or min(self.year_weights) <= 0):
            raise WeightTableError(f"year_weights={self.year_weights!r}; must be positive")
        bad = {k: v for k, v in self.adjustments.items() if not v > 0}
        if bad:
            raise WeightTableError(f"policy adjustments must be > 0; got {bad}")
        if self.min_cases < 1 or self.max_cv <= 0 or self.base_points_scale <= 0:
            raise WeightTableError("min_cases, max_cv and base_points_scale must be positive")

    def to_dict(self) -> dict[str, Any]:
        growth = self.cost_growth
        return {"trim_method": self.trim_method, "year_weights": self.year_weights,
                "cost_growth": dict(growth) if isinstance(growth, Mapping) else growth,
                "target_year": self.target_year, "min_cases": self.min_cases,
                "max_cv": self.max_cv, "adjustments": dict(self.adjustments),
                "base_points_scale": self.base_points_scale, "unstable_rw": self.unstable_rw}


@dataclass
class DrgBuild:
    weights: pl.DataFrame
    report: dict[str, Any]
    # (drg, level, mean_cost, n_cases, n_kept); empty when no case's level is known
    level_costs: pl.DataFrame | None = None
    # (drg, hospital_id, mean_cost, n_cases, n_kept); empty without hospital ids
    hospital_costs: pl.DataFrame | None = None

    def extra_tables(self) -> dict[str, pl.DataFrame]:
        """The version-owned tables besides drg_weights that have rows (save_weight_version's
        `extra`)."""
        tables = {"drg_level_costs": self.level_costs, "drg_hospital_costs": self.hospital_costs}
        return {name: rows for name, rows in tables.items() if rows is not None and rows.height}


def _year_expr(frame: pl.DataFrame) -> pl.Expr | None:
    if "year" in frame.columns:
        return pl.col("year").cast(pl.Int64, strict=False)
    if "discharge_date" in frame.columns:
        if frame.schema["discharge_date"] in (pl.Date, pl.Datetime):
            return pl.col("discharge_date").dt.year().cast(pl.Int64)
        return pl.col("discharge_date").cast(pl.String).str.slice(0, 4).cast(pl.Int64,
                                                                             strict=False)
    return None


def restatement_factors(years: list[int], target: int,
                        growth: float | Mapping[int, float] | None) -> dict[int, float]:
    """Factor that brings a cost of year y to `target`'s price level."""
    def rate(y: int) -> float:
        if growth is None:
            return 0.0
        if isinstance(growth, Mapping):
            return float(growth.get(y, 0.0))
        return float(growth)

    factors = {}
    for y in years:
        f = 1.0
        for k in range(y + 1, target + 1):
            f *= 1.0 + rate(k)
        for k in range(target + 1, y + 1):
            f /= 1.0 + rate(k)
        factors[y] = f
    return factors


def year_weight_map(years: list[int], weights: tuple[float, ...] | None) -> dict[int, float]:
    """Case weight by year: the newest year gets the last weight (1:2:7 → 7), older years
    beyond the list get the first one."""
    if not weights:
        return {y: 1.0 for y in years}
    ordered = sorted(years)
    return {y: float(weights[max(0, len(weights) - len(ordered) + i)])
            for i, y in enumerate(ordered)}


def _prepare(history: pl.DataFrame, grouped: pl.DataFrame, params: DrgBuildParams,
             levels: pl.Series | None = None, hospital_ids: pl.Series | None = None
             ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """(drg, adrg, mdc, drg_name, cost, los, w[, level][, hospital_id]) of the usable cases,
    and counts."""
    if "total_cost" not in history.columns:
        raise InputError("history needs a total_cost column (医疗总费用)")
    if grouped.height != history.height:
        raise InputError(f"grouping has {grouped.height} rows for {history.height} cases")
    year = _year_expr(history)
    cols = [pl.col("total_cost").cast(pl.Float64, strict=False).alias("cost"),
            (pl.col("los").cast(pl.Float64, strict=False) if "los" in history.columns
             else pl.lit(None, pl.Float64)).alias("los"),
            (year if year is not None else pl.lit(None, pl.Int64)).alias("year")]
    frame = pl.concat([grouped.select("status", "drg", "adrg", "mdc", "drg_name"),
                       history.select(cols)], how="horizontal")
    if levels is not None:
        frame = frame.with_columns(levels.alias("level"))
    if hospital_ids is not None:
        frame = frame.with_columns(hospital_ids.alias("hospital_id"))
    status = dict(frame.group_by("status").len().iter_rows())
    usable = frame.filter((pl.col("status") == "ok") & (pl.col("cost") > 0))
    years = sorted(y for y in usable["year"].unique().to_list() if y is not None)
    if (params.year_weights or params.cost_growth) and not years:
        raise InputError("year_weights/cost_growth need a year or discharge_date column")
    target = params.target_year or (max(years) if years else None)
    factor = restatement_factors(years, target, params.cost_growth) if target else {}
    weight = year_weight_map(years, params.year_weights)
    usable = usable.with_columns(
        (pl.col("cost") * pl.col("year").replace_strict(factor, default=1.0,
                                                        return_dtype=pl.Float64)).alias("cost"),
        pl.col("year").replace_strict(weight, default=1.0, return_dtype=pl.Float64).alias("w"))
    report = {"cases_input": history.height, "by_status": status,
              "cases_without_cost": int(frame.filter((pl.col("status") == "ok")
                                                     & ~(pl.col("cost") > 0).fill_null(False)
                                                     ).height),
              "cases_used": usable.height, "years": years, "target_year": target,
              "restatement": factor, "year_weights": weight}
    return usable.drop("status", "year"), report


def _group_means(kept: pl.DataFrame, by: str) -> pl.DataFrame:
    """Per group: weighted mean cost (exact in fen), mean LOS, kept cases, cv — all from
    integer sums (costs in fen, weights ×10⁶), so they do not depend on summation order."""
    wi, ci = weight_int(), fen()
    los = pl.col("los").cast(pl.Int128, strict=False)
    n = pl.len().cast(pl.Float64)
    sum_c, sum_c2 = ci.sum().cast(pl.Float64), (ci * ci).sum().cast(pl.Float64)  # ×10⁶, ×10¹²
    var = (sum_c2 - sum_c * sum_c / n) / (n - 1)
    return kept.group_by(by).agg(
        exact_mean().alias("mean_cost"),
        exact_mean_fen().alias("mean_fen"),
        ((wi * los).sum().cast(pl.Float64)
         / wi.filter(los.is_not_null()).sum().cast(pl.Float64)).alias("mean_los"),
        pl.len().alias("n_kept"),
        (pl.when(n > 1).then(var.clip(lower_bound=0).sqrt() / (sum_c / n))).alias("cv"),
        (wi.sum().cast(pl.Float64) / W_SCALE).alias("w_sum")).sort(by)


def _adjustment(groups: pl.DataFrame, adjustments: Mapping[str, float]) -> pl.Expr:
    known = set(groups["drg"].to_list()) | set(groups["adrg"].to_list())
    unknown = sorted(set(adjustments) - known)
    if unknown:
        raise WeightTableError(f"policy adjustments name groups absent from the history: "
                               f"{', '.join(unknown[:10])}")
    by_drg = pl.col("drg").replace_strict(dict(adjustments), default=None,
                                          return_dtype=pl.Float64)
    by_adrg = pl.col("adrg").replace_strict(dict(adjustments), default=None,
                                            return_dtype=pl.Float64)
    return pl.coalesce(by_drg, by_adrg, pl.lit(1.0))


def weights_from_cases(cases: pl.DataFrame, params: DrgBuildParams
                       ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """RW table from usable grouped cases (drg, adrg, mdc, drg_name, cost, los, w)."""
    out, report, _ = _weights_and_kept(cases, params)
    return out, report


def _weights_and_kept(cases: pl.DataFrame, params: DrgBuildParams
                      ) -> tuple[pl.DataFrame, dict[str, Any], pl.DataFrame]:
    """weights_from_cases plus the cases kept after trimming."""
    if cases.height == 0:
        raise InputError("history has no usable case (grouped `ok` with total_cost > 0)")
    lazy = cases.lazy()
    bounds = trim_bounds(lazy, "drg", "cost", params.trim_method)
    kept = lazy.join(bounds, on="drg").filter(keep_expr("cost")).drop("lo", "hi").collect()
    mean_all = float(kept.select(exact_mean()).item())
    names = cases.group_by("drg", maintain_order=True).agg(
        pl.col("adrg", "mdc", "drg_name").first(), pl.len().alias("n_cases")).sort("drg")
    per_drg = names.join(_group_means(kept, "drg"), on="drg", how="left")
    per_adrg = _group_means(kept, "adrg").select(
        "adrg", (pl.col("mean_cost") / mean_all).alias("rw_adrg"))
    stable = ((pl.col("n_kept") >= params.min_cases) & (pl.col("cv") <= params.max_cv)
              ).fill_null(False)
    borrow = (~stable) & pl.lit(params.unstable_rw == "adrg")
    groups = (per_drg.join(per_adrg, on="adrg", how="left")
              .with_columns(stable.alias("stable"))
              .with_columns(
                  pl.when(borrow).then(pl.col("rw_adrg"))
                  .otherwise(pl.col("mean_cost") / mean_all).alias("rw_base"),
                  pl.when(borrow).then(pl.lit("adrg")).otherwise(pl.lit("own")).alias("rw_source")))
    groups = groups.sort("drg").with_columns(
        _adjustment(groups, params.adjustments).alias("adj"))
    total = (groups["n_cases"] * groups["rw_base"]).sum()
    adjusted = (groups["n_cases"] * groups["rw_base"] * groups["adj"]).sum()
    renorm = float(total / adjusted)
    # RW-like columns leave as Decimal(4 dp) so that base_points = rw × scale holds exactly.
    dec4 = pl.Decimal(12, 4)
    out = groups.with_columns(
        (pl.col("rw_base") * pl.col("adj") * renorm).round(4).cast(dec4).alias("rw"),
        pl.col("rw_base").round(4).cast(dec4), pl.col("adj").round(4).cast(dec4),
    ).with_columns(
        (pl.col("rw") * pl.lit(Decimal(str(params.base_points_scale))))
        .cast(pl.Decimal(14, 4)).alias("base_points"),
        (pl.col("mean_fen").cast(pl.Float64) / 100).alias("mean_cost"),  # half-up to the fen
        pl.col("mean_los").round(4), pl.col("cv").round(4),
        pl.col("n_kept").fill_null(0),
    ).select(WEIGHT_COLUMNS).sort("drg")
    report = {"mean_all": round(mean_all, 2), "cases_kept": kept.height,
              "cases_trimmed": cases.height - kept.height, "groups": out.height,
              "unstable": int((~out["stable"]).sum()), "renormalisation": round(renorm, 6)}
    return out, report, kept


GROUP_CHUNK_ROWS = 1_000_000  # bounds the grouper's working memory on large histories


def group_in_chunks(frame: pl.DataFrame, ruleset: str) -> pl.DataFrame:
    """`group_drg` slice by slice, keeping only the columns the weight build reads."""
    keep = ("status", "drg", "adrg", "mdc", "drg_name")
    return pl.concat([group_drg(frame.slice(start, GROUP_CHUNK_ROWS), ruleset).select(keep)
                      for start in range(0, max(frame.height, 1), GROUP_CHUNK_ROWS)])


def build_drg(history: CaseTable, ruleset: str = "chs_drg_11", *,
              params: DrgBuildParams | None = None,
              grouped: pl.DataFrame | None = None,
              hospitals: pl.DataFrame | None = None) -> DrgBuild:
    """Weights, same-level and per-hospital mean costs and a build report. `grouped` (the
    `group_drg` output for `history`, same rows) skips the grouping step; `hospitals`
    (hospital_id, level) gives the cases' levels when the history has no `hospital_level`
    column."""
    params = params or DrgBuildParams()
    frame = to_frame(history)
    load_ruleset(ruleset)  # an unknown ruleset fails before the (long) grouping
    if grouped is None:
        grouped = group_in_chunks(frame, ruleset)
    cases, report = _prepare(frame, grouped, params, case_levels(frame, hospitals),
                             case_hospitals(frame))
    weights, more, kept = _weights_and_kept(cases, params)
    levels = level_means(cases, kept, "drg")
    by_hospital = hospital_means(cases, kept, "drg")
    more["level_cost_rows"] = levels.height
    more["hospital_cost_rows"] = by_hospital.height
    return DrgBuild(weights=weights, report={**report, **more, "ruleset": ruleset,
                                             "params": params.to_dict()}, level_costs=levels,
                    hospital_costs=by_hospital)


def build_drg_weights(history: CaseTable, ruleset: str = "chs_drg_11", *,
                      trim_method: str = "iqr", year_weights: tuple[float, ...] | None = None,
                      cost_growth: float | Mapping[int, float] | None = None,
                      target_year: int | None = None, min_cases: int = 5, max_cv: float = 1.0,
                      adjustments: Mapping[str, float] | None = None,
                      base_points_scale: float = 100.0, unstable_rw: str = "own",
                      grouped: pl.DataFrame | None = None) -> pl.DataFrame:
    """DRG weight table (one row per DRG seen in the history; columns `WEIGHT_COLUMNS`).

    `history` has contracts §1 case columns plus `total_cost`, optionally `los` and `year` or
    `discharge_date`. Pure: no store access.

    >>> w = build_drg_weights(cases, "chs_drg_11", trim_method="log_sd")  # doctest: +SKIP
    >>> w.select("drg", "rw", "base_points", "stable")  # doctest: +SKIP
    """
    params = DrgBuildParams(trim_method=trim_method, year_weights=year_weights,
                            cost_growth=cost_growth, target_year=target_year,
                            min_cases=min_cases, max_cv=max_cv,
                            adjustments=adjustments or {}, base_points_scale=base_points_scale,
                            unstable_rw=unstable_rw)
    return build_drg(history, ruleset, params=params, grouped=grouped).weights
