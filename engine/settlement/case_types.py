"""Which rule pays a case: the settlement checks (S1xx) and the case-type ladder
(payment-rules §2.4–2.7, §3.3–3.6), each one table, compiled by the backend to a `pl.when`
chain for the batch and to a first-true loop for one case.

The ladder's `needs` column says what a single case cannot know on its own: `review` (the
bureau's special-review decision and its quota, known only with a review file) and `history`
(a readmission partner among the run's or the year's earlier episodes). The per-case path
(`engine.settlement.one_case`) settles with a given review outcome or none, and with no partner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.policy import Policy
from engine.settlement import outliers as o
from engine.settlement.backend import Backend
from engine.settlement.codes import SettleCode

X = Any
Col = Callable[[str], X]
Condition = Callable[[Backend, Policy, Col], X]


def _missing_hospital(b: Backend, p: Policy, x: Col) -> X:
    return b.is_null(x("hospital_id")) | (x("hospital_id") == "")


def _parts_missing(b: Backend, p: Policy, x: Col) -> X:
    parts = [x(c) for c in ("fund_paid", "other_fund_paid", "patient_paid")]
    missing = b.is_null(parts[0]) | b.is_null(parts[1]) | b.is_null(parts[2])
    return missing | (parts[0] < 0) | (parts[1] < 0) | (parts[2] < 0)


# (code, condition): the first that holds holds the case (an input problem of settlement)
CHECKS: tuple[tuple[SettleCode, Condition], ...] = (
    (SettleCode.HOSPITAL_MISSING, _missing_hospital),
    (SettleCode.HOSPITAL_UNKNOWN, lambda b, p, x: b.is_null(x("inst4"))),
    (SettleCode.FUND_POOL_UNKNOWN, lambda b, p, x: b.is_null(x("fund_pool"))),
    (SettleCode.FUND_POOL_NOT_IN_POLICY, lambda b, p, x: b.is_null(x("pv4"))),
    (SettleCode.COST_MISSING,
     lambda b, p, x: b.is_null(x("total_cost")) | (x("total_cost") < 0)),
    (SettleCode.PAYMENT_PARTS_MISSING, _parts_missing),
)


_CHECK_BRANCHES = tuple((cond, code.value) for code, cond in CHECKS)


def error_code(b: Backend, policy: Policy, x: Col) -> X:
    """The case's error code: ingestion's, else grouping's when it is invalid, else the first
    settlement check that holds, else null."""
    checks = b.first_true(_CHECK_BRANCHES, b.lit(None),
                          b, policy, x)
    return b.first(((~b.is_null(x("ingest_error_code")), x("ingest_error_code")),
                    (x("group_status") == "invalid", x("group_error_code"))), checks)


def _short(b: Backend, p: Policy, x: Col) -> X:
    if p.scope.min_los is None:
        return b.lit(False)
    return b.fill(x("los") <= p.scope.min_los, False)


def _unmatched(b: Backend, p: Policy, x: Col) -> X:
    ok = (x("group_status") == "ok") & ~b.is_null(x("weight4")) & (x("avg_fen") > 0)
    return ~b.fill(ok, False)


def _incomplete(b: Backend, p: Policy, x: Col) -> X:
    stay = p.incomplete_stay
    return b.fill(b.is_in(x("discharge_way"), stay.discharge_ways) & (x("los") < stay.short_los),
                  False)


def _high(b: Backend, p: Policy, x: Col) -> X:
    return o.is_high(b, p, x("total_cost"), x("avg_fen"), x("k_high4"))


def _low(b: Backend, p: Policy, x: Col) -> X:
    exempt = b.fill(b.is_in(x("group_type"), p.outliers.low_exempt_types), False)
    return o.is_low(b, p, x("total_cost"), x("avg_fen")) & ~exempt


@dataclass(frozen=True)
class CaseType:
    name: str
    condition: Condition
    needs: str | None = None  # "review" | "history": what one case cannot know alone


LADDER: tuple[CaseType, ...] = (
    CaseType("invalid", lambda b, p, x: ~b.is_null(x("error_code"))),
    CaseType("violation", lambda b, p, x: x("review_outcome") == "violation", "review"),
    CaseType("review_ffs", lambda b, p, x: x("review_outcome") == "approved_ffs", "review"),
    CaseType("readmission_merged", lambda b, p, x: x("readmission_merged"), "history"),
    CaseType("per_diem", lambda b, p, x: ~b.is_null(x("per_diem_rate"))),
    CaseType("ffs_short_stay", _short),
    CaseType("unmatched", _unmatched),
    CaseType("review_uplift", lambda b, p, x: x("review_outcome") == "approved_uplift",
             "review"),
    CaseType("incomplete", _incomplete),
    CaseType("high_outlier", _high),
    CaseType("low_outlier", _low),
)
OTHERWISE = "normal"
CASE_TYPES = (*(t.name for t in LADDER), OTHERWISE)
HELD = ("invalid", "violation")  # nothing payable
_LADDER_BRANCHES = tuple((t.condition, t.name) for t in LADDER)


def case_type(b: Backend, policy: Policy, x: Col) -> X:
    """The first case type of the ladder whose condition holds, else `normal`."""
    return b.first_true(_LADDER_BRANCHES, OTHERWISE, b, policy, x)
