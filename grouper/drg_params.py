"""The parameter columns of the DRG ruleset tables, defined once as data.

A parameter is a numeric column of `adrg.csv` (the ADRG rule) or `drg.csv` (the DRG inside its
ADRG) that compares one fact of the case with the rule's value (ruleset README): `age_lt` holds
when age < value, `weight_min_g` when birth weight >= value, and so on. An empty cell means "no
condition"; an unknown fact fails the condition; birth weight 0 means unknown. ICU hours are
filled with 0 before (missing ICU hours count as 0, on both paths).

`PARAMS` is the only place these meanings are written. It is compiled
- to a polars expression for the batch (`batch_condition`, used by `grouper.drg`), and
- to a per-case check (`failed_params`, used by `grouper.explain`),
and also names the loader's column types (`columns`, used by `grouper.ruleset`) and the words of
the trace (`grouper.explain_text.PARAMS`). `tests/grouper/test_drg_params.py` proves the two
compilations equal on every boundary, and the ruleset properties prove batch == explain.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

# comparison name -> the operator; the same function compares polars expressions and numbers
OPS: dict[str, Callable[[Any, Any], Any]] = {
    "lt": operator.lt, "le": operator.le, "eq": operator.eq, "ge": operator.ge,
    "gt": operator.gt}


@dataclass(frozen=True)
class Param:
    column: str  # column of the ruleset table
    table: str  # "adrg" (ADRG rule) or "drg" (DRG within its ADRG)
    fact: str  # the case's column it reads: age, age_days, birth_weight, los, icu_hours
    op: str  # fact <op> value
    dtype: type  # the loader's type of the column: int or float
    zh: str  # what it requires, in Chinese ({v} = the value)
    en: str  # the same in English
    zero_unknown: bool = False  # a fact of 0 means unknown (birth weight): the condition fails


PARAMS: tuple[Param, ...] = (
    Param("age_days_max", "adrg", "age_days", "le", int, "年龄不超过 {v} 天",
          "age of at most {v} days"),
    Param("weight_min_g", "adrg", "birth_weight", "ge", int, "出生体重不低于 {v} 克",
          "birth weight of at least {v} g", zero_unknown=True),
    Param("weight_max_g", "adrg", "birth_weight", "lt", int, "出生体重低于 {v} 克",
          "birth weight under {v} g", zero_unknown=True),
    Param("age_days_min", "adrg", "age_days", "ge", int, "年龄至少 {v} 天",
          "age of at least {v} days"),
    Param("age_years", "adrg", "age", "eq", int, "年龄为 {v} 岁", "age of {v} years"),
    Param("age_lt", "drg", "age", "lt", int, "年龄小于 {v} 岁", "age under {v} years"),
    Param("los_gt", "drg", "los", "gt", int, "住院超过 {v} 天", "a stay longer than {v} days"),
    Param("icu_hours_gt", "drg", "icu_hours", "gt", float, "重症监护超过 {v} 小时",
          "more than {v} ICU hours"),
    Param("icu_hours_ge", "drg", "icu_hours", "ge", float, "重症监护至少 {v} 小时",
          "at least {v} ICU hours"),
    Param("icu_hours_le", "drg", "icu_hours", "le", float, "重症监护不超过 {v} 小时",
          "at most {v} ICU hours"),
    Param("age_days_max", "drg", "age_days", "le", int, "年龄不超过 {v} 天",
          "age of at most {v} days"),
)


def params_of(table: str) -> tuple[Param, ...]:
    """The parameters of one ruleset table ("adrg" or "drg"), in table order."""
    return tuple(p for p in PARAMS if p.table == table)


def columns(table: str, dtype: type | None = None) -> tuple[str, ...]:
    """The parameter column names of a table (optionally only those of one type)."""
    return tuple(p.column for p in params_of(table) if dtype is None or p.dtype is dtype)


def facts(table: str) -> tuple[str, ...]:
    """The case columns the parameters of a table read."""
    return tuple(dict.fromkeys(p.fact for p in params_of(table)))


def _holds_expr(p: Param) -> pl.Expr:
    fact, value = pl.col(p.fact), pl.col(p.column)
    test = OPS[p.op](fact, value)
    if p.zero_unknown:
        test = (fact != 0) & test
    return value.is_null() | test.fill_null(False)


def batch_condition(table: str) -> pl.Expr:
    """All parameters of `table` hold, over a frame with the parameter columns and the facts."""
    return pl.all_horizontal(*[_holds_expr(p) for p in params_of(table)])


def holds(p: Param, fact: Any, value: Any) -> bool:
    """One parameter on one case's fact (value not None: an empty cell sets no condition)."""
    if fact is None or (p.zero_unknown and fact == 0):
        return False
    return bool(OPS[p.op](fact, value))


_BY_KEY: dict[tuple[str, str], Param] = {(p.table, p.column): p for p in PARAMS}


def failed_params(table: str, params: Mapping[str, Any],
                  case_facts: Mapping[str, Any]) -> list[str]:
    """`key=value` of each set parameter of `table` the case's facts fail (per-case path)."""
    failed = []
    for key, v in params.items():
        p = _BY_KEY[(table, key)]
        if not holds(p, case_facts[p.fact], v):
            failed.append(f"{key}={v}")
    return failed
