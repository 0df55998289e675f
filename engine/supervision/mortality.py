"""Risk grading of DRGs from regional mortality (payment-rules.md §6, 低风险组死亡率).

For groups with deaths, x_g = ln(mortality_g); with μ, σ the mean and sd of x over those groups:
level 0 no deaths, 1 low (x < μ − σ), 2 medium-low (μ − σ ≤ x < μ), 3 medium-high
(μ ≤ x < μ + σ), 4 high (x ≥ μ + σ).
"""

from __future__ import annotations

import polars as pl

DEATH = 5
RISK_LEVEL_NAMES = {0: "无死亡", 1: "低风险", 2: "中低风险", 3: "中高风险", 4: "高风险"}


def risk_levels(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per grouped DRG: group_code, n_cases, deaths, mortality, risk_level (0–4).

    >>> risk_levels(pl.DataFrame({"status": ["ok"] * 3, "group_code": ["A", "A", "B"],
    ...     "discharge_way": [5, 1, 1]}))["risk_level"].to_list()  # doctest: +SKIP
    [..]
    """
    per = (frame.filter((pl.col("status") == "ok") & pl.col("group_code").is_not_null())
           .group_by("group_code")
           .agg(pl.len().alias("n_cases"), (pl.col("discharge_way") == DEATH).sum().alias("deaths"))
           .with_columns((pl.col("deaths") / pl.col("n_cases")).alias("mortality")))
    x = pl.when(pl.col("deaths") > 0).then(pl.col("mortality").log()).otherwise(None)
    per = per.with_columns(x.alias("_x"))
    mu = per["_x"].mean()
    sd = per["_x"].std()
    if mu is None:
        level = pl.lit(0)
    else:
        sigma = float(sd) if sd is not None else 0.0  # type: ignore[arg-type]
        mu_f = float(mu)  # type: ignore[arg-type]
        level = (pl.when(pl.col("_x").is_null()).then(0)
                 .when(pl.col("_x") < mu_f - sigma).then(1)
                 .when(pl.col("_x") < mu_f).then(2)
                 .when(pl.col("_x") < mu_f + sigma).then(3)
                 .otherwise(4))
    return (per.with_columns(level.cast(pl.Int8).alias("risk_level")).drop("_x")
            .sort("group_code"))
