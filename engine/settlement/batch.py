"""Per-case settlement (payment-rules.md §2.4–2.7, §3.3–3.6): points, payment standard and the
fund's payable for every case, exact to the fen.

`settle_cases(cases, grouped, weights, hospitals, policy)` takes the case table (contracts §1),
its grouping result (same rows, same order; `group_drg` or `group_dip` output), the weight table
(drg_weights or a DIP catalogue's groups) and the hospital table (hospital_id, level, type), and
returns one row per case in input order. The case type is the first that applies of:

invalid → violation → review_ffs → readmission_merged → per_diem → ffs_short_stay → unmatched →
review_uplift → incomplete → high_outlier → low_outlier → normal.

With `[drg] cost_coefficient = "hospital_group"` the standard part of the points (base × inst in
normal, high-outlier, incomplete and uplift points) is multiplied by the hospital cost coefficient
c_{h,g} (`engine.settlement.cost_coef`); the deviation parts are not. A readmission is merged into
an episode of the same run or of the year's earlier runs (`earlier_episodes`).

Money is `Decimal(18, 2)` yuan; points are `Decimal(18, 4)`; every amount is computed in integers
and rounded once, half-up. `payment_standard = round(points × point_value) + fixed_amount` where
`point_value` is the policy's provisional value of the case's fund pool (pv_budget) and
`fixed_amount` is what is paid outside points (FFS, per diem). Under the DRG rate method there are
no points to round: `payment_standard = round(RW × rate_L …) + fixed_amount`, the outlier formula
evaluated exactly in money (`_rate_std`); `points` (RW × points per weight × factor, 4 dp) is
shown for information and `point_value` is base rate / points per weight.
`fund_payable = max(0, payment_standard − patient_paid − other_fund_paid)` (or the `ratio` form).
Invalid cases are held: a row with status `invalid`, an error code and nothing payable.

The rules are not written here: `engine.settlement.steps` lists them (case types, coefficients,
outliers, per diem, payable), each over the backend of `engine.settlement.backend`; this module
joins the tables, adds the steps as polars columns and applies what needs other rows (the review
quota, readmissions). `engine.settlement.one_case` evaluates the same steps for one case.
"""

from __future__ import annotations

import polars as pl

from engine.policy import Policy
from engine.settlement import coefficients as k
from engine.settlement.backend import POLARS
from engine.settlement.case_types import CASE_TYPES
from engine.settlement.coefficients import STD_SCALE
from engine.settlement.cost_coef import prepare_hospital_costs
from engine.settlement.inputs import (
    institution_coefficients,
    prepare_cases,
    prepare_grouped_typed,
    prepare_level_costs,
    prepare_weights,
)
from engine.settlement.money import SCALE4, fen_to_money, scaled, scaled_to_points
from engine.settlement.payable import Context
from engine.settlement.readmission import merged_readmissions
from engine.settlement.review import EMPTY, apply_quota, quota_used
from engine.settlement.steps import BEFORE_HISTORY, Stage, after_history
from grouper.errors import InputError

__all__ = ["CASE_TYPES", "RESULT_COLUMNS", "STD_SCALE", "settle_cases", "unmatched_ratio"]

RESULT_COLUMNS = (
    "case_id", "hospital_id", "patient_id", "fund_pool", "method", "status", "group_code",
    "group_name", "group_type", "weight", "institution_coef", "cost_coef", "avg_cost",
    "cost_ratio", "case_type", "review_outcome", "review_over_quota", "review_recommended",
    "patient_over_standard", "points", "point_value", "fixed_amount", "payment_standard",
    "total_cost", "fund_paid", "other_fund_paid", "patient_paid", "fund_payable", "deduction",
    "los", "admit_date", "discharge_date", "error_code", "error_message",
)


def unmatched_ratio(weights: pl.DataFrame, ppw4: int) -> tuple[int, int]:
    """Points per fen as num/den (×10⁴ points): Σ n × base / Σ n × mean cost of the table."""
    usable = weights.filter(pl.col("avg_fen") > 0, pl.col("weight4").is_not_null())
    rows = usable.select("n_cases", "weight4", "avg_fen").iter_rows()
    num = den = 0
    for n, weight4, avg_fen in rows:
        num += n * weight4 * ppw4 // SCALE4
        den += n * avg_fen
    return (num, den) if num > 0 and den > 0 else (0, 1)


def _add(frame: pl.DataFrame, stages: tuple[Stage, ...], ctx: Context) -> pl.DataFrame:
    for stage in stages:
        frame = frame.with_columns(rule(POLARS, ctx, pl.col).alias(name) for name, rule in stage)
    return frame


def settle_cases(cases: pl.DataFrame, grouped: pl.DataFrame, weights: pl.DataFrame,
                 hospitals: pl.DataFrame, policy: Policy, *,
                 reviews: pl.DataFrame | None = None,
                 earlier_episodes: pl.DataFrame | None = None) -> pl.DataFrame:
    """One settled row per case (RESULT_COLUMNS), in input order.

    `hospitals` may carry `review_cases_before` and `review_granted_before` (the year's
    earlier cases and special-review approvals per hospital, `engine.settlement.review_quota`);
    the review quota then counts against the year instead of this call alone.
    `earlier_episodes` (patient_id, hospital_id, group_code, admit_date, discharge_date) are
    the year's earlier runs' episodes a readmission can be merged into
    (`engine.settlement.readmission_history`).

    >>> settle_cases(cases, group_drg(cases), drg_weights, hospitals,
    ...              load_policy("foshan_drg_2025"))  # doctest: +SKIP
    """
    if grouped.height != cases.height:
        raise InputError(f"grouping result has {grouped.height} rows for {cases.height} cases")
    method = policy.method
    ppw4 = scaled(policy.policy.points_per_weight)
    w = prepare_weights(weights, method)
    ctx = Context.of(policy, unmatched_ratio(w, ppw4 if method == "drg" else SCALE4))
    c = pl.col
    frame = pl.concat([prepare_cases(cases), prepare_grouped_typed(grouped, method)],
                      how="horizontal")
    frame = (frame.join(w, on="group_code", how="left", maintain_order="left")
             .join(institution_coefficients(hospitals, policy), on="hospital_id", how="left",
                   maintain_order="left")
             .join((reviews if reviews is not None else EMPTY), on="case_id", how="left",
                   maintain_order="left"))
    if policy.drg.cost_coefficient == "none":
        frame = frame.with_columns(pl.lit(None, pl.Int64).alias("cost_coef4"))
    else:  # c_{h,g} from the regional mean, before the same-level replacement
        frame = (frame.join(prepare_hospital_costs(weights, method),
                            on=["group_code", "hospital_id"], how="left", maintain_order="left")
                 .with_columns(k.cost_coefficient(POLARS, policy, c).alias("cost_coef4"))
                 .drop("hospital_avg_fen", "hospital_n"))
    levels = prepare_level_costs(weights, method)
    if policy.outliers.avg_cost_basis == "same_level" and levels.height:
        frame = (frame.join(levels, on=["cost_code", "hospital_level"], how="left",
                            maintain_order="left")
                 .with_columns(k.same_level_avg(POLARS, policy, c).alias("avg_fen"))
                 .drop("level_avg_fen", "level_n"))
    frame = _add(frame, BEFORE_HISTORY, ctx)
    # what one case cannot know: the quota over the hospital's year, readmission partners
    frame = apply_quota(frame, scaled(policy.review.quota), quota_used(hospitals))
    episode = (c("group_status") == "ok") & c("error_code").is_null()
    frame = frame.with_columns(merged_readmissions(
        frame.with_columns(pl.when(episode).then(c("group_code")).alias("group_code")), policy,
        earlier_episodes))
    frame = _add(frame, after_history(ctx), ctx)
    return _result(frame, policy)


def _result(frame: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    c = pl.col
    return frame.select(
        "case_id", "hospital_id", "patient_id", "fund_pool",
        pl.lit(policy.method).alias("method"), "status", "group_code",
        "group_name", "group_type", scaled_to_points(c("weight4")).alias("weight"),
        scaled_to_points(c("case_inst4")).alias("institution_coef"),
        scaled_to_points(c("cost_coef4")).alias("cost_coef"),
        fen_to_money(c("avg_fen")).alias("avg_cost"),
        scaled_to_points(c("cost_ratio4")).alias("cost_ratio"),
        "case_type", "review_outcome", c("review_over_quota").fill_null(False),
        "review_recommended", "patient_over_standard",
        scaled_to_points(c("points4")).alias("points"),
        scaled_to_points(c("pv4")).alias("point_value"),
        fen_to_money(c("fixed_fen")).alias("fixed_amount"),
        fen_to_money(c("std_fen")).alias("payment_standard"),
        *(fen_to_money(c(m)).alias(m) for m in ("total_cost", "fund_paid", "other_fund_paid",
                                                 "patient_paid")),
        fen_to_money(c("payable_fen")).alias("fund_payable"),
        fen_to_money(c("deducted_fen")).alias("deduction"),
        "los", "admit_date", "discharge_date", "error_code", "error_message",
    )
