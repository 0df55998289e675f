"""Special-case review (特例单议) outcomes from a review file, with the per-hospital quota.

payment-rules.md §2.7. The bureau's decisions arrive as a file (CSV, Parquet or JSONL) with
`case_id`, `review_outcome` and optionally `deduction` (yuan, for violations). Outcomes:
`approved_ffs` (pay the FFS amount), `approved_uplift` (extra points for the cost above the
standard), `rejected` (normal rule), `violation` (0 points and a deduction).

The quota is per hospital and year: approvals so far may not exceed
`floor(review.quota × the hospital's cases so far in the year)`. A run counts its own cases and,
when the hospital table carries them (`engine.settlement.review_quota`), the cases and approvals of the
year's other periods already settled (`review_cases_before`, `review_granted_before`); the
approvals beyond what is left (in file order) are treated as `rejected` and flagged
`review_over_quota`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from engine.settlement.money import to_fen
from grouper.errors import DrgDipError

OUTCOMES = ("approved_ffs", "approved_uplift", "rejected", "violation")
APPROVED = ("approved_ffs", "approved_uplift")
ALIASES = {"结算清单号": "case_id", "评议结果": "review_outcome", "outcome": "review_outcome",
           "扣款金额": "deduction", "扣款": "deduction"}


class ReviewFileError(DrgDipError):
    """The review file is unreadable or holds an unknown outcome."""


def _read(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return pl.read_ndjson(path)
        return pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ReviewFileError(f"review file {path}: unreadable: {str(exc).splitlines()[0]}"
                              ) from exc


def normalise_reviews(raw: pl.DataFrame, *, source: str = "reviews") -> pl.DataFrame:
    """(case_id, review_outcome, deduction_fen, review_order); fails on unknown outcomes."""
    frame = raw.rename({c: ALIASES[c] for c in raw.columns if c in ALIASES})
    missing = [c for c in ("case_id", "review_outcome") if c not in frame.columns]
    if missing:
        raise ReviewFileError(f"{source}: missing column(s) {', '.join(missing)}")
    frame = frame.with_columns(pl.col("case_id").cast(pl.String),
                               pl.col("review_outcome").cast(pl.String).str.strip_chars())
    bad = frame.with_row_index("row").filter(~pl.col("review_outcome").is_in(OUTCOMES))
    if bad.height:
        row = bad.row(0, named=True)
        raise ReviewFileError(f"{source}: row {row['row'] + 1}: review_outcome="
                              f"{row['review_outcome']!r}; accepted: {', '.join(OUTCOMES)}")
    dup = frame.filter(pl.col("case_id").is_duplicated())
    if dup.height:
        raise ReviewFileError(f"{source}: case_id={dup['case_id'][0]!r} reviewed twice")
    return frame.with_row_index("review_order").select(
        "case_id", "review_outcome",
        to_fen(frame.with_row_index("review_order"), "deduction").fill_null(0)
        .alias("deduction_fen"), "review_order")


def read_reviews(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise ReviewFileError(f"review file {path}: no such file")
    return normalise_reviews(_read(path), source=str(path))


EMPTY = pl.DataFrame(schema={"case_id": pl.String, "review_outcome": pl.String,
                             "deduction_fen": pl.Int64, "review_order": pl.UInt32})


USED_COLUMNS = ("review_cases_before", "review_granted_before")


def quota_used(hospitals: pl.DataFrame) -> pl.DataFrame | None:
    """(hospital_id, review_cases_before, review_granted_before) from the hospital table's
    optional columns of those names; None without them."""
    if not set(USED_COLUMNS) <= set(hospitals.columns):
        return None
    return hospitals.select(pl.col("hospital_id").cast(pl.String).str.strip_chars(),
                            *(pl.col(c).cast(pl.Int64).fill_null(0) for c in USED_COLUMNS)
                            ).unique("hospital_id", keep="first")


def apply_quota(frame: pl.DataFrame, quota_scaled: int,
                used: pl.DataFrame | None = None) -> pl.DataFrame:
    """Demote approvals beyond the hospital's year quota to `rejected`, in review order:
    allowed = floor(quota × (cases in the run + cases before)) − approvals before.

    `frame` has hospital_id, review_outcome, review_order; `used` (quota_used) the year's
    earlier cases and approvals per hospital. Adds `review_over_quota`; keeps the row order.
    """
    approved = pl.col("review_outcome").is_in(APPROVED)
    before, granted = pl.lit(0, pl.Int64), pl.lit(0, pl.Int64)
    if used is not None:
        frame = frame.join(used, on="hospital_id", how="left", maintain_order="left")
        before = pl.col("review_cases_before").fill_null(0)
        granted = pl.col("review_granted_before").fill_null(0)
    n_cases = pl.len().over("hospital_id").cast(pl.Int64) + before
    allowed = (n_cases * quota_scaled) // 10_000 - granted
    rank = (pl.when(approved).then(pl.col("review_order")).otherwise(None)
            .rank("ordinal").over("hospital_id"))
    over = approved & (rank > allowed)
    return frame.with_columns(over.fill_null(False).alias("review_over_quota")).with_columns(
        pl.when(pl.col("review_over_quota")).then(pl.lit("rejected"))
        .otherwise(pl.col("review_outcome")).alias("review_outcome")
    ).drop(USED_COLUMNS, strict=False)
