"""The per-case settlement as one ordered table of named operands, each a rule of
`engine.settlement` over the backend `b`: the batch (`engine.settlement.batch`) adds each stage
as polars columns, one case (`engine.settlement.one_case`) evaluates the same entries in order
over plain values. A stage's entries read only the operands of earlier stages (and the inputs).

Between `BEFORE_HISTORY` and `AFTER_HISTORY` the batch applies what one case cannot know on its
own (`engine.settlement.case_types.LADDER`'s `needs`): the review quota over the hospital's year
and the readmission merge over the episodes. One case comes with a review outcome or none
(`review_outcome`, `review_over_quota` false, `deduction_fen`) and no readmission partner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.settlement import coefficients as k
from engine.settlement import outliers as o
from engine.settlement import payable as pay
from engine.settlement.backend import Backend
from engine.settlement.case_types import case_type, error_code
from engine.settlement.codes import MESSAGES
from engine.settlement.payable import Context
from engine.settlement.per_diem import per_diem_rate

X = Any
Col = Callable[[str], X]
Rule = Callable[[Backend, Context, Col], X]
Stage = tuple[tuple[str, Rule], ...]


def _weight(b: Backend, ctx: Context, x: Col) -> X:
    return x("case_weight4") if ctx.policy.method == "dip" else x("weight4")


def _status(b: Backend, ctx: Context, x: Col) -> X:
    return b.when(~b.is_null(x("error_code")), b.lit("invalid"), x("group_status"))


def _message(b: Backend, ctx: Context, x: Col) -> X:
    return b.first(((~b.is_null(x("ingest_error_code")), x("ingest_error_message")),
                    (x("group_status") == "invalid",
                     b.when(b.is_null(x("group_error_message")), x("error_code"),
                            x("group_error_message")))),
                   b.lookup(x("error_code"), MESSAGES))


def _cost_ratio(b: Backend, ctx: Context, x: Col) -> X:
    return b.narrow(b.when(x("avg_fen") > 0, o.cost_ratio4(b, x("total_cost"), x("avg_fen")),
                           b.lit(None)))


def _review_recommended(b: Backend, ctx: Context, x: Col) -> X:
    return b.fill((x("avg_fen") > 0)
                  & o.is_review_recommended(b, ctx.policy, x("total_cost"), x("avg_fen")), False)


BEFORE_HISTORY: tuple[Stage, ...] = (
    (("base4", lambda b, c, x: k.base_points(b, c.policy, x, c.ppw4)),
     ("weight4", _weight),
     ("case_inst4", lambda b, c, x: k.case_institution(b, c.policy, x)),
     ("pv4", lambda b, c, x: b.lookup(x("fund_pool"), c.pv4)),
     ("per_diem_rate", lambda b, c, x: b.narrow(per_diem_rate(
         b, c.policy, dx0=x("dx0"), adrg=x("adrg"), los=x("los"))))),
    (("dev4", lambda b, c, x: k.deviation(b, c.policy, x)),
     ("std_coef", lambda b, c, x: k.standard_coefficient(b, c.policy, x)),
     ("k_high4", lambda b, c, x: o.k_high(b, c.policy, x("weight4"))),
     ("error_code", lambda b, c, x: error_code(b, c.policy, x))),
)

RATES: Stage = (("rate4", lambda b, c, x: pay.rates(b, c, x)[0]),
                ("dev_rate4", lambda b, c, x: pay.rates(b, c, x)[1]))


def after_history(ctx: Context) -> tuple[Stage, ...]:
    """The stages after the review quota and the readmission merge (rates under the DRG rate
    method only)."""
    return (
        (("case_type", lambda b, c, x: case_type(b, c.policy, x)),),
        (("points4", pay.points), ("fixed_fen", pay.fixed_amount)),
        *((RATES,) if ctx.policy.fixed_point_value else ()),
        (("std_fen", pay.payment_standard),),
        (("payable_fen", pay.fund_payable), ("patient_over_standard", pay.patient_over_standard),
         ("deducted_fen", pay.deduction), ("cost_ratio4", _cost_ratio),
         ("review_recommended", _review_recommended), ("status", _status),
         ("error_message", _message)),
    )
