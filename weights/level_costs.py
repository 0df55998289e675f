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

from decimal import Decimal

import polars as pl

from weights.hospitals import LEVELS, normalise_level

W_SCALE = 10**6  # year weights (1:2:7 …) as integers ×10⁶


C_SCALE = 10**6  # restated costs as integer micro-yuan (10⁻⁴ fen), rounded row by row


def fen(col: str = "cost") -> pl.Expr:
    """A (restated, float) cost per case as integer micro-yuan, rounded half-up row by row (a
    row-wise step, the same in every run; the float error it drops is far below 10⁻⁶ yuan)."""
    return (pl.col(col) * C_SCALE + 0.5).floor().cast(pl.Int128)


def weight_int(col: str = "w") -> pl.Expr:
    return (pl.col(col) * W_SCALE + 0.5).floor().cast(pl.Int128)


def exact_mean(cost: str = "cost", w: str = "w") -> pl.Expr:
    """The same weighted mean in yuan as a float: one division of two exact integer sums,
    hence the same value in every run."""
    num = (weight_int(w) * fen(cost)).sum().cast(pl.Float64)
    return num / (weight_int(w).sum().cast(pl.Float64) * C_SCALE)


def exact_mean_fen(cost: str = "cost", w: str = "w") -> pl.Expr:
    """Year-weighted mean cost in fen, half-up: Σ w·cost / Σ w on integers (costs ×10⁶,
    weights ×10⁶), so the result does not depend on the order a group-by sums in — builds
    are reproducible byte for byte (issue 12)."""
    num = (weight_int(w) * fen(cost)).sum()
    den = weight_int(w).sum() * (C_SCALE // 100)
    return ((num * 2 + den) // (den * 2)).cast(pl.Int64)

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
    means = kept.filter(known).group_by(code, key).agg(
        exact_mean_fen().alias("mean_fen"), pl.len().alias("n_kept"))
    out = means.join(counts, on=[code, key], how="left")
    return out.select(
        pl.col(code).cast(pl.String), pl.col(key).cast(pl.String),
        (pl.col("mean_fen").cast(pl.Decimal(38, 0)) * pl.lit(Decimal("0.01")))
        .cast(pl.Decimal(18, 2)).alias("mean_cost"),
        pl.col("n_cases").cast(pl.Int64), pl.col("n_kept").cast(pl.Int64),
    ).sort(code, key)


def level_means(usable: pl.DataFrame, kept: pl.DataFrame, code: str) -> pl.DataFrame:
    """(code, level, mean_cost Decimal(18, 2), n_cases, n_kept) from the usable and kept cases
    (columns code, level, cost, w); empty when no case has a level."""
    return split_means(usable, kept, code, "level", pl.col("level").is_in(list(LEVELS)))
