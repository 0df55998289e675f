"""Budget-neutral solving: the base rate (DRG rate method) or point value (point methods) at
which a fund pool's payable on the simulated cases meets its budget.

The unit value is quoted to 4 decimal places (payment-rules: point values 4 dp), so the payable
moves in steps of about Σ points × 0.0001 yuan and can rarely equal the budget to the fen. The
answer is therefore the bracket: the largest 4-dp value whose fund payable does not exceed the
budget, with the payable at it, the gap to the budget (≥ 0) and the payable one step above. Each
evaluation is a full settlement of the cases (`evaluate`), so the rules are the settlement's own;
the search is a secant on the bracket, falling back to bisection, per pool at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from engine.policy import Policy
from grouper.errors import DrgDipError

STEP = Decimal("0.0001")
MAX_EVALUATIONS = 60


class SolveError(DrgDipError):
    """No unit value meets the budget (the payable does not depend on it, or never reaches)."""


@dataclass(frozen=True)
class Solution:
    fund_pool: str
    variable: str  # base_rate | pv_budget
    budget: Decimal
    value: Decimal
    fund_payable: Decimal
    gap: Decimal  # budget − fund payable at value (≥ 0)
    step_payable: Decimal  # fund payable at value + 0.0001 − at value (> gap)
    evaluations: int


def unit_variable(policy: Policy) -> str:
    return "base_rate" if policy.fixed_point_value else "pv_budget"


def _q(value: Decimal) -> Decimal:
    return max(STEP, value.quantize(STEP, ROUND_HALF_UP))


@dataclass
class _Bracket:
    budget: Decimal
    lo: tuple[Decimal, Decimal] | None = None  # (value, payable ≤ budget)
    hi: tuple[Decimal, Decimal] | None = None  # (value, payable > budget)
    last: list[tuple[Decimal, Decimal]] | None = None

    def add(self, value: Decimal, payable: Decimal) -> None:
        self.last = ((self.last or []) + [(value, payable)])[-2:]
        if payable <= self.budget:
            if self.lo is None or value > self.lo[0]:
                self.lo = (value, payable)
        elif self.hi is None or value < self.hi[0]:
            self.hi = (value, payable)

    def done(self) -> bool:
        return (self.lo is not None and self.hi is not None
                and self.hi[0] - self.lo[0] <= STEP)

    def next_value(self) -> Decimal:
        assert self.last
        (v0, f0), (v1, f1) = (self.last * 2)[-2:]
        if f1 != f0 and v1 != v0:
            guess = _q(v1 + (self.budget - f1) * (v1 - v0) / (f1 - f0))
        elif f1:
            guess = _q(v1 * self.budget / f1)
        else:
            guess = _q(v1 * 2)
        lo = self.lo[0] if self.lo else None
        hi = self.hi[0] if self.hi else None
        if lo is not None and hi is not None and not (lo < guess < hi):
            guess = _q((lo + hi) / 2)
            if not (lo < guess < hi):
                guess = lo + STEP
        elif lo is not None and guess <= lo:
            guess = lo + max(STEP, lo.quantize(STEP) / 10)
        elif hi is not None and guess >= hi:
            guess = _q(hi - max(STEP, hi / 10))
        return guess


def solve_budget(policy: Policy, evaluate: Callable[[dict[str, Decimal]], dict[str, Decimal]],
                 pools: list[str]) -> list[Solution]:
    """`evaluate(values)` settles the cases with each pool's unit value set to `values[pool]`
    and returns each pool's fund payable. Pools with no cases are left out."""
    variable = unit_variable(policy)
    start = {p: _q(getattr(policy.pool_params(p), variable)) for p in pools}
    brackets = {p: _Bracket(policy.pool_params(p).budget) for p in pools}
    values, evaluations = dict(start), 0
    while evaluations < MAX_EVALUATIONS:
        payable = evaluate(values)
        evaluations += 1
        for pool, bracket in brackets.items():
            bracket.add(values[pool], payable.get(pool, Decimal(0)))
        open_pools = [p for p, b in brackets.items() if not b.done()]
        if not open_pools:
            break
        for pool in open_pools:
            b = brackets[pool]
            if b.last and len(b.last) == 2 and b.last[0][1] == b.last[1][1] == Decimal(0):
                raise SolveError(f"fund pool {pool}: no case is paid by {variable}; "
                                 f"nothing to solve / 该基金池没有按{variable}支付的病例")
            values[pool] = b.next_value()
    out = []
    for pool, b in brackets.items():
        if not b.done() or b.lo is None or b.hi is None:
            raise SolveError(f"fund pool {pool}: no {variable} within {evaluations} settlements "
                             f"meets budget {b.budget} / 未能求得预算平衡的{variable}")
        out.append(Solution(pool, variable, b.budget, b.lo[0], b.lo[1], b.budget - b.lo[1],
                            b.hi[1] - b.lo[1], evaluations))
    return out
