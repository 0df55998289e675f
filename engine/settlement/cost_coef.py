"""The DRG hospital cost coefficient c_{h,g} (payment-rules §2.3, point method [L:Jinhua]):
`c = hospital mean cost in g / city mean cost in g`, 1 for groups new to the hospital.

The weight version's `drg_hospital_costs` rows (per DRG and hospital: mean cost of the kept
cases, n_kept) travel nested in the weight table's `hospital_costs` column
(`attach_hospital_costs`, done by `engine.pipeline.load_weights`), like the same-level costs.
The city mean is the weight table's regional `mean_cost` of g (the same kept cases and
weights). With `[drg] cost_coefficient = "hospital_group"`:

    c = 1 + blend × (hospital mean / city mean − 1), bounded by [floor, cap], 4 dp half-up

and c = 1 when the hospital has no row for g or fewer than `cost_coefficient_min_cases` kept
cases in it. The case's standard points are `base × inst × c` (engine.settlement.batch).
"""

from __future__ import annotations

import polars as pl

from engine.settlement.inputs import nest_costs, unnest_costs
from engine.settlement.money import to_fen

HOSPITAL_COSTS = "hospital_costs"  # optional weight-table column: list of (hospital_id, …)


def attach_hospital_costs(table: pl.DataFrame, rows: pl.DataFrame, code: str) -> pl.DataFrame:
    """The weight table with a `hospital_costs` column from per-hospital cost rows (code,
    hospital_id, mean_cost, n_kept; the store's `drg_hospital_costs`)."""
    return nest_costs(table, rows, code, "hospital_id", HOSPITAL_COSTS)


def prepare_hospital_costs(weights: pl.DataFrame, method: str) -> pl.DataFrame:
    """(group_code, hospital_id, hospital_avg_fen, hospital_n) from the weight table's optional
    `hospital_costs` column; empty without it."""
    schema = {"group_code": pl.String, "hospital_id": pl.String, "hospital_avg_fen": pl.Int64,
              "hospital_n": pl.Int64}
    long = unnest_costs(weights, method, HOSPITAL_COSTS, "group_code")
    if long is None:
        return pl.DataFrame(schema=schema)
    return long.select(
        "group_code", pl.col("hospital_id").cast(pl.String).str.strip_chars(),
        to_fen(long, "mean_cost").alias("hospital_avg_fen"),
        pl.col("n_kept").cast(pl.Int64).alias("hospital_n"),
    ).unique(["group_code", "hospital_id"], keep="first")


