"""One case settled in plain Python, equal to `engine.settlement.batch.settle_cases` on a one-row
frame (tests/engine/test_settle_one.py proves it on the fixture region under every shipped
policy), for the estimate endpoint.

`prepare_tables(weights, policy)` turns the weight table (prepared by the batch's own
`prepare_weights`, `prepare_level_costs` and `prepare_hospital_costs`) into dicts once per
(policy, weight table); `hospital_entries(hospitals, policy)` does the same for the institution
coefficients. `settle_one(case, grouped, hospital, tables)` then takes the typed case row (the
batch's input column types: Decimal money, dates, list of codes), its grouping dict
(`group_one` / `group_dip_one`) and the case's hospital entry (None when unknown) and returns
the RESULT_COLUMNS of the case.

A single case has no special-review decision, no quota history and no readmission partner: it
settles as the batch settles a case without a review row (`review_outcome` null, not over
quota) that merges into no episode. Arithmetic is the batch's: integers (fen, ×10⁴), one
half-up rounding per amount; a null the batch would carry stays None here, with the batch's
three-valued logic where conditions meet a null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from engine.policy import Policy
from engine.settlement.batch import RESULT_COLUMNS, STD_SCALE, _unmatched_ratio
from engine.settlement.codes import MESSAGES, SettleCode
from engine.settlement.cost_coef import prepare_hospital_costs
from engine.settlement.inputs import (
    POOL_ALIASES,
    institution_coefficients,
    prepare_level_costs,
    prepare_weights,
)
from engine.settlement.money import SCALE4, scaled

S = SCALE4
MONEY_COLUMNS = ("total_cost", "fund_paid", "other_fund_paid", "patient_paid")


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
    ratio: tuple[int, int]
    pv4: dict[str, int]
    ppw4: int


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
    pv = {pool: scaled(policy.provisional_point_value(pool)) for pool in policy.pool}
    return SettleTables(policy, groups, levels, costs,
                        _unmatched_ratio(w, ppw4 if method == "drg" else S), pv, ppw4)


def hospital_entries(hospitals: pl.DataFrame, policy: Policy) -> dict[str, HospitalEntry]:
    """The institution coefficients of `hospitals` as the batch computes them (raises
    PolicyError for a level the policy does not know, as the batch does)."""
    return {hid: HospitalEntry(hid, level, inst4) for hid, level, _, inst4 in
            institution_coefficients(hospitals, policy).iter_rows()}


# --- the batch's integer helpers, None for null -------------------------------------------

def _div(num: int | None, den: int | None) -> int | None:
    """div_half_up: num / den rounded half away from zero; a zero divisor is null (polars)."""
    if num is None or den is None or den == 0:
        return None
    q = (abs(num) * 2 + den) // (den * 2)
    return -q if num < 0 else q


def _mul(*values: int | None) -> int | None:
    out = 1
    for v in values:
        if v is None:
            return None
        out *= v
    return out


def _add(*values: int | None) -> int | None:
    return None if any(v is None for v in values) else sum(values)  # type: ignore[arg-type]


def _hmax(*values: int | None) -> int | None:
    """pl.max_horizontal: nulls ignored."""
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _hmin(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def _cmp(left: int | None, op: str, right: int | None) -> bool | None:
    if left is None or right is None:
        return None
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right,
            "==": left == right}[op]


def _and(*values: bool | None) -> bool | None:
    """Kleene AND."""
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


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


# --- policy pieces ------------------------------------------------------------------------

def _k_high4(policy: Policy, weight4: int | None) -> int:
    tiers = policy.outliers.k_high_tiers
    if not tiers:
        return scaled(policy.outliers.k_high)
    for tier in tiers[:-1]:
        if weight4 is not None and tier.weight_max is not None \
                and weight4 <= scaled(tier.weight_max):
            return scaled(tier.k)
    return scaled(tiers[-1].k)


def _per_diem_rate(policy: Policy, dx0: str, adrg: str | None, los: int | None) -> int | None:
    for cat in policy.per_diem.categories:
        if any(dx0.startswith(p.upper()) for p in cat.dx_prefixes) or (
                cat.adrgs and adrg is not None and adrg in cat.adrgs):
            return scaled(cat.daily_rate, 2)
    fallback = policy.per_diem.long_stay_daily_rate
    if fallback is not None and policy.scope.max_los is not None and los is not None \
            and los >= policy.scope.max_los:
        return scaled(fallback, 2)
    return None


def _per_diem_amount(policy: Policy, los: int | None, rate: int) -> int | None:
    total = 0
    for band in policy.per_diem.bands:
        start = band.from_day - 1
        upper = los if band.to_day is None else _hmin(los, band.to_day)
        days = _hmax(None if upper is None else upper - start, 0)
        total += days * rate * scaled(band.factor)  # type: ignore[operator]
    amount = _div(total, 10_000)
    if policy.per_diem.episode_cap is not None:
        amount = _hmin(amount, scaled(policy.per_diem.episode_cap, 2))
    return amount


def _above(cost: int | None, avg: int | None, k4: int, inclusive: bool) -> bool | None:
    if cost is None or avg is None:
        return None
    return cost * S >= k4 * avg if inclusive else cost * S > k4 * avg


def _settle_error(hid: str | None, inst4: int | None, pool: str | None, pv4: int | None,
                  fen: dict[str, int | None]) -> str | None:
    if hid is None or hid == "":
        return SettleCode.HOSPITAL_MISSING.value
    if inst4 is None:
        return SettleCode.HOSPITAL_UNKNOWN.value
    if pool is None:
        return SettleCode.FUND_POOL_UNKNOWN.value
    if pv4 is None:
        return SettleCode.FUND_POOL_NOT_IN_POLICY.value
    if fen["total_cost"] is None or fen["total_cost"] < 0:
        return SettleCode.COST_MISSING.value
    parts = [fen[c] for c in MONEY_COLUMNS[1:]]
    if any(p is None or p < 0 for p in parts):
        return SettleCode.PAYMENT_PARTS_MISSING.value
    return None


def _cost_coef4(policy: Policy, tables: SettleTables, code: str | None, hid: str | None,
                weight4: int | None, city: int | None) -> int | None:
    opts = policy.drg
    if opts.cost_coefficient == "none" or weight4 is None:
        return None
    own, n = (tables.hospital_costs.get((code, hid), (None, None))
              if code is not None and hid is not None else (None, None))
    usable = _and(_cmp(n, ">=", opts.cost_coefficient_min_cases), _cmp(own, ">", 0),
                  _cmp(city, ">", 0))
    if usable is not True:
        return S
    blend = scaled(opts.cost_coefficient_blend)
    coef = _div(city * (S - blend) + own * blend, city)  # type: ignore[operator]
    if opts.cost_coefficient_floor is not None:
        coef = _hmax(coef, scaled(opts.cost_coefficient_floor))
    if opts.cost_coefficient_cap is not None:
        coef = _hmin(coef, scaled(opts.cost_coefficient_cap))
    return coef


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

def settle_one(case: dict[str, Any], grouped: dict[str, Any], hospital: HospitalEntry | None,
               tables: SettleTables) -> dict[str, Any]:
    """RESULT_COLUMNS of one case, as `settle_cases` gives them for a one-row frame."""
    policy = tables.policy
    method = policy.method
    hid = _text(case.get("hospital_id"))
    pool_raw = _text(case.get("insurance_type"))
    pool = POOL_ALIASES.get(pool_raw.lower()) if pool_raw is not None else None
    admit, discharge = _day(case.get("admit_date")), _day(case.get("discharge_date"))
    los_raw = case.get("los")
    los = int(los_raw) if los_raw is not None else (
        max((discharge - admit).days, 1) if admit is not None and discharge is not None else 1)
    way_raw = case.get("discharge_way")
    way = int(way_raw) if way_raw is not None else None
    dx0 = _dx0(case.get("diagnoses"))
    fen = {c: _scaled_value(case.get(c), 2) for c in MONEY_COLUMNS}
    ingest_error = case.get("ingest_status") == "error"
    ingest_code = case.get("ingest_error_code") if ingest_error else None
    ingest_message = case.get("ingest_error_message") if ingest_error else None
    g = _grouping(grouped, method)
    code, status = g["group_code"], g["group_status"]

    weight4, avg, cost_code = tables.groups.get(code, (None, None, None)) if code is not None \
        else (None, None, None)
    inst4 = hospital.inst4 if hospital is not None else None
    level = hospital.level if hospital is not None else None
    cost_coef4 = _cost_coef4(policy, tables, code, hid, weight4, avg)
    o = policy.outliers
    if o.avg_cost_basis == "same_level" and tables.levels and cost_code is not None \
            and level is not None:
        level_avg, level_n = tables.levels.get((cost_code, level), (None, None))
        if _and(_cmp(level_n, ">=", o.level_cost_min_cases), _cmp(level_avg, ">", 0)) is True:
            avg = level_avg

    if method == "drg":
        base4 = _div(_mul(weight4, tables.ppw4), S)
    else:
        base4 = g["case_weight4"]
        weight4 = g["case_weight4"]
    case_inst4 = inst4
    if method == "dip":
        coef = policy.institution_coef
        if g["group_type"] == "basic":
            case_inst4 = scaled(coef.basic_group_coef)
        elif g["group_type"] == "tcm":
            case_inst4 = _div(_mul(inst4, scaled(coef.tcm_group_coef)), S)
    pv4 = tables.pv4.get(pool) if pool is not None else None
    rate = _per_diem_rate(policy, dx0, g["adrg"], los)
    dev4 = case_inst4 if o.apply_inst_to_deviation else S
    std_coef = (case_inst4 if policy.drg.cost_coefficient == "none"
                else _mul(case_inst4, cost_coef4 if cost_coef4 is not None else S))
    k4 = _k_high4(policy, weight4)
    if ingest_code is not None:
        error_code = ingest_code
    elif status == "invalid":
        error_code = g["group_error_code"]
    else:
        error_code = _settle_error(hid, inst4, pool, pv4, fen)

    cost = fen["total_cost"]
    case_type = _case_type(policy, error_code, rate, los, status, weight4, avg, way, cost, k4,
                           g["group_type"])
    scale = STD_SCALE[policy.drg.cost_coefficient]
    points4 = _points(policy, case_type, base4, std_coef, dev4, cost, avg, k4, pv4, scale,
                      tables.ratio)
    fixed = _fixed(policy, case_type, cost, los, rate)
    if policy.fixed_point_value:  # rate method: RW × rate_L rounded once
        std = _add(_rate_std(policy, case_type, pool, weight4, std_coef, dev4, cost, avg, k4,
                             pv4, scale, tables.ratio), fixed)
    else:
        std = _add(_div(_mul(points4, pv4 if pv4 is not None else 0), 10**6), fixed)
    if case_type == "invalid":
        std = 0
    held = case_type in ("invalid", "violation")
    patient, other, fund = fen["patient_paid"], fen["other_fund_paid"], fen["fund_paid"]
    if held:
        payable: int | None = 0
    elif policy.policy.fund_share_method == "ratio":
        payable = _div(_mul(std, fund), cost) if cost is not None and cost > 0 else 0
    else:
        payable = _hmax(None if None in (std, patient, other) else std - patient - other,
                        0)  # type: ignore[operator]

    over = (std is not None and patient is not None and other is not None
            and std - patient - other < 0 and not held)
    has_avg = _cmp(avg, ">", 0)
    if ingest_code is not None:
        message = ingest_message
    elif status == "invalid":
        message = g["group_error_message"] if g["group_error_message"] is not None else error_code
    else:
        message = MESSAGES.get(error_code) if error_code is not None else None  # type: ignore
    out = {
        "case_id": _text(case.get("case_id")), "hospital_id": hid,
        "patient_id": _text(case.get("patient_id")), "fund_pool": pool, "method": method,
        "status": "invalid" if error_code is not None else status, "group_code": code,
        "group_name": g["group_name"], "group_type": g["group_type"],
        "weight": _points4(weight4), "institution_coef": _points4(case_inst4),
        "cost_coef": _points4(cost_coef4), "avg_cost": _money(avg),
        "cost_ratio": _points4(_div(_mul(cost, S), avg) if has_avg else None),
        "case_type": case_type, "review_outcome": None, "review_over_quota": False,
        "review_recommended": _and(has_avg, _above(cost, avg, scaled(o.review_ratio), True))
        is True,
        "patient_over_standard": over, "points": _points4(points4), "point_value": _points4(pv4),
        "fixed_amount": _money(fixed), "payment_standard": _money(std),
        **{c: _money(fen[c]) for c in MONEY_COLUMNS},
        "fund_payable": _money(payable), "deduction": _money(0),
        "los": los, "admit_date": admit, "discharge_date": discharge, "error_code": error_code,
        "error_message": message,
    }
    return {c: out[c] for c in RESULT_COLUMNS}


def _case_type(policy: Policy, error_code: str | None, rate: int | None, los: int | None,
               status: str | None, weight4: int | None, avg: int | None, way: int | None,
               cost: int | None, k4: int, group_type: str | None) -> str:
    o = policy.outliers
    if error_code is not None:
        return "invalid"
    if rate is not None:
        return "per_diem"
    if policy.scope.min_los is not None and los is not None and los <= policy.scope.min_los:
        return "ffs_short_stay"
    ok = _and(None if status is None else status == "ok", weight4 is not None,
              _cmp(avg, ">", 0))
    if ok is not True:  # ~ok.fill_null(False): a null `ok` is unmatched
        return "unmatched"
    stay = policy.incomplete_stay
    if way is not None and way in stay.discharge_ways and los is not None \
            and los < stay.short_los:
        return "incomplete"
    if _above(cost, avg, k4, o.high_inclusive) is True:
        return "high_outlier"
    exempt = group_type is not None and group_type in o.low_exempt_types
    low = None if cost is None or avg is None else (
        cost * S <= scaled(o.k_low) * avg if o.low_inclusive else cost * S < scaled(o.k_low) * avg)
    if _and(low, not exempt) is True:
        return "low_outlier"
    return "normal"


def _points_frac(policy: Policy, case_type: str, base: int | None, inst: int | None,
                 dev: int | None, cost: int | None, avg: int | None, k4: int, pv4: int | None,
                 scale: int, ratio: tuple[int, int]) -> tuple[int | None, int | None]:
    """The case type's points ×10⁴ as an exact fraction (engine.settlement.outliers' `*_frac`)."""
    o = policy.outliers
    if case_type == "normal":
        return _mul(base, inst), scale
    if case_type == "high_outlier":
        if o.high_outlier_method == "points_excess":
            if None in (base, inst, dev, cost, avg):
                return None, None
            num = (base * inst * avg * S  # type: ignore[operator]
                   + base * dev * (cost * S - k4 * avg) * (scale // S))  # type: ignore[operator]
            return num, avg * (S * scale)  # type: ignore[operator]
        if o.high_outlier_method == "cost_excess_share":
            if None in (base, inst, cost, avg, pv4):
                return None, None
            t1 = base * inst * pv4 * 100  # type: ignore[operator]
            t2 = (cost * S - k4 * avg) * scaled(o.excess_share) * scale  # type: ignore[operator]
            return t1 + t2, pv4 * (scale * 100)  # type: ignore[operator]
        return 0, 1
    if case_type == "low_outlier":
        return _mul(base, dev, cost), _mul(avg, S)
    if case_type == "incomplete":
        return _mul(base, inst, _hmin(cost, avg)), _mul(avg, scale)
    if case_type == "review_uplift":
        if None in (base, inst, cost, pv4):
            return None, None
        bi = base * inst  # type: ignore[operator]
        excess = max(cost * (10**6 * scale) - bi * pv4, 0)  # type: ignore[operator]
        share = scaled(policy.review.uplift_share)
        return bi * pv4 * S + excess * share, pv4 * (S * scale)  # type: ignore[operator]
    if case_type == "unmatched":
        if policy.policy.unmatched_payment == "cost_points":
            return _mul(cost, ratio[0]), ratio[1]
        return 0, 1
    return 0, 1


def _points(policy: Policy, case_type: str, base: int | None, inst: int | None,
            dev: int | None, cost: int | None, avg: int | None, k4: int, pv4: int | None,
            scale: int, ratio: tuple[int, int]) -> int | None:
    return _div(*_points_frac(policy, case_type, base, inst, dev, cost, avg, k4, pv4, scale,
                              ratio))


def _rate_std(policy: Policy, case_type: str, pool: str | None, weight4: int | None,
              std_coef: int | None, dev4: int | None, cost: int | None, avg: int | None,
              k4: int, pv4: int | None, scale: int, ratio: tuple[int, int]) -> int | None:
    """engine.settlement.batch._rate_std of one case: RW × rate_L … in fen, rounded once."""
    params = policy.pool.get(pool) if pool is not None else None
    base_rate = scaled(params.base_rate) if params is not None and params.base_rate else None
    rate = _div(_mul(base_rate, std_coef), scale)
    dev_rate = _div(_mul(base_rate, dev4), S)
    if case_type == "unmatched" and policy.policy.unmatched_payment == "cost_points":
        num, den = _mul(cost, ratio[0], pv4), ratio[1] * S
    else:
        num, den = _points_frac(policy, case_type, weight4, rate, dev_rate, cost, avg, k4, S,
                                S, ratio)
    return _div(num, _mul(den, 100))


def _fixed(policy: Policy, case_type: str, cost: int | None, los: int | None,
           rate: int | None) -> int | None:
    ffs = ["review_ffs", "ffs_short_stay"]
    if policy.policy.unmatched_payment == "ffs":
        ffs.append("unmatched")
    if policy.outliers.high_outlier_method == "ffs":
        ffs.append("high_outlier")
    if case_type in ffs:
        return cost
    if case_type == "per_diem":
        return _per_diem_amount(policy, los, rate)  # type: ignore[arg-type]
    return 0
