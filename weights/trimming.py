"""Outlier trimming of costs per group (payment-rules §2.2 step 2, §3.1 step 4).

Trimmed cases leave the means only, never payment. Methods:

| method | keep |
|---|---|
| `iqr` (default) | `[Q1 − 1.5·IQR, Q3 + 1.5·IQR]` |
| `log_sd` | `|ln cost − mean(ln cost)| ≤ 3·sd(ln cost)` (sample sd) |
| `pct` | `[P2.5, P97.5]` |
| `none` | everything |

Quantiles interpolate linearly (DuckDB `quantile_cont`, numpy's default); a group too small for
a bound (one case under `log_sd`) keeps all its cases.
"""

from __future__ import annotations

import polars as pl

from weights.errors import WeightTableError

TRIM_METHODS = ("iqr", "log_sd", "pct", "none")


def check_trim_method(method: str) -> str:
    if method not in TRIM_METHODS:
        raise WeightTableError(f"trim_method={method!r}; accepted: {', '.join(TRIM_METHODS)}")
    return method


def trim_bounds(frame: pl.LazyFrame, by: str, value: str, method: str) -> pl.LazyFrame:
    """(by, lo, hi): the kept range of `value` per group; null bounds keep everything."""
    check_trim_method(method)
    v = pl.col(value)
    if method == "iqr":
        q1, q3 = v.quantile(0.25, "linear"), v.quantile(0.75, "linear")
        aggs = [(q1 - 1.5 * (q3 - q1)).alias("lo"), (q3 + 1.5 * (q3 - q1)).alias("hi")]
    elif method == "pct":
        aggs = [v.quantile(0.025, "linear").alias("lo"), v.quantile(0.975, "linear").alias("hi")]
    elif method == "log_sd":
        lv = v.log()
        aggs = [(lv.mean() - 3 * lv.std()).exp().alias("lo"),
                (lv.mean() + 3 * lv.std()).exp().alias("hi")]
    else:
        aggs = [pl.lit(None, pl.Float64).alias("lo"), pl.lit(None, pl.Float64).alias("hi")]
    return frame.group_by(by).agg(aggs)


def keep_expr(value: str) -> pl.Expr:
    """True for rows inside [lo, hi] of their group (after joining `trim_bounds`)."""
    v = pl.col(value)
    return ((pl.col("lo").is_null() | (v >= pl.col("lo")))
            & (pl.col("hi").is_null() | (v <= pl.col("hi"))))
