"""The DRG parameter table compiles to the same condition for the batch and for one case.

`grouper.drg_params.PARAMS` is the one definition of `age_lt`, `los_gt`, `icu_hours_ge` ...;
here every parameter is evaluated on every boundary (value - 1, value, value + 1, 0, unknown,
no condition) by the batch expression and by the per-case check, and they must agree. Whole
rulesets (batch == explain) are covered by tests/grouper/test_properties.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import polars as pl
import pytest

from grouper import drg_params as P
from grouper.explain_text import PARAMS as WORDS
from grouper.ruleset import resolve_ruleset
from grouper.ruleset_files import TABLE_COLUMNS

# the non-parameter columns of the two tables (keys, order, conditions on codes, names)
_NOT_PARAMS = {"adrg": {"adrg", "variant", "mdc", "order_in_mdc", "section", "rule_kind",
                        "px_group_expr", "if_no_drg", "name"},
               "drg": {"drg", "adrg", "order_in_adrg", "condition", "name"}}


def _grid(p: P.Param) -> tuple[list[Any], list[Any]]:
    """(facts, values) around each boundary, with unknown / zero facts and empty cells."""
    if p.dtype is float:
        values = [None, 0.0, 24.0, 96.5]
        facts = [None, 0.0, 23.5, 24.0, 24.5, 96.0, 96.5, 97.0]
    else:
        values = [None, 0, 1, 18, 2500]
        facts = [None, 0, 1, 2, 17, 18, 19, 2499, 2500, 2501]
    return facts, values


def _batch(p: P.Param, facts: list[Any], values: list[Any]) -> list[bool]:
    dtype = pl.Float64 if p.dtype is float else pl.Int64
    frame = pl.DataFrame({f: pl.Series(facts, dtype=dtype) for f in P.facts(p.table)} |
                         {c: pl.Series([None] * len(facts), dtype=pl.Float64 if c in
                                       P.columns(p.table, float) else pl.Int64)
                          for c in P.columns(p.table)})
    # only this parameter set; every other one empty (no condition)
    frame = frame.with_columns(pl.Series(p.column, values, dtype=dtype))
    return frame.select(P.batch_condition(p.table)).to_series().to_list()


@pytest.mark.parametrize("p", P.PARAMS, ids=lambda p: f"{p.table}.{p.column}")
def test_batch_expression_equals_the_per_case_check(p: P.Param) -> None:
    fact_grid, value_grid = _grid(p)
    pairs = list(itertools.product(fact_grid, value_grid))
    facts, values = [f for f, _ in pairs], [v for _, v in pairs]
    batch = _batch(p, facts, values)
    others = dict.fromkeys(P.facts(p.table))
    for (fact, value), got in zip(pairs, batch, strict=True):
        params = {} if value is None else {p.column: value}
        one = not P.failed_params(p.table, params, others | {p.fact: fact})
        assert got is one, (p.column, fact, value)
    # and the condition is the named comparison, unknown facts failing
    assert batch.count(True) > 0 and batch.count(False) > 0


def test_pinned_boundaries() -> None:
    by = {(p.table, p.column): p for p in P.PARAMS}
    assert P.holds(by["drg", "age_lt"], 17, 18) and not P.holds(by["drg", "age_lt"], 18, 18)
    assert not P.holds(by["drg", "los_gt"], 5, 5) and P.holds(by["drg", "los_gt"], 6, 5)
    assert P.holds(by["drg", "icu_hours_ge"], 96.0, 96) and not P.holds(
        by["drg", "icu_hours_gt"], 96.0, 96)
    assert P.holds(by["drg", "icu_hours_le"], 0.0, 96)
    assert not P.holds(by["adrg", "weight_min_g"], 0, 0)  # birth weight 0 = unknown
    assert not P.holds(by["adrg", "weight_max_g"], 0, 1500)
    assert P.holds(by["adrg", "weight_max_g"], 1499, 1500)
    assert not P.holds(by["adrg", "age_days_max"], None, 28)  # unknown age fails


@pytest.mark.parametrize("table", ["adrg", "drg"])
def test_every_parameter_column_of_the_files_is_in_the_table(table: str) -> None:
    """A new numeric condition column cannot be added to a ruleset file without its meaning."""
    assert set(TABLE_COLUMNS[table]) - _NOT_PARAMS[table] == set(P.columns(table))
    rs = resolve_ruleset("chs_drg_11")
    frame = rs.rules if table == "adrg" else rs.drgs
    for p in P.params_of(table):
        assert frame[p.column].dtype == (pl.Float64 if p.dtype is float else pl.Int64)


def test_trace_words_come_from_the_table() -> None:
    assert set(WORDS) == {p.column for p in P.PARAMS}
    for p in P.PARAMS:
        assert WORDS[p.column] == (p.zh, p.en, p.fact)
