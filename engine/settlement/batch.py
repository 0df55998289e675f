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
"""

from __future__ import annotations

import polars as pl

from engine.policy import Policy
from engine.settlement import outliers as o
from engine.settlement.codes import SettleCode, settle_error_message
from engine.settlement.cost_coef import prepare_hospital_costs, with_cost_coefficient
from engine.settlement.inputs import (
    institution_coefficients,
    prepare_cases,
    prepare_grouped_typed,
    prepare_level_costs,
    prepare_weights,
    same_level_avg,
)
from engine.settlement.money import (
    I128,
    SCALE4,
    div_half_up,
    fen_to_money,
    lit,
    scaled,
    scaled_to_points,
)
from engine.settlement.per_diem import per_diem_amount, per_diem_rate
from engine.settlement.readmission import merged_readmissions
from engine.settlement.review import EMPTY, apply_quota, quota_used
from grouper.errors import InputError

CASE_TYPES = ("invalid", "violation", "review_ffs", "readmission_merged", "per_diem",
              "ffs_short_stay", "unmatched", "review_uplift", "incomplete", "high_outlier",
              "low_outlier", "normal")
RESULT_COLUMNS = (
    "case_id", "hospital_id", "patient_id", "fund_pool", "method", "status", "group_code",
    "group_name", "group_type", "weight", "institution_coef", "cost_coef", "avg_cost",
    "cost_ratio", "case_type", "review_outcome", "review_over_quota", "review_recommended",
    "patient_over_standard", "points", "point_value", "fixed_amount", "payment_standard",
    "total_cost", "fund_paid", "other_fund_paid", "patient_paid", "fund_payable", "deduction",
    "los", "admit_date", "discharge_date", "error_code", "error_message",
)
# `std_coef` (the coefficient of the standard parts, inst × c) is at 10⁸ when the DRG hospital
# cost coefficient is on, else it is inst at 10⁴.
STD_SCALE = {"none": SCALE4, "hospital_group": SCALE4 * SCALE4}


def _settle_error() -> pl.Expr:
    c = pl.col
    return (pl.when(c("hospital_id").is_null() | (c("hospital_id") == ""))
            .then(pl.lit(SettleCode.HOSPITAL_MISSING.value))
            .when(c("inst4").is_null()).then(pl.lit(SettleCode.HOSPITAL_UNKNOWN.value))
            .when(c("fund_pool").is_null()).then(pl.lit(SettleCode.FUND_POOL_UNKNOWN.value))
            .when(c("pv4").is_null()).then(pl.lit(SettleCode.FUND_POOL_NOT_IN_POLICY.value))
            .when(c("total_cost").is_null() | (c("total_cost") < 0))
            .then(pl.lit(SettleCode.COST_MISSING.value))
            .when(pl.any_horizontal(c("fund_paid", "other_fund_paid", "patient_paid").is_null())
                  | pl.any_horizontal(c("fund_paid", "other_fund_paid", "patient_paid") < 0))
            .then(pl.lit(SettleCode.PAYMENT_PARTS_MISSING.value))
            .otherwise(pl.lit(None, pl.String)))


def _unmatched_ratio(weights: pl.DataFrame, ppw4: int) -> tuple[int, int]:
    """Points per fen as num/den (×10⁴ points): Σ n × base / Σ n × mean cost of the table."""
    usable = weights.filter(pl.col("avg_fen") > 0, pl.col("weight4").is_not_null())
    rows = usable.select("n_cases", "weight4", "avg_fen").iter_rows()
    num = den = 0
    for n, weight4, avg_fen in rows:
        num += n * weight4 * ppw4 // SCALE4
        den += n * avg_fen
    return (num, den) if num > 0 and den > 0 else (0, 1)


def _case_type(policy: Policy) -> pl.Expr:
    c = pl.col
    ok = (c("group_status") == "ok") & c("weight4").is_not_null() & (c("avg_fen") > 0)
    exempt = c("group_type").is_in(list(policy.outliers.low_exempt_types))
    incomplete = (c("discharge_way").is_in(list(policy.incomplete_stay.discharge_ways))
                  & (c("los") < policy.incomplete_stay.short_los))
    short = (c("los") <= policy.scope.min_los) if policy.scope.min_los is not None else pl.lit(
        False)
    return (pl.when(c("error_code").is_not_null()).then(pl.lit("invalid"))
            .when(c("review_outcome") == "violation").then(pl.lit("violation"))
            .when(c("review_outcome") == "approved_ffs").then(pl.lit("review_ffs"))
            .when(c("readmission_merged")).then(pl.lit("readmission_merged"))
            .when(c("per_diem_rate").is_not_null()).then(pl.lit("per_diem"))
            .when(short.fill_null(False)).then(pl.lit("ffs_short_stay"))
            .when(~ok.fill_null(False)).then(pl.lit("unmatched"))
            .when(c("review_outcome") == "approved_uplift").then(pl.lit("review_uplift"))
            .when(incomplete.fill_null(False)).then(pl.lit("incomplete"))
            .when(o.is_high(policy, c("total_cost"), c("avg_fen"), c("k_high4")))
            .then(pl.lit("high_outlier"))
            .when(o.is_low(policy, c("total_cost"), c("avg_fen")) & ~exempt.fill_null(False))
            .then(pl.lit("low_outlier"))
            .otherwise(pl.lit("normal")))


def _std_coef(policy: Policy) -> pl.Expr:
    """inst × c_{h,g} (×10⁸) with the DRG hospital cost coefficient, else inst (×10⁴)."""
    if policy.drg.cost_coefficient == "none":
        return pl.col("case_inst4")
    return pl.col("case_inst4") * pl.col("cost_coef4").fill_null(SCALE4)


def _points(policy: Policy, ratio: tuple[int, int]) -> pl.Expr:
    c = pl.col
    base, inst, dev, cost, avg = c("base4"), c("std_coef"), c("dev4"), c("total_cost"), c(
        "avg_fen")
    scale = STD_SCALE[policy.drg.cost_coefficient]
    method = policy.outliers.high_outlier_method
    if method == "points_excess":
        high = o.high_points_excess(base, inst, dev, cost, avg, c("k_high4"), scale=scale)
    elif method == "cost_excess_share":
        high = o.high_cost_excess_share(base, inst, cost, avg, c("k_high4"),
                                        scaled(policy.outliers.excess_share), c("pv4"),
                                        scale=scale)
    else:
        high = lit(0)
    unmatched = (div_half_up(cost.cast(I128) * ratio[0], ratio[1])
                 if policy.policy.unmatched_payment == "cost_points" else lit(0))
    t = c("case_type")
    return (pl.when(t == "normal").then(o.normal_points(base, inst, scale=scale))
            .when(t == "high_outlier").then(high)
            .when(t == "low_outlier").then(o.low_points(base, dev, cost, avg))
            .when(t == "incomplete").then(o.incomplete_points(base, inst, cost, avg, scale=scale))
            .when(t == "review_uplift").then(o.uplift_points(
                base, inst, cost, scaled(policy.review.uplift_share), c("pv4"), scale=scale))
            .when(t == "unmatched").then(unmatched)
            .otherwise(lit(0))).cast(pl.Int64)


def _rate_std(policy: Policy, ratio: tuple[int, int]) -> pl.Expr:
    """DRG rate method (费率法, payment-rules §2.4): the payment standard's points part in fen,
    RW × rate_L (and every amount built on it) as one exact fraction rounded once to the fen —
    no 4-dp points in between. rate_L = the pool's base rate × the case's coefficient (level
    factor, × c_{h,g} when on), rounded to 4 dp as a rate; `dev_rate` the same with the
    deviation coefficient. The outlier formulas are the points formulas with base = RW,
    inst = rate_L and a point value of 1 yuan, so their value is yuan ×10⁴."""
    c = pl.col
    w, cost, avg, rate, dev = c("weight4"), c("total_cost"), c("avg_fen"), c("rate4"), c(
        "dev_rate4")
    unit = pl.lit(SCALE4, pl.Int64)  # 1 yuan per "point" ×10⁴
    method = policy.outliers.high_outlier_method
    zero: o.Frac = (lit(0), lit(1))
    if method == "points_excess":
        high = o.high_points_excess_frac(w, rate, dev, cost, avg, c("k_high4"))
    elif method == "cost_excess_share":
        high = o.high_cost_excess_share_frac(w, rate, cost, avg, c("k_high4"),
                                             scaled(policy.outliers.excess_share), unit)
    else:
        high = zero
    unmatched = ((cost.cast(I128) * ratio[0] * c("pv4").cast(I128), lit(ratio[1] * SCALE4))
                 if policy.policy.unmatched_payment == "cost_points" else zero)
    t = c("case_type")
    branches = [("normal", o.normal_frac(w, rate)), ("high_outlier", high),
                ("low_outlier", o.low_frac(w, dev, cost, avg)),
                ("incomplete", o.incomplete_frac(w, rate, cost, avg)),
                ("review_uplift", o.uplift_frac(w, rate, cost, scaled(policy.review.uplift_share),
                                                unit)),
                ("unmatched", unmatched)]
    num: pl.Expr = zero[0]
    den: pl.Expr = zero[1]
    for name, (n, d) in reversed(branches):
        num = pl.when(t == name).then(n).otherwise(num)
        den = pl.when(t == name).then(d).otherwise(den)
    return div_half_up(num, den * 100).cast(pl.Int64)


def _fixed(policy: Policy) -> pl.Expr:
    c, t = pl.col, pl.col("case_type")
    ffs_types = ["review_ffs", "ffs_short_stay"]
    if policy.policy.unmatched_payment == "ffs":
        ffs_types.append("unmatched")
    if policy.outliers.high_outlier_method == "ffs":
        ffs_types.append("high_outlier")
    return (pl.when(t.is_in(ffs_types)).then(c("total_cost"))
            .when(t == "per_diem").then(per_diem_amount(policy, los=c("los"),
                                                        rate_fen=c("per_diem_rate")))
            .otherwise(pl.lit(0, pl.Int64))).cast(pl.Int64)


def _fund_payable(policy: Policy) -> pl.Expr:
    c = pl.col
    std = c("std_fen")
    if policy.policy.fund_share_method == "ratio":
        amount = pl.when(c("total_cost") > 0).then(
            div_half_up(std.cast(I128) * c("fund_paid").cast(I128), c("total_cost"))
        ).otherwise(lit(0)).cast(pl.Int64)
    else:
        amount = pl.max_horizontal(std - c("patient_paid") - c("other_fund_paid"), pl.lit(0))
    held = c("case_type").is_in(["invalid", "violation"])
    return pl.when(held).then(pl.lit(0, pl.Int64)).otherwise(amount)


def settle_cases(cases: pl.DataFrame, grouped: pl.DataFrame, weights: pl.DataFrame,
                 hospitals: pl.DataFrame, policy: Policy, *,
                 reviews: pl.DataFrame | None = None,
                 earlier_episodes: pl.DataFrame | None = None) -> pl.DataFrame:
    """One settled row per case (RESULT_COLUMNS), in input order.

    `hospitals` may carry `review_cases_before` and `review_granted_before` (the year's
    earlier cases and special-review approvals per hospital, `engine.settlement.review_quota`); the
    review quota then counts against the year instead of this call alone.
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
    inst = institution_coefficients(hospitals, policy)
    pv = {pool: scaled(policy.provisional_point_value(pool)) for pool in policy.pool}
    frame = pl.concat([prepare_cases(cases), prepare_grouped_typed(grouped, method)], how="horizontal")
    frame = (frame.join(w, on="group_code", how="left", maintain_order="left")
             .join(inst, on="hospital_id", how="left", maintain_order="left")
             .join((reviews if reviews is not None else EMPTY), on="case_id", how="left",
                   maintain_order="left"))
    frame = with_cost_coefficient(frame, prepare_hospital_costs(weights, method), policy)
    frame = same_level_avg(frame, prepare_level_costs(weights, method), policy)
    c = pl.col
    # DRG: base = RW × points per weight; DIP: the grouped score after the auxiliary coefficient.
    base = (div_half_up(c("weight4").cast(I128) * ppw4, SCALE4).cast(pl.Int64) if method == "drg"
            else c("case_weight4"))
    case_inst = c("inst4")
    if method == "dip":
        coef = policy.institution_coef
        case_inst = (pl.when(c("group_type") == "basic").then(pl.lit(scaled(coef.basic_group_coef)))
                     .when(c("group_type") == "tcm")
                     .then(div_half_up(c("inst4").cast(I128) * scaled(coef.tcm_group_coef),
                                       SCALE4).cast(pl.Int64))
                     .otherwise(c("inst4")))
    frame = frame.with_columns(
        base.alias("base4"),
        (c("case_weight4") if method == "dip" else c("weight4")).alias("weight4"),
        case_inst.alias("case_inst4"),
        c("fund_pool").replace_strict(pv, default=None, return_dtype=pl.Int64).alias("pv4"),
        per_diem_rate(policy, dx0=c("dx0"), adrg=c("adrg"), los=c("los")).alias("per_diem_rate"),
    ).with_columns(
        (c("case_inst4") if policy.outliers.apply_inst_to_deviation
         else pl.lit(SCALE4, pl.Int64)).alias("dev4"),
        _std_coef(policy).alias("std_coef"),
        o.k_high(policy, c("weight4")).alias("k_high4"),
        pl.when(c("ingest_error_code").is_not_null()).then(c("ingest_error_code"))
        .when(c("group_status") == "invalid").then(c("group_error_code"))
        .otherwise(_settle_error()).alias("error_code"),
    )
    frame = apply_quota(frame, scaled(policy.review.quota), quota_used(hospitals))
    # episodes: grouped (ok) cases not held for an input problem
    episode = (c("group_status") == "ok") & c("error_code").is_null()
    frame = frame.with_columns(merged_readmissions(
        frame.with_columns(pl.when(episode).then(c("group_code")).alias("group_code")), policy,
        earlier_episodes))
    ratio = _unmatched_ratio(w, ppw4 if method == "drg" else SCALE4)
    frame = frame.with_columns(_case_type(policy).alias("case_type"))
    frame = frame.with_columns(_points(policy, ratio).alias("points4"),
                               _fixed(policy).alias("fixed_fen"))
    if policy.fixed_point_value:  # rate method: RW × rate_L, rounded once to the fen
        rates = {pool: scaled(p.base_rate) for pool, p in policy.pool.items()
                 if p.base_rate is not None}
        base_rate = c("fund_pool").replace_strict(rates, default=None, return_dtype=pl.Int64)
        scale = STD_SCALE[policy.drg.cost_coefficient]
        frame = frame.with_columns(
            div_half_up(base_rate.cast(I128) * c("std_coef").cast(I128), scale).alias("rate4"),
            div_half_up(base_rate.cast(I128) * c("dev4").cast(I128), SCALE4).alias("dev_rate4"))
        points_fen = _rate_std(policy, ratio)
    else:  # point methods: points (4 dp) × point value
        points_fen = div_half_up(c("points4").cast(I128) * c("pv4").fill_null(0).cast(I128),
                                 10**6).cast(pl.Int64)
    frame = frame.with_columns((points_fen + c("fixed_fen")).alias("std_fen"))
    frame = frame.with_columns(
        pl.when(c("case_type") == "invalid").then(pl.lit(0, pl.Int64)).otherwise(c("std_fen"))
        .alias("std_fen"))
    frame = frame.with_columns(_fund_payable(policy).alias("payable_fen"))
    return _result(frame, policy)


def _result(frame: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    c = pl.col
    over = ((c("std_fen") - c("patient_paid") - c("other_fund_paid") < 0)
            & ~c("case_type").is_in(["invalid", "violation"]))
    status = pl.when(c("error_code").is_not_null()).then(pl.lit("invalid")).otherwise(
        c("group_status"))
    message = (pl.when(c("ingest_error_code").is_not_null()).then(c("ingest_error_message"))
               .when(c("group_status") == "invalid")
               .then(pl.coalesce(c("group_error_message"), c("error_code")))
               .otherwise(settle_error_message(c("error_code"))))
    has_avg = c("avg_fen") > 0
    return frame.select(
        "case_id", "hospital_id", "patient_id", "fund_pool",
        pl.lit(policy.method).alias("method"), status.alias("status"), "group_code",
        "group_name", "group_type", scaled_to_points(c("weight4")).alias("weight"),
        scaled_to_points(c("case_inst4")).alias("institution_coef"),
        scaled_to_points(c("cost_coef4")).alias("cost_coef"),
        fen_to_money(c("avg_fen")).alias("avg_cost"),
        scaled_to_points(pl.when(has_avg).then(o.cost_ratio4(c("total_cost"), c("avg_fen")))
                         .cast(pl.Int64)).alias("cost_ratio"),
        "case_type", "review_outcome", c("review_over_quota").fill_null(False),
        (has_avg & o.is_review_recommended(policy, c("total_cost"), c("avg_fen"))).fill_null(False)
        .alias("review_recommended"),
        over.fill_null(False).alias("patient_over_standard"),
        scaled_to_points(c("points4")).alias("points"),
        scaled_to_points(c("pv4")).alias("point_value"),
        fen_to_money(c("fixed_fen")).alias("fixed_amount"),
        fen_to_money(c("std_fen")).alias("payment_standard"),
        *(fen_to_money(c(m)).alias(m) for m in ("total_cost", "fund_paid", "other_fund_paid",
                                                 "patient_paid")),
        fen_to_money(c("payable_fen")).alias("fund_payable"),
        fen_to_money(pl.when(c("case_type") == "violation").then(c("deduction_fen"))
                     .otherwise(0)).alias("deduction"),
        "los", "admit_date", "discharge_date", "error_code", message.alias("error_message"),
    )
