"""The compiled per-case program (`engine.settlement.compiled`) gives what the values backend
gives (`engine.settlement.backend.VALUES`, polars' null rules) for every operation of the
backend, over nulls, zeros, signs and Kleene truth values, with operands both variable and
constant (folded while compiling). settle_one == batch on whole cases is
tests/engine/test_settle_one.py."""

from __future__ import annotations

from itertools import product

import pytest

from engine.settlement.backend import VALUES, Val
from engine.settlement.compiled import compile_stages

NUMBERS = (None, 0, 3, -7, 10_000)
BOOLS = (None, True, False)
TEXTS = (None, "", "F20", "normal", "ok")

NUMERIC = {
    "add": lambda b, p, q: p + q, "sub": lambda b, p, q: p - q, "mul": lambda b, p, q: p * q,
    "rsub": lambda b, p, q: 5 - p, "floordiv": lambda b, p, q: p // q,
    "neg": lambda b, p, q: -p, "lt": lambda b, p, q: p < q, "le": lambda b, p, q: p <= q,
    "gt": lambda b, p, q: p > q, "ge": lambda b, p, q: p >= q, "eq": lambda b, p, q: p == q,
    "ne": lambda b, p, q: p != q, "div": lambda b, p, q: b.div(p, q),
    "div_const": lambda b, p, q: b.div(p * 10, 4), "div_neg": lambda b, p, q: b.div(p, -3),
    "min": lambda b, p, q: b.min(p, q), "max": lambda b, p, q: b.max(p, q, b.lit(None)),
    "min3": lambda b, p, q: b.min(p, b.lit(2), q), "fill": lambda b, p, q: b.fill(p, q),
    "fill_const": lambda b, p, q: b.fill(p, 0), "is_null": lambda b, p, q: b.is_null(p),
    "is_in": lambda b, p, q: b.is_in(p, (0, 3)),
    "lookup": lambda b, p, q: b.lookup(p, {3: 30, -7: 70}),
    "when": lambda b, p, q: b.when(p > 0, p, q),
    "first": lambda b, p, q: b.first(((p > 0, p), (q < 0, q)), b.lit(None)),
    "first_true": lambda b, p, q: b.first_true(
        ((lambda: p > q, "above"), (lambda: b.is_null(q), "no q")), "other"),
    "switch": lambda b, p, q: b.switch(b.lookup(p, {3: "a", 0: "b"}),
                                       {"a": lambda: (p * 2, q), "b": lambda: (q, p)},
                                       (b.lit(0), b.lit(1)))[0],
}
LOGIC = {
    "and": lambda b, p, q: p & q, "or": lambda b, p, q: p | q, "not": lambda b, p, q: ~p,
    "and_lit": lambda b, p, q: b.lit(False) | p, "or_lit": lambda b, p, q: b.lit(None) & p,
    "fill": lambda b, p, q: b.fill(p & q, False),
}
TEXT = {
    "starts_with": lambda b, p, q: b.starts_with(p, "F"),
    "eq": lambda b, p, q: (p == "") | (q == "ok"), "is_in": lambda b, p, q: b.is_in(p, ["ok"]),
}


CASES = ([(n, r, NUMBERS) for n, r in NUMERIC.items()]
         + [(n, r, BOOLS) for n, r in LOGIC.items()] + [(n, r, TEXTS) for n, r in TEXT.items()])
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("name,rule,values", CASES, ids=IDS)
def test_compiled_equals_values(name, rule, values) -> None:
    stages = ((("y", lambda b, ctx, x: rule(b, x("a"), x("c"))),),)
    variable, _ = compile_stages(stages, None)
    for a, c in product(values, values):
        want = rule(VALUES, Val(a), Val(c))
        want = want.v if want.__class__ is Val else want
        folded, _ = compile_stages(stages, None, constants={"a": a, "c": c})
        one_var, _ = compile_stages(stages, None, constants={"c": c})
        for run in (variable, folded, one_var):
            got = run({"a": a, "c": c})["y"]
            assert got == want and type(got) is type(want), (name, a, c, got, want)


def test_a_stage_reads_the_operands_before_it() -> None:
    """As polars' with_columns: entries of one stage see the previous values."""
    run, _ = compile_stages(((("a", lambda b, c, x: x("a") + 1), ("b", lambda b, c, x: x("a"))),
                             (("c", lambda b, c, x: x("a") * 10),)), None)
    assert run({"a": 1}) == {"a": 2, "b": 1, "c": 20}
