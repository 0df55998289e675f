"""What a case is paid (payment-rules §2.4–2.6, §3.3–3.6), written once over the backend `b`
(`engine.settlement.backend`) for the batch and for one case.

- `points`: the case type's points ×10⁴ (`engine.settlement.outliers`), 0 for the types paid
  outside points; `unmatched` cases under `unmatched_payment = "cost_points"` get their cost
  times the table's points per fen (`Context.ratio`).
- `rate_standard`: the DRG rate method (费率法): RW × rate_L (and every amount built on it) as
  one exact fraction rounded once to the fen — the points formulas with base = RW, inst =
  rate_L and a point value of 1 yuan.
- `fixed_amount`: what is paid outside points: FFS (review_ffs, short stays, and unmatched /
  high outliers when the policy pays them so), per diem.
- `payment_standard`: round(points × pv) (or the rate standard) + fixed, 0 when invalid.
- `fund_payable`: max(0, standard − patient − other funds), or the `ratio` form; 0 when held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.policy import Policy
from engine.settlement import outliers as o
from engine.settlement.backend import Backend
from engine.settlement.case_types import HELD
from engine.settlement.coefficients import STD_SCALE
from engine.settlement.money import SCALE4, scaled
from engine.settlement.per_diem import per_diem_amount

X = Any
Col = Callable[[str], X]
S = SCALE4


@dataclass(frozen=True)
class Context:
    """What the rules read besides the case: the policy and its per-table constants."""

    policy: Policy
    ppw4: int  # points per weight ×10⁴ (DRG)
    ratio: tuple[int, int]  # unmatched points per fen (×10⁴) as num/den
    pv4: dict[str, int]  # fund pool → provisional point value ×10⁴
    base_rate4: dict[str, int]  # fund pool → DRG base rate ×10⁴ (rate method)

    @classmethod
    def of(cls, policy: Policy, ratio: tuple[int, int]) -> Context:
        return cls(policy, scaled(policy.policy.points_per_weight), ratio,
                   {pool: scaled(policy.provisional_point_value(pool)) for pool in policy.pool},
                   {pool: scaled(p.base_rate) for pool, p in policy.pool.items()
                    if p.base_rate is not None})


def _fracs(b: Backend, ctx: Context, x: Col, *, base: X, inst: X, dev: X, pv: X, scale: int,
           unmatched: tuple[X, X]) -> dict[str, Callable[[], tuple[X, X]]]:
    """Case type → its points as an exact fraction (numerator, denominator)."""
    policy = ctx.policy
    cost, avg, k4 = x("total_cost"), x("avg_fen"), x("k_high4")
    method = policy.outliers.high_outlier_method
    table: dict[str, Callable[[], tuple[X, X]]] = {
        "normal": lambda: o.normal_frac(b, base, inst, scale=scale),
        "low_outlier": lambda: o.low_frac(b, base, dev, cost, avg),
        "incomplete": lambda: o.incomplete_frac(b, base, inst, cost, avg, scale=scale),
        "review_uplift": lambda: o.uplift_frac(b, base, inst, cost,
                                               scaled(policy.review.uplift_share), pv,
                                               scale=scale),
        "unmatched": lambda: unmatched,
    }
    if method == "points_excess":
        table["high_outlier"] = lambda: o.high_points_excess_frac(b, base, inst, dev, cost, avg,
                                                                  k4, scale=scale)
    elif method == "cost_excess_share":
        table["high_outlier"] = lambda: o.high_cost_excess_share_frac(
            b, base, inst, cost, avg, k4, scaled(policy.outliers.excess_share), pv, scale=scale)
    return table


def points(b: Backend, ctx: Context, x: Col) -> X:
    """Points ×10⁴ of the case's type (4 dp, half-up once)."""
    policy = ctx.policy
    unmatched = ((b.wide(x("total_cost")) * ctx.ratio[0], b.wide(ctx.ratio[1]))
                 if policy.policy.unmatched_payment == "cost_points" else (b.wide(0), b.wide(1)))
    table = _fracs(b, ctx, x, base=x("base4"), inst=x("std_coef"), dev=x("dev4"), pv=x("pv4"),
                   scale=STD_SCALE[policy.drg.cost_coefficient], unmatched=unmatched)
    num, den = b.switch(x("case_type"), table, (b.wide(0), b.wide(1)))
    return b.narrow(b.div(num, den))


def rates(b: Backend, ctx: Context, x: Col) -> tuple[X, X]:
    """Rate method: (rate_L, deviation rate) ×10⁴ of the case — the pool's base rate × the
    standard coefficient (4 dp, half-up), and × the deviation coefficient."""
    base_rate = b.lookup(x("fund_pool"), ctx.base_rate4)
    scale = STD_SCALE[ctx.policy.drg.cost_coefficient]
    return (b.div(b.wide(base_rate) * b.wide(x("std_coef")), scale),
            b.div(b.wide(base_rate) * b.wide(x("dev4")), S))


def rate_standard(b: Backend, ctx: Context, x: Col) -> X:
    """Rate method: the standard's points part in fen, RW × rate_L …, rounded once."""
    policy = ctx.policy
    unmatched = ((b.wide(x("total_cost")) * ctx.ratio[0] * b.wide(x("pv4")),
                  b.wide(ctx.ratio[1] * S))
                 if policy.policy.unmatched_payment == "cost_points" else (b.wide(0), b.wide(1)))
    table = _fracs(b, ctx, x, base=x("weight4"), inst=x("rate4"), dev=x("dev_rate4"),
                   pv=b.lit(S), scale=S, unmatched=unmatched)
    num, den = b.switch(x("case_type"), table, (b.wide(0), b.wide(1)))
    return b.narrow(b.div(num, den * 100))


def fixed_amount(b: Backend, ctx: Context, x: Col) -> X:
    """Fen paid outside points."""
    policy = ctx.policy
    ffs = ["review_ffs", "ffs_short_stay"]
    if policy.policy.unmatched_payment == "ffs":
        ffs.append("unmatched")
    if policy.outliers.high_outlier_method == "ffs":
        ffs.append("high_outlier")
    table: dict[str, Callable[[], X]] = {t: (lambda: x("total_cost")) for t in ffs}
    table["per_diem"] = lambda: per_diem_amount(b, policy, los=x("los"),
                                                rate_fen=x("per_diem_rate"))
    return b.narrow(b.switch(x("case_type"), table, b.lit(0)))


def payment_standard(b: Backend, ctx: Context, x: Col) -> X:
    if ctx.policy.fixed_point_value:  # rate method: RW × rate_L, rounded once to the fen
        points_fen = rate_standard(b, ctx, x)
    else:  # point methods: points (4 dp) × point value
        points_fen = b.narrow(b.div(b.wide(x("points4")) * b.wide(b.fill(x("pv4"), 0)),
                                    10**6))
    return b.when(x("case_type") == "invalid", b.lit(0), points_fen + x("fixed_fen"))


def fund_payable(b: Backend, ctx: Context, x: Col) -> X:
    std, cost = x("std_fen"), x("total_cost")
    if ctx.policy.policy.fund_share_method == "ratio":
        amount = b.when(cost > 0, b.narrow(b.div(b.wide(std) * b.wide(x("fund_paid")), cost)),
                        b.lit(0))
    else:
        amount = b.max(std - x("patient_paid") - x("other_fund_paid"), b.lit(0))
    return b.when(b.is_in(x("case_type"), HELD), b.lit(0), amount)


def patient_over_standard(b: Backend, ctx: Context, x: Col) -> X:
    """The patient's and other funds' share exceeds the standard (the fund pays nothing)."""
    over = ((x("std_fen") - x("patient_paid") - x("other_fund_paid") < 0)
            & ~b.is_in(x("case_type"), HELD))
    return b.fill(over, False)


def deduction(b: Backend, ctx: Context, x: Col) -> X:
    return b.when(x("case_type") == "violation", x("deduction_fen"), b.lit(0))
