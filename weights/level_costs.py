"""Same-level mean cost of each group (payment-rules §3.3: `r = total_cost / avg_{g,level}`, the
group's mean cost among hospitals of the case's level), built with the weights from history.

A case's level is its `hospital_level` column when the history has one, else the level of its
`hospital_id` in the hospital table given to the build (hospital_id, level; the store's
`hospitals` view has that shape). Levels are normalised like `weights.hospitals` ('三级' → '3',
'社区'/'基层' → 'community'); cases whose level stays unknown count only in the regional mean.

Per (group, level): `mean_cost` = the year-weighted mean restated cost of the cases kept after
the group's trimming — the same kept cases and weights as the regional `mean_cost`, split by
level — `n_kept` = those cases, `n_cases` = the level's usable cases before trimming.
Settlement uses a level's mean only when `n_kept` reaches the policy's `level_cost_min_cases`.
"""

from __future__ import annotations

import polars as pl

from weights.exact_means import exact_sums, half_up, weighted_mean_yuan
from weights.hospitals import LEVELS, normalise_level

LEVEL_COST_COLUMNS = ("level", "mean_cost", "n_cases", "n_kept")


def _normalised(values: pl.Series) -> pl.Series:
    text = values.cast(pl.String)
    mapping = {v: normalise_level(v) for v in text.unique().drop_nulls().to_list()}
    return text.replace_strict(mapping, default=None, return_dtype=pl.String).alias("level")


def case_levels(history: pl.DataFrame, hospitals: pl.DataFrame | None) -> pl.Series:
    """One normalised level (or null) per history row, in order."""
    if "hospital_level" in history.columns:
        return _normalised(history["hospital_level"])
    if hospitals is None or "hospital_id" not in history.columns:
        return pl.Series("level", [None] * history.height, dtype=pl.String)
    table = pl.DataFrame({
        "hospital_id": hospitals["hospital_id"].cast(pl.String).str.strip_chars(),
        "level": _normalised(hospitals["level"])}).unique("hospital_id", keep="first")
    ids = history.select(pl.col("hospital_id").cast(pl.String).str.strip_chars())
    return ids.join(table, on="hospital_id", how="left", maintain_order="left")["level"]


def split_means(usable: pl.DataFrame, kept: pl.DataFrame, code: str, key: str,
                known: pl.Expr) -> pl.DataFrame:
    """(code, key, mean_cost Decimal(18, 2), n_cases, n_kept): the group's year-weighted mean
    cost split by `key` (a level, a hospital) over the kept cases, with the usable (pre-trim)
    and kept counts; rows where `known` fails count nowhere. Empty without the key column."""
    schema = {code: pl.String, key: pl.String, "mean_cost": pl.Decimal(18, 2),
              "n_cases": pl.Int64, "n_kept": pl.Int64}
    if key not in kept.columns:
        return pl.DataFrame(schema=schema)
    counts = usable.filter(known).group_by(code, key).agg(pl.len().alias("n_cases"))
    sums = exact_sums(kept.filter(known), [code, key])  # order-independent (exact_means)
    means = sums.select(code, key, pl.Series("mean_cost", [
        half_up(weighted_mean_yuan(a, b), 2) for a, b in zip(sums["swc"].to_list(),
                                                             sums["sw"].to_list(), strict=True)],
        dtype=pl.Decimal(18, 2)), pl.col("n").alias("n_kept"))
    out = means.join(counts, on=[code, key], how="left")
    return out.select(
        pl.col(code).cast(pl.String), pl.col(key).cast(pl.String),
        pl.col("mean_cost").cast(pl.Decimal(18, 2)),
        pl.col("n_cases").cast(pl.Int64), pl.col("n_kept").cast(pl.Int64),
    ).sort(code, key)


def level_means(usable: pl.DataFrame, kept: pl.DataFrame, code: str) -> pl.DataFrame:
    """(code, level, mean_cost Decimal(18, 2), n_cases, n_kept) from the usable and kept cases
    (columns code, level, cost, w); empty when no case has a level."""
    return split_means(usable, kept, code, "level", pl.col("level").is_in(list(LEVELS)))
