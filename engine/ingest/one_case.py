"""The ingestion row checks of `read_cases` for one typed case in plain Python (the estimate),
and the batch grouping's ingestion holds (`drgdip group`, batch jobs) — one validation for one
case (issue 14.3).

`case_problems(row)` gives the problems `engine.ingest.read_cases` finds on the same case read
as a one-row file, in the same order with the same messages: the row's first problem becomes
`ingest_status = error`, `ingest_error_code`, `ingest_error_message`, which settlement (batch
or `engine.settle_one`) holds the case with. A field is "in the file" when its value is not
None, as a one-row file has only the columns given. A case alone cannot repeat its case id
(I107 needs the file); type and spelling errors (I102/I103/I108/I111) are the request model's
422s. The equality is a property test over generated cases
(tests/engine/test_one_case_validation.py), so the two implementations cannot drift apart
unseen; a per-case read through polars would cost ~25 ms a request.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from engine.ingest.codes import MESSAGES, IngestCode
from engine.ingest.fields import COST_COLUMNS, REQUIRED
from engine.ingest.read import MONEY_PARTS, NON_NEGATIVE

CENT = Decimal("0.01")
EMPTY = "(空)"


def _text(value: Any) -> str:
    if value is None:
        return EMPTY
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def case_problems(row: dict[str, Any]) -> list[tuple[str, IngestCode, str]]:
    """(field, code, message) of every ingestion problem of a typed case row (dates as
    `date`, money as 2-place Decimal, codes as lists), in `read_cases`' order."""
    out: list[tuple[str, IngestCode, str]] = []

    def hit(name: str, code: IngestCode, value: str) -> None:
        out.append((name, code, f"{MESSAGES[code]}: {name}={value}"))

    for name in REQUIRED:
        value = row.get(name)
        if value is None or (isinstance(value, list) and not value):
            hit(name, IngestCode.REQUIRED_MISSING, EMPTY)
    age, age_days = row.get("age"), row.get("age_days")
    if age == 0 and age_days is None:
        hit("age_days", IngestCode.REQUIRED_MISSING, f"{EMPTY}, age=0")
    if age == 0 and age_days is not None and age_days <= 28 and row.get("birth_weight") is None:
        hit("birth_weight", IngestCode.REQUIRED_MISSING, f"{EMPTY}, age_days={age_days}")
    for name in NON_NEGATIVE:
        value = row.get(name)
        if value is not None and value < 0:
            hit(name, IngestCode.OUT_OF_RANGE, _text(value))
    for name in ("total_cost", *MONEY_PARTS, "self_pay_out_of_scope", *COST_COLUMNS):
        value = row.get(name)
        if value is not None and value < 0:
            hit(name, IngestCode.NEGATIVE_COST, _text(value))
    admit, discharge = row.get("admit_date"), row.get("discharge_date")
    if admit is not None and discharge is not None and discharge < admit:
        hit("discharge_date", IngestCode.DISCHARGE_BEFORE_ADMISSION,
            f"{discharge.isoformat()} < {admit.isoformat()}")
    total = row.get("total_cost")
    parts = [row.get(c) for c in MONEY_PARTS]
    complete = total is not None and all(p is not None for p in parts)
    if complete and abs(sum(parts, Decimal(0)) - total) > CENT:
        hit("total_cost", IngestCode.PAYMENT_PARTS_MISMATCH,
            "+".join(_text(p) for p in parts) + "≠" + _text(total))
    costs = [row[c] for c in COST_COLUMNS if row.get(c) is not None]
    if costs and total is not None:
        total_costs = sum(costs, Decimal(0))
        if abs(total_costs - total) > CENT * len(costs):
            hit("total_cost", IngestCode.COST_BREAKDOWN_MISMATCH, f"Σcost_*={total_costs}")
    return out


def ingest_one(row: dict[str, Any]) -> dict[str, Any]:
    """The typed row as `read_cases` leaves it: LOS derived from the dates when not given
    (same-day discharge counts one day, docs/payment-rules.md §1), and `ingest_status`,
    `ingest_error_code`, `ingest_error_message` of its first problem."""
    admit, discharge = row.get("admit_date"), row.get("discharge_date")
    if row.get("los") is None and admit is not None and discharge is not None \
            and (discharge - admit).days >= 0:
        row = {**row, "los": max((discharge - admit).days, 1)}
    problems = case_problems(row)
    first = problems[0] if problems else None
    return {**row, "ingest_status": "error" if first else "ok",
            "ingest_error_code": first[1].value if first else None,
            "ingest_error_message": first[2] if first else None}


def hold_ingest_errors(grouped: pl.DataFrame, cases: pl.DataFrame) -> pl.DataFrame:
    """A grouping (one row per case, in order) with the cases ingestion held marked as the
    settlement marks them: status `invalid`, the ingestion code and message (a duplicate case
    id I107, discharge before admission I105, payment parts I106 …); the group found is kept."""
    if "ingest_status" not in cases.columns or grouped.height != cases.height:
        return grouped
    held = cases["ingest_status"] == "error"
    if not held.any():
        return grouped
    held_expr = pl.lit(held)
    return grouped.with_columns(
        pl.when(held_expr).then(pl.lit("invalid")).otherwise(pl.col("status")).alias("status"),
        pl.when(held_expr).then(pl.lit(cases["ingest_error_code"]))
        .otherwise(pl.col("error_code")).alias("error_code"),
        pl.when(held_expr).then(pl.lit(cases["ingest_error_message"]))
        .otherwise(pl.col("error_message")).alias("error_message"))
