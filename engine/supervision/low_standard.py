"""低标入院 (low-standard admission) screening, payment-rules.md §5.

A case is flagged when LOS ≤ `low_standard_max_los`, its cost ratio r < `low_standard_max_ratio`
and it has no procedure (`low_standard_require_no_procedure`, default) or, with that key false,
no operating-room procedure (the §5 rule as written), or when its principal diagnosis is on the
outpatient-treatable list. Incomplete stays (transfer, against advice, death) are not screened:
a short cheap stay that ends in death or transfer is not an admission that was not needed.

Why no procedure at all by default: a short, cheap stay is also what an ordinary stay looks like
when something quick was done — a gastroscopy, a transfusion, a puncture, a cardioversion. Those
are coded procedures, care the stay delivered and the reason it was a stay. A low-standard
admission is one where the bed bought nothing the outpatient clinic could not give: nothing was
done that the claim records. Where a region codes routine imaging as procedures (88.x), set the
key false. Measured effect on the fixture region: docs/supervision.md.
"""

from __future__ import annotations

import polars as pl

from engine.supervision.thresholds import SupervisionThresholds


def _on_outpatient_list(prefixes: tuple[str, ...]) -> pl.Expr:
    if not prefixes:
        return pl.lit(False)
    return pl.any_horizontal(pl.col("principal_dx").str.starts_with(p) for p in prefixes)


def low_standard_admissions(frame: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    """One row per flagged case: case_id, hospital_id, dept, month, year, los, cost_ratio,
    reason (`short_cheap` | `outpatient_dx`), score in (0, 1].

    score = 1 − r / max_ratio for short cheap stays (the cheaper, the stronger), halved when the
    stay had any (non-operating-room) procedure (only screened when
    `low_standard_require_no_procedure` is false) — something was done that may have needed
    the bed; 0.5 for a diagnosis on the outpatient list alone.
    """
    nothing_done = ((pl.col("n_procedures") == 0) if th.low_standard_require_no_procedure
                    else ~pl.col("has_or_procedure"))
    short_cheap = ((pl.col("los") <= th.low_standard_max_los)
                   & (pl.col("cost_ratio") < th.low_standard_max_ratio)
                   & nothing_done)
    listed = _on_outpatient_list(th.outpatient_dx_prefixes)
    screened = ~pl.col("discharge_way").fill_null(1).is_in(
        list(th.low_standard_exclude_discharge_ways))
    f = frame.filter(screened & (short_cheap.fill_null(False) | listed))
    done_something = pl.when(pl.col("n_procedures") > 0).then(0.5).otherwise(1.0)
    score = (pl.when(short_cheap.fill_null(False))
             .then((1 - pl.col("cost_ratio") / th.low_standard_max_ratio) * done_something)
             .otherwise(0.5))
    reason = pl.when(short_cheap.fill_null(False)).then(pl.lit("short_cheap")).otherwise(
        pl.lit("outpatient_dx"))
    return f.select("case_id", "hospital_id", "dept", "month", "year", "los", "cost_ratio",
                    reason.alias("reason"), score.clip(0.01, 1.0).alias("score"))
