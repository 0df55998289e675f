"""The little arithmetic the settlement rules are written in, with two implementations.

A rule is a function of its operands and a backend `b`; it uses the operators `+ - * < <= > >=
== & | ~` on its operands and, for the rest, the backend:

| `b.` | meaning |
|---|---|
| `lit(v)` | a constant |
| `wide(x)` / `narrow(x)` | exact wide integers for products (Int128) / back to Int64 |
| `div(num, den)` | num / den rounded half away from zero; a zero divisor is null |
| `min(*xs)` / `max(*xs)` | least / greatest, nulls ignored (`pl.min_horizontal`) |
| `when(cond, then, otherwise)` | `then` where `cond` is true (a null condition is not) |
| `first(((cond, value), ...), otherwise)` | the value of the first true condition |
| `first_true(((cond, value), ...), otherwise, *args)` | the same, `cond(*args)` evaluated lazily |
| `switch(key, {name: thunk}, otherwise)` | the thunk named by `key` (a tuple: one per part) |
| `lookup(x, mapping)` | `mapping[x]`, null when absent |
| `is_in(x, values)`, `is_null(x)`, `fill(x, v)`, `starts_with(x, prefix)` | as in polars |

`POLARS` builds expressions for the batch (`engine.settlement.batch`); `VALUES` evaluates one
case (`engine.settlement.one_case`) over `Val`, a plain value with polars' null semantics:
arithmetic and comparisons with a null are null, `&` and `|` are Kleene logic.

>>> from engine.settlement.backend import VALUES as b, Val
>>> b.div(Val(7) * 10, 4).v, (Val(None) + 1).v, (Val(None) & Val(False)).v
(18, None, False)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import polars as pl

I128 = pl.Int128


class Val:
    """One value with polars' null propagation (None is null). Immutable."""

    __slots__ = ("v",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, v: Any) -> None:
        self.v = v

    def __repr__(self) -> str:
        return f"Val({self.v!r})"

    # Written out operator by operator: this is the per-case path's inner loop.
    def __add__(self, o: Any) -> Val:
        a, b = self.v, (o.v if o.__class__ is Val else o)
        return NULL if a is None or b is None else Val(a + b)

    def __radd__(self, o: Any) -> Val:
        a = self.v
        return NULL if a is None or o is None else Val(o + a)

    def __sub__(self, o: Any) -> Val:
        a, b = self.v, (o.v if o.__class__ is Val else o)
        return NULL if a is None or b is None else Val(a - b)

    def __rsub__(self, o: Any) -> Val:
        a = self.v
        return NULL if a is None or o is None else Val(o - a)

    def __mul__(self, o: Any) -> Val:
        a, b = self.v, (o.v if o.__class__ is Val else o)
        return NULL if a is None or b is None else Val(a * b)

    def __rmul__(self, o: Any) -> Val:
        a = self.v
        return NULL if a is None or o is None else Val(o * a)

    def __floordiv__(self, o: Any) -> Val:
        a, b = self.v, (o.v if o.__class__ is Val else o)
        return NULL if a is None or b is None or b == 0 else Val(a // b)

    def __lt__(self, o: Any) -> Val:
        a, b = self.v, (o.v if o.__class__ is Val else o)
        return NULL if a is None or b is None else (TRUE if a < b else FALSE)

    def __le__(self, o: Any) -> Val:
        a, b = self.v, (o.v if o.__class__ is Val else o)
        return NULL if a is None or b is None else (TRUE if a <= b else FALSE)

    def __gt__(self, o: Any) -> Val:
        a, b = self.v, (o.v if o.__class__ is Val else o)
        return NULL if a is None or b is None else (TRUE if a > b else FALSE)

    def __ge__(self, o: Any) -> Val:
        a, b = self.v, (o.v if o.__class__ is Val else o)
        return NULL if a is None or b is None else (TRUE if a >= b else FALSE)

    def __eq__(self, o: object) -> Val:  # type: ignore[override]
        a, b = self.v, (o.v if o.__class__ is Val else o)  # type: ignore[attr-defined]
        return NULL if a is None or b is None else (TRUE if a == b else FALSE)

    def __ne__(self, o: object) -> Val:  # type: ignore[override]
        a, b = self.v, (o.v if o.__class__ is Val else o)  # type: ignore[attr-defined]
        return NULL if a is None or b is None else (TRUE if a != b else FALSE)

    def __neg__(self) -> Val:
        return NULL if self.v is None else Val(-self.v)

    def __and__(self, o: Any) -> Val:
        a, b = self.v, (o.v if o.__class__ is Val else o)
        if a is False or b is False:
            return FALSE
        return NULL if a is None or b is None else TRUE

    __rand__ = __and__

    def __or__(self, o: Any) -> Val:
        a, b = self.v, (o.v if o.__class__ is Val else o)
        if a is True or b is True:
            return TRUE
        return NULL if a is None or b is None else FALSE

    __ror__ = __or__

    def __invert__(self) -> Val:
        a = self.v
        return NULL if a is None else (FALSE if a else TRUE)

    def __bool__(self) -> bool:
        raise TypeError("a Val has three values; test `.v is True`")


NULL, TRUE, FALSE = Val(None), Val(True), Val(False)


def _v(x: Any) -> Any:
    return x.v if x.__class__ is Val else x


class ValuesBackend:
    """Plain values for one case (the per-case path's inner loop: kept lean)."""

    name = "values"

    @staticmethod
    def lit(value: Any) -> Val:
        if value is None:
            return NULL
        if value is True:
            return TRUE
        if value is False:
            return FALSE
        return Val(value)

    @staticmethod
    def wide(x: Any) -> Any:
        return x

    @staticmethod
    def narrow(x: Any) -> Any:
        return x

    @staticmethod
    def div(num: Any, den: Any) -> Val:
        n = num.v if num.__class__ is Val else num
        d = den.v if den.__class__ is Val else den
        if n is None or d is None or d == 0:
            return NULL
        q = (abs(n) * 2 + d) // (d * 2)
        return Val(-q if n < 0 else q)

    @staticmethod
    def min(*xs: Any) -> Val:
        known = [v for v in map(_v, xs) if v is not None]
        return Val(min(known)) if known else NULL

    @staticmethod
    def max(*xs: Any) -> Val:
        known = [v for v in map(_v, xs) if v is not None]
        return Val(max(known)) if known else NULL

    @staticmethod
    def when(cond: Any, then: Any, otherwise: Any) -> Any:
        return then if (cond.v if cond.__class__ is Val else cond) is True else otherwise

    @staticmethod
    def first(branches: Iterable[tuple[Any, Any]], otherwise: Any) -> Any:
        for cond, value in branches:
            if (cond.v if cond.__class__ is Val else cond) is True:
                return value
        return otherwise

    @staticmethod
    def first_true(branches: Iterable[tuple[Callable[..., Any], Any]], otherwise: Any,
                   *args: Any) -> Any:
        for cond, value in branches:
            if cond(*args).v is True:
                return value
        return otherwise

    @staticmethod
    def switch(key: Any, table: dict[str, Callable[[], Any]], otherwise: Any) -> Any:
        found = table.get(key.v if key.__class__ is Val else key)
        return otherwise if found is None else found()

    @staticmethod
    def lookup(x: Any, mapping: dict[Any, Any]) -> Val:
        found = mapping.get(x.v if x.__class__ is Val else x)
        return NULL if found is None else Val(found)

    @staticmethod
    def is_in(x: Any, values: Sequence[Any]) -> Val:
        v = x.v if x.__class__ is Val else x
        return NULL if v is None else (TRUE if v in values else FALSE)

    @staticmethod
    def is_null(x: Any) -> Val:
        return TRUE if (x.v if x.__class__ is Val else x) is None else FALSE

    @staticmethod
    def fill(x: Any, value: Any) -> Val:
        v = x.v if x.__class__ is Val else x
        if v is None:
            return value if value.__class__ is Val else ValuesBackend.lit(value)
        return x if x.__class__ is Val else Val(v)

    @staticmethod
    def starts_with(x: Any, prefix: str) -> Val:
        v = x.v if x.__class__ is Val else x
        return NULL if v is None else (TRUE if v.startswith(prefix) else FALSE)


class PolarsBackend:
    """Polars expressions for the batch."""

    name = "polars"

    @staticmethod
    def lit(value: Any) -> pl.Expr:
        if isinstance(value, bool):
            return pl.lit(value, pl.Boolean)
        if isinstance(value, int):
            return pl.lit(value, pl.Int64)
        return pl.lit(value)  # None: a null of no type, which takes its neighbours' type

    @staticmethod
    def wide(x: Any) -> pl.Expr:
        return x.cast(I128) if isinstance(x, pl.Expr) else pl.lit(x, I128)

    @staticmethod
    def narrow(x: pl.Expr) -> pl.Expr:
        return x.cast(pl.Int64)

    @staticmethod
    def div(num: Any, den: Any) -> pl.Expr:
        n = num.cast(I128) if isinstance(num, pl.Expr) else pl.lit(num, I128)
        d = den.cast(I128) if isinstance(den, pl.Expr) else pl.lit(den, I128)
        q = (n.abs() * 2 + d) // (d * 2)
        return pl.when(n < 0).then(pl.lit(0, I128) - q).otherwise(q)

    @staticmethod
    def min(*xs: Any) -> pl.Expr:
        return pl.min_horizontal(*(_expr(x) for x in xs))

    @staticmethod
    def max(*xs: Any) -> pl.Expr:
        return pl.max_horizontal(*(_expr(x) for x in xs))

    @staticmethod
    def when(cond: Any, then: Any, otherwise: Any) -> pl.Expr:
        return pl.when(_expr(cond)).then(_expr(then)).otherwise(_expr(otherwise))

    @staticmethod
    def first(branches: Iterable[tuple[Any, Any]], otherwise: Any) -> pl.Expr:
        chain: Any = pl
        any_branch = False
        for cond, value in branches:
            chain = chain.when(_expr(cond)).then(_expr(value))
            any_branch = True
        return chain.otherwise(_expr(otherwise)) if any_branch else _expr(otherwise)

    @staticmethod
    def first_true(branches: Iterable[tuple[Callable[..., Any], Any]], otherwise: Any,
                   *args: Any) -> pl.Expr:
        return PolarsBackend.first(((cond(*args), value) for cond, value in branches),
                                   otherwise)

    @staticmethod
    def switch(key: pl.Expr, table: dict[str, Callable[[], Any]], otherwise: Any) -> Any:
        """A `pl.when` chain per part: parts of a tuple (a fraction) become a tuple of chains."""
        values = [(name, make()) for name, make in table.items()]
        if isinstance(otherwise, tuple):
            return tuple(PolarsBackend.first(((key == name, v[i]) for name, v in values),
                                             otherwise[i]) for i in range(len(otherwise)))
        return PolarsBackend.first(((key == name, v) for name, v in values), otherwise)

    @staticmethod
    def lookup(x: pl.Expr, mapping: dict[Any, Any]) -> pl.Expr:
        kinds = {type(v) for v in mapping.values()}
        dtype = pl.String if kinds == {str} else pl.Int64
        return x.replace_strict(mapping, default=None, return_dtype=dtype)

    @staticmethod
    def is_in(x: pl.Expr, values: Sequence[Any]) -> pl.Expr:
        return x.is_in(list(values))

    @staticmethod
    def is_null(x: pl.Expr) -> pl.Expr:
        return x.is_null()

    @staticmethod
    def fill(x: pl.Expr, value: Any) -> pl.Expr:
        return x.fill_null(value)

    @staticmethod
    def starts_with(x: pl.Expr, prefix: str) -> pl.Expr:
        return x.str.starts_with(prefix)


def _expr(x: Any) -> pl.Expr:
    if isinstance(x, pl.Expr):
        return x
    return PolarsBackend.lit(x)


Backend = ValuesBackend | PolarsBackend
VALUES = ValuesBackend()
POLARS = PolarsBackend()
