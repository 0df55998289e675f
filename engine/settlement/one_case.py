"""One case settled in plain Python, equal to `engine.settlement.batch.settle_cases` on the
case's row (tests/engine/test_settle_one.py on the fixture region under every shipped policy,
tests/engine/test_settle_properties.py on generated cases), for the estimate endpoint.

The rules are the batch's own: `engine.settlement.steps`, compiled once per (policy, weight
table) by `engine.settlement.compiled` into one plain Python function with polars' null
semantics (those of `engine.settlement.backend.Val`) instead of polars expressions. This
module only turns one case into that function's inputs — the typed case row (the batch's
input column types: Decimal money, dates, list of codes), its grouping dict (`group_one` /
`group_dip_one`), the hospital's entry and the weight table's lookups — and the result back.

`prepare_tables(weights, policy)` turns the weight table (prepared by the batch's own
`prepare_weights`, `prepare_level_costs` and `prepare_hospital_costs`) into dicts once per
(policy, weight table); `hospital_entries(hospitals, policy)` does the same for the institution
coefficients.

What a single case cannot know (`engine.settlement.case_types.LADDER`'s `needs`): the review
decision is given or absent (`review=(outcome, deduction_fen)`, the outcome as the batch row
shows it after the quota), and a readmission partner is never there (`readmission_merged`
false): the case settles as its own episode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from engine.policy import Policy
from engine.settlement import coefficients as k
from engine.settlement.batch import unmatched_ratio
from engine.settlement.compiled import compile_stages
from engine.settlement.cost_coef import prepare_hospital_costs
from engine.settlement.inputs import (
    POOL_ALIASES,
    institution_coefficients,
    prepare_level_costs,
    prepare_weights,
)
from engine.settlement.money import SCALE4, scaled
from engine.settlement.payable import Context
from engine.settlement.steps import BEFORE_HISTORY, Stage, after_history

S = SCALE4
MONEY_COLUMNS = ("total_cost", "fund_paid", "other_fund_paid", "patient_paid")
NO_GROUP: tuple[int | None, int | None, str | None] = (None, None, None)
NO_COST: tuple[int | None, int | None] = (None, None)


# One case as `settle_one` reads it: the contract columns (§1) with the batch's types; the HTTP
# estimate builds it with `pl.DataFrame([row], schema=CASE_SCHEMA)`.
CASE_SCHEMA: dict[str, Any] = {
    "case_id": pl.String, "hospital_id": pl.String, "insurance_type": pl.String,
    "sex": pl.Int64, "age": pl.Int64, "age_days": pl.Int64, "birth_weight": pl.Int64,
    "dept": pl.String, "admit_date": pl.Date, "discharge_date": pl.Date, "los": pl.Int64,
    "discharge_way": pl.Int64, "diagnoses": pl.List(pl.String), "procedures": pl.List(pl.String),
    "icu_hours": pl.Float64, "patient_id": pl.String, "total_cost": pl.Decimal(18, 2),
    "fund_paid": pl.Decimal(18, 2), "other_fund_paid": pl.Decimal(18, 2),
    "patient_paid": pl.Decimal(18, 2), "tcm_treatment": pl.Boolean, "day_surgery": pl.Boolean,
}

@dataclass(frozen=True)
class HospitalEntry:
    """A hospital as the batch joins it: its level (policy key) and coefficient ×10⁴."""

    hospital_id: str
    level: str
    inst4: int


@dataclass(frozen=True)
class SettleTables:
    """What `settle_one` looks up, prepared once per (policy, weight table)."""

    policy: Policy
    groups: dict[str, tuple[int | None, int | None, str | None]]  # weight4, avg_fen, cost_code
    levels: dict[tuple[str, str], tuple[int | None, int | None]]  # level_avg_fen, level_n
    hospital_costs: dict[tuple[str, str], tuple[int | None, int | None]]  # avg_fen, n
    context: Context
    run: Callable[[dict[str, Any]], dict[str, Any]]  # the steps compiled (compile_program)


def prepare_tables(weights: pl.DataFrame, policy: Policy) -> SettleTables:
    method = policy.method
    ppw4 = scaled(policy.policy.points_per_weight)
    w = prepare_weights(weights, method)
    groups: dict[str, tuple[int | None, int | None, str | None]] = {}
    for code, weight4, avg, cost_code in w.select("group_code", "weight4", "avg_fen",
                                                  "cost_code").iter_rows():
        if code is not None:
            groups.setdefault(code, (weight4, avg, cost_code))
    levels = {(code, level): (avg, n) for code, level, avg, n in
              prepare_level_costs(weights, method).iter_rows()
              if code is not None and level is not None}
    costs = {(code, hid): (avg, n) for code, hid, avg, n in
             prepare_hospital_costs(weights, method).iter_rows()
             if code is not None and hid is not None}
    ctx = Context.of(policy, unmatched_ratio(w, ppw4 if method == "drg" else S))
    run, _ = compile_program(policy, ctx, bool(levels))
    return SettleTables(policy, groups, levels, costs, ctx, run)


def hospital_entries(hospitals: pl.DataFrame, policy: Policy) -> dict[str, HospitalEntry]:
    """The institution coefficients of `hospitals` as the batch computes them (raises
    PolicyError for a level the policy does not know, as the batch does)."""
    return {hid: HospitalEntry(hid, level, inst4) for hid, level, _, inst4 in
            institution_coefficients(hospitals, policy).iter_rows()}


# --- the case as the batch's prepared columns ----------------------------------------------

def _scaled_value(value: Any, dp: int) -> int | None:
    """to_scaled of one value: Decimal exact (truncated to dp), number rounded, text parsed."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return int(value.scaleb(dp))
    if isinstance(value, int | float):
        x = float(value) * 10**dp
        if math.isnan(x) or math.isinf(x):
            return None
        return int(math.copysign(math.floor(abs(x) + 0.5), x))
    if isinstance(value, str):
        try:
            return int(Decimal(value.strip()).scaleb(dp))
        except ArithmeticError:
            return None
    return None


def _fen(value: Any) -> int | None:
    """_scaled_value(value, 2), the Decimal of a typed row first."""
    return int(value.scaleb(2)) if value.__class__ is Decimal else _scaled_value(value, 2)


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip()


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date) or value is None:
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _dx0(diagnoses: Any) -> str:
    if isinstance(diagnoses, str):
        diagnoses = diagnoses.split("|")
    first = diagnoses[0] if diagnoses else None
    return "" if first is None else str(first).strip().upper()


def _points4(v: int | None) -> Decimal | None:
    return None if v is None else Decimal(v).scaleb(-4)


def _money(v: int | None) -> Decimal | None:
    return None if v is None else Decimal(v).scaleb(-2)


def _grouping(grouped: dict[str, Any], method: str) -> dict[str, Any]:
    """prepare_grouped of one result dict."""
    out = {"group_status": _opt_str(grouped.get("status")),
           "group_error_code": _opt_str(grouped.get("error_code")),
           "group_error_message": _opt_str(grouped.get("error_message"))}
    if method == "drg":
        out.update(group_code=_opt_str(grouped.get("drg")),
                   group_name=_opt_str(grouped.get("drg_name")), group_type="drg",
                   adrg=_opt_str(grouped.get("adrg")), case_weight4=None)
    else:
        score = "adjusted_score" if "adjusted_score" in grouped else "dip_score"
        out.update(group_code=_opt_str(grouped.get("dip_code")),
                   group_name=_opt_str(grouped.get("dip_name")),
                   group_type=_opt_str(grouped.get("dip_type")), adrg=None,
                   case_weight4=_scaled_value(grouped.get(score), 4))
    return out


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


# --- the case -----------------------------------------------------------------------------

def case_operands(case: dict[str, Any], grouped: dict[str, Any], hospital: HospitalEntry | None,
                  tables: SettleTables, *, review: tuple[str, int] | None = None
                  ) -> dict[str, Any]:
    """The batch's columns before its first step, for one case (prepare_cases, the grouping,
    the weight, hospital and cost joins); the cost coefficient and the same-level mean are
    the compiled program's first stages (`_PRELUDE`)."""
    policy = tables.policy
    hid = _text(case.get("hospital_id"))
    pool_raw = _text(case.get("insurance_type"))
    admit, discharge = _day(case.get("admit_date")), _day(case.get("discharge_date"))
    los_raw = case.get("los")
    los = int(los_raw) if los_raw is not None else (
        max((discharge - admit).days, 1) if admit is not None and discharge is not None else 1)
    way_raw = case.get("discharge_way")
    ingest_error = case.get("ingest_status") == "error"
    g = _grouping(grouped, policy.method)
    code = g["group_code"]
    weight4, avg, cost_code = tables.groups.get(code, NO_GROUP) if code is not None else NO_GROUP
    row: dict[str, Any] = {
        "case_id": _text(case.get("case_id")), "hospital_id": hid,
        "patient_id": _text(case.get("patient_id")),
        "fund_pool": POOL_ALIASES.get(pool_raw.lower()) if pool_raw is not None else None,
        "los": los, "discharge_way": int(way_raw) if way_raw is not None else None,
        "dx0": _dx0(case.get("diagnoses")), "admit_date": admit, "discharge_date": discharge,
        "ingest_error_code": case.get("ingest_error_code") if ingest_error else None,
        "ingest_error_message": case.get("ingest_error_message") if ingest_error else None,
        **{c: _fen(case.get(c)) for c in MONEY_COLUMNS},
        **g, "weight4": weight4, "avg_fen": avg, "cost_code": cost_code,
        "inst4": hospital.inst4 if hospital is not None else None,
        "hospital_level": hospital.level if hospital is not None else None,
        # what one case cannot know: a review decision unless given, a readmission partner
        "review_outcome": review[0] if review is not None else None,
        "deduction_fen": review[1] if review is not None else None,
        **ONE_CASE_CONSTANTS,
    }
    if policy.drg.cost_coefficient == "none":
        row["cost_coef4"] = None
    else:
        row["hospital_avg_fen"], row["hospital_n"] = (
            tables.hospital_costs.get((code, hid), NO_COST)
            if code is not None and hid is not None else NO_COST)
    level = row["hospital_level"]
    if policy.outliers.avg_cost_basis == "same_level" and tables.levels:
        row["level_avg_fen"], row["level_n"] = (
            tables.levels.get((cost_code, level), NO_COST)
            if cost_code is not None and level is not None else NO_COST)
    return row


# Known for every single case (folded when compiling): no review quota, no readmission partner.
ONE_CASE_CONSTANTS = {"review_over_quota": False, "readmission_merged": False}


def _prelude(policy: Policy, with_levels: bool) -> tuple[Stage, ...]:
    """The joins' rules the batch applies while preparing (before `BEFORE_HISTORY`)."""
    stages: list[Stage] = []
    if policy.drg.cost_coefficient != "none":
        stages.append((("cost_coef4", lambda b, c, x: k.cost_coefficient(b, c.policy, x)),))
    if policy.outliers.avg_cost_basis == "same_level" and with_levels:
        stages.append((("avg_fen", lambda b, c, x: k.same_level_avg(b, c.policy, x)),))
    return tuple(stages)


def compile_program(policy: Policy, ctx: Context, with_levels: bool
                    ) -> tuple[Callable[[dict[str, Any]], dict[str, Any]], str]:
    """The steps for one (policy, weight table) as one Python function (`engine.settlement.
    compiled`): the prelude, `BEFORE_HISTORY`, then `after_history(ctx)`."""
    constants = dict(ONE_CASE_CONSTANTS)
    if policy.drg.cost_coefficient == "none":
        constants["cost_coef4"] = None
    return compile_stages((*_prelude(policy, with_levels), *BEFORE_HISTORY,
                           *after_history(ctx)), ctx, constants=constants)


def settle_one(case: dict[str, Any], grouped: dict[str, Any], hospital: HospitalEntry | None,
               tables: SettleTables, *, review: tuple[str, int] | None = None
               ) -> dict[str, Any]:
    """RESULT_COLUMNS of one case, as `settle_cases` gives them for the case's row."""
    v = case_operands(case, grouped, hospital, tables, review=review)
    v.update(tables.run(v))
    out = {
        "case_id": v["case_id"], "hospital_id": v["hospital_id"],
        "patient_id": v["patient_id"], "fund_pool": v["fund_pool"],
        "method": tables.policy.method, "status": v["status"], "group_code": v["group_code"],
        "group_name": v["group_name"], "group_type": v["group_type"],
        "weight": _points4(v["weight4"]), "institution_coef": _points4(v["case_inst4"]),
        "cost_coef": _points4(v["cost_coef4"]), "avg_cost": _money(v["avg_fen"]),
        "cost_ratio": _points4(v["cost_ratio4"]), "case_type": v["case_type"],
        "review_outcome": v["review_outcome"], "review_over_quota": v["review_over_quota"],
        "review_recommended": v["review_recommended"],
        "patient_over_standard": v["patient_over_standard"], "points": _points4(v["points4"]),
        "point_value": _points4(v["pv4"]), "fixed_amount": _money(v["fixed_fen"]),
        "payment_standard": _money(v["std_fen"]),
        **{c: _money(v[c]) for c in MONEY_COLUMNS},
        "fund_payable": _money(v["payable_fen"]), "deduction": _money(v["deducted_fen"]),
        "los": v["los"], "admit_date": v["admit_date"], "discharge_date": v["discharge_date"],
        "error_code": v["error_code"], "error_message": v["error_message"],
    }  # in RESULT_COLUMNS order (tests/engine/test_settle_one.py checks it)
    return out
