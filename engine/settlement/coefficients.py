"""The coefficients a case is paid with (payment-rules §2.3, §3.3), written once over the
backend `b` (`engine.settlement.backend`) for the batch and for one case.

- `base_points`: DRG RW × points per weight (4 dp half-up); DIP the grouped, adjusted score.
- `case_institution`: the hospital's coefficient; DIP basic groups (基层病种) get the one basic
  coefficient, TCM-advantage groups the hospital's × the TCM tilt.
- `deviation`: the coefficient of the deviation parts (inst, or 1 when the policy says so).
- `standard_coefficient`: inst × c_{h,g} (×10⁸) with the DRG hospital cost coefficient on,
  else inst (×10⁴) — `STD_SCALE` names the scale.
- `cost_coefficient`: c_{h,g} = 1 + blend × (hospital mean / city mean − 1), bounded, 4 dp; 1
  when the hospital's mean in g is missing or rests on too few cases; null without a weight.
- `same_level_avg`: the group's same-level mean cost where the policy asks for it and the level
  has enough cases, else the regional mean.

Operands come from `x(name)`: `pl.col` in the batch, the case's values for one case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.policy import Policy
from engine.settlement.backend import Backend
from engine.settlement.money import SCALE4, scaled

X = Any
Col = Callable[[str], X]
STD_SCALE = {"none": SCALE4, "hospital_group": SCALE4 * SCALE4}


def base_points(b: Backend, policy: Policy, x: Col, ppw4: int) -> X:
    if policy.method == "drg":
        return b.narrow(b.div(b.wide(x("weight4")) * ppw4, SCALE4))
    return x("case_weight4")


def case_institution(b: Backend, policy: Policy, x: Col) -> X:
    if policy.method != "dip":
        return x("inst4")
    coef = policy.institution_coef
    kind = x("group_type")
    return b.first(((kind == "basic", b.lit(scaled(coef.basic_group_coef))),
                    (kind == "tcm", b.narrow(b.div(
                        b.wide(x("inst4")) * scaled(coef.tcm_group_coef), SCALE4)))),
                   x("inst4"))


def deviation(b: Backend, policy: Policy, x: Col) -> X:
    return x("case_inst4") if policy.outliers.apply_inst_to_deviation else b.lit(SCALE4)


def standard_coefficient(b: Backend, policy: Policy, x: Col) -> X:
    if policy.drg.cost_coefficient == "none":
        return x("case_inst4")
    return x("case_inst4") * b.fill(x("cost_coef4"), SCALE4)


def cost_coefficient(b: Backend, policy: Policy, x: Col) -> X:
    """Needs weight4, the regional avg_fen, hospital_avg_fen and hospital_n."""
    opts = policy.drg
    if opts.cost_coefficient == "none":
        return b.lit(None)
    blend = scaled(opts.cost_coefficient_blend)
    city, own = b.wide(x("avg_fen")), b.wide(x("hospital_avg_fen"))
    # 1 + blend × (own / city − 1) = (city × (1 − blend) + blend × own) / city, ×10⁴, one rounding
    coef = b.narrow(b.div(city * (SCALE4 - blend) + own * blend, city))
    if opts.cost_coefficient_floor is not None:
        coef = b.max(coef, b.lit(scaled(opts.cost_coefficient_floor)))
    if opts.cost_coefficient_cap is not None:
        coef = b.min(coef, b.lit(scaled(opts.cost_coefficient_cap)))
    usable = b.fill((x("hospital_n") >= opts.cost_coefficient_min_cases)
                    & (x("hospital_avg_fen") > 0) & (x("avg_fen") > 0), False)
    return b.first(((b.is_null(x("weight4")), b.lit(None)), (usable, coef)), b.lit(SCALE4))


def same_level_avg(b: Backend, policy: Policy, x: Col) -> X:
    """Needs avg_fen, level_avg_fen and level_n (the case's group and hospital level)."""
    o = policy.outliers
    use = (x("level_n") >= o.level_cost_min_cases) & (x("level_avg_fen") > 0)
    return b.when(b.fill(use, False), x("level_avg_fen"), x("avg_fen"))
