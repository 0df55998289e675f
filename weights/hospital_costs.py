"""Mean cost of each group per hospital, for the hospital cost coefficient of the DRG point
method (payment-rules §2.3 [L:Jinhua]: `c_{h,g} = hospital mean cost in g / city mean cost in
g`, 1 for groups new to the hospital), built with the weights from history.

Per (group, hospital): `mean_cost` = the year-weighted mean restated cost of the hospital's
cases kept after the group's regional trimming — the same kept cases and weights as the
group's regional `mean_cost` (the city mean), split by `hospital_id` — `n_kept` = those cases,
`n_cases` = the hospital's usable cases of the group before trimming. Hospital ids are compared
stripped; cases without one count only in the regional mean. Settlement applies a hospital's
coefficient only when `n_kept` reaches the policy's `cost_coefficient_min_cases`.
"""

from __future__ import annotations

import polars as pl

from weights.level_costs import split_means

HOSPITAL_COST_COLUMNS = ("hospital_id", "mean_cost", "n_cases", "n_kept")


def case_hospitals(history: pl.DataFrame) -> pl.Series | None:
    """The history's hospital ids, stripped, blank → null; None without the column."""
    if "hospital_id" not in history.columns:
        return None
    ids = history["hospital_id"].cast(pl.String).str.strip_chars()
    return ids.replace("", None).alias("hospital_id")


def hospital_means(usable: pl.DataFrame, kept: pl.DataFrame, code: str) -> pl.DataFrame:
    """(code, hospital_id, mean_cost Decimal(18, 2), n_cases, n_kept) from the usable and kept
    cases (columns code, hospital_id, cost, w); empty when the cases carry no hospital id."""
    return split_means(usable, kept, code, "hospital_id", pl.col("hospital_id").is_not_null())
