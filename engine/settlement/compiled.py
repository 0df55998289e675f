"""The settlement steps compiled once, per policy and weight table, into one plain Python
function for the per-case path (`engine.settlement.one_case`).

`COMPILE`-style backend: the rules of `engine.settlement.steps` are run once over symbols
(`Sym`) instead of values; each operation writes one line of Python with the null rules of
`engine.settlement.backend.Val` (polars' semantics: arithmetic and comparisons with a null are
null, `&` / `|` are Kleene logic, a zero divisor is null, `min` / `max` ignore nulls). Constants
(policy parameters, the inputs one case cannot know) fold while compiling; `first_true` and
`switch` stay lazy (nested `if` blocks), as in the values backend. The result is a function
`run(row) -> {operand: value}` over the case's prepared inputs: no per-operation call or object,
so one case costs a few hundred plain statements.

The rules are not written again here: this module only knows the backend's operators
(`engine.settlement.backend`'s table). `source(...)` shows the generated code.

>>> run, _ = compile_stages(((("y", lambda b, c, x: b.div(x("a") * 10, 4)),),), None)
>>> run({"a": 7}), run({"a": None})
({'y': 18}, {'y': None})
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from engine.settlement.backend import Val

_LITERALS = (int, str, bool, type(None))


class Sym:
    """An operand while compiling: the Python expression (a name or a literal) that holds it."""

    __slots__ = ("code", "g", "is_const", "nullable", "value")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, g: Gen, code: str, nullable: bool = True, *, is_const: bool = False,
                 value: Any = None) -> None:
        self.g, self.code, self.nullable = g, code, nullable
        self.is_const, self.value = is_const, value

    def __repr__(self) -> str:
        return f"Sym({self.code})"

    def __bool__(self) -> bool:
        raise TypeError("a rule cannot branch on an operand in Python; use the backend")

    def __add__(self, o: Any) -> Sym:
        return self.g.binary(self, o, "+", operator.add)

    def __radd__(self, o: Any) -> Sym:
        return self.g.binary(o, self, "+", operator.add)

    def __sub__(self, o: Any) -> Sym:
        return self.g.binary(self, o, "-", operator.sub)

    def __rsub__(self, o: Any) -> Sym:
        return self.g.binary(o, self, "-", operator.sub)

    def __mul__(self, o: Any) -> Sym:
        return self.g.binary(self, o, "*", operator.mul)

    def __rmul__(self, o: Any) -> Sym:
        return self.g.binary(o, self, "*", operator.mul)

    def __floordiv__(self, o: Any) -> Sym:
        return self.g.binary(self, o, "//", operator.floordiv)

    def __rfloordiv__(self, o: Any) -> Sym:
        return self.g.binary(o, self, "//", operator.floordiv)

    def __lt__(self, o: Any) -> Sym:
        return self.g.binary(self, o, "<", operator.lt)

    def __le__(self, o: Any) -> Sym:
        return self.g.binary(self, o, "<=", operator.le)

    def __gt__(self, o: Any) -> Sym:
        return self.g.binary(self, o, ">", operator.gt)

    def __ge__(self, o: Any) -> Sym:
        return self.g.binary(self, o, ">=", operator.ge)

    def __eq__(self, o: object) -> Sym:  # type: ignore[override]
        return self.g.binary(self, o, "==", operator.eq)

    def __ne__(self, o: object) -> Sym:  # type: ignore[override]
        return self.g.binary(self, o, "!=", operator.ne)

    def __neg__(self) -> Sym:
        return self.g.unary(self, "-", operator.neg)

    def __invert__(self) -> Sym:
        return self.g.unary(self, "not ", operator.invert)

    def __and__(self, o: Any) -> Sym:
        return self.g.kleene(self, o, "and")

    __rand__ = __and__

    def __or__(self, o: Any) -> Sym:
        return self.g.kleene(self, o, "or")

    __ror__ = __or__


class Gen:
    """The code being written: lines, indentation, temporaries and the constants' namespace."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.prologue: list[str] = []
        self.indent = 1
        self.n = 0
        self.ns: dict[str, Any] = {}

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def name(self, prefix: str = "t") -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, value: Any) -> Sym:
        if isinstance(value, _LITERALS):
            code = repr(value)
        else:
            code = self.name("K")
            self.ns[code] = value
        return Sym(self, code, value is None, is_const=True, value=value)

    def sym(self, o: Any) -> Sym:
        return o if o.__class__ is Sym else self.const(o.v if o.__class__ is Val else o)

    def tmp(self, expr: str, nullable: bool) -> Sym:
        name = self.name()
        self.emit(f"{name} = {expr}")
        return Sym(self, name, nullable)

    @staticmethod
    def guard(*xs: Sym) -> str:
        return " or ".join(f"{x.code} is None" for x in xs if x.nullable)

    def binary(self, a: Any, b: Any, op: str, fn: Callable[[Any, Any], Any]) -> Sym:
        a, b = self.sym(a), self.sym(b)
        if a.is_const and b.is_const:  # folded with the values backend's own rules
            return self.const(fn(Val(a.value), Val(b.value)).v)
        if (a.is_const and a.value is None) or (b.is_const and b.value is None):
            return self.const(None)
        expr = f"{a.code} {op} {b.code}"
        guard = self.guard(a, b)
        nullable = bool(guard)
        if op == "//" and not (b.is_const and b.value != 0):
            guard = f"{guard} or {b.code} == 0" if guard else f"{b.code} == 0"
            nullable = True
        return self.tmp(f"None if {guard} else {expr}" if guard else expr, nullable)

    def unary(self, a: Any, op: str, fn: Callable[[Any], Any]) -> Sym:
        a = self.sym(a)
        if a.is_const:
            return self.const(fn(Val(a.value)).v)
        expr = f"{op}{a.code}"
        return self.tmp(f"None if {a.code} is None else {expr}" if a.nullable else expr,
                        a.nullable)

    def kleene(self, a: Any, b: Any, op: str) -> Sym:
        a, b = self.sym(a), self.sym(b)
        fn = operator.and_ if op == "and" else operator.or_
        if a.is_const and b.is_const:
            return self.const(fn(Val(a.value), Val(b.value)).v)
        if b.is_const:
            a, b = b, a
        wins = op == "or"  # the value that decides: True for or, False for and
        if a.is_const:
            if a.value is wins:
                return self.const(wins)
            if a.value is (not wins):
                return b
            # null and b: False when b is False, else null (or: True when b is True)
            return self.tmp(f"{wins} if {b.code} is {wins} else None", True)
        if not a.nullable and not b.nullable:
            return self.tmp(f"{a.code} {op} {b.code}", False)
        return self.tmp(f"{wins} if ({a.code} is {wins} or {b.code} is {wins}) else "
                        f"(None if ({self.guard(a, b)}) else {not wins})", True)

    def truth(self, cond: Sym) -> str:
        return f"{cond.code} is True" if cond.nullable else cond.code


class CompileBackend:
    """The backend's operations (`engine.settlement.backend`'s table) writing code."""

    name = "compiled"

    def __init__(self, g: Gen) -> None:
        self.g = g

    def lit(self, value: Any) -> Sym:
        return self.g.const(value)

    @staticmethod
    def wide(x: Any) -> Any:
        return x

    @staticmethod
    def narrow(x: Any) -> Any:
        return x

    def div(self, num: Any, den: Any) -> Sym:
        g = self.g
        n, d = g.sym(num), g.sym(den)
        if n.is_const and d.is_const:
            from engine.settlement.backend import VALUES
            return g.const(VALUES.div(n.value, d.value).v)
        if (n.is_const and n.value is None) or (d.is_const and not d.value):
            return g.const(None)
        d2 = repr(d.value * 2) if d.is_const else f"({d.code} * 2)"
        q = f"(abs({n.code}) * 2 + {d.code}) // {d2}"
        expr = f"(-({q}) if {n.code} < 0 else {q})"
        guard = g.guard(n, d)
        if not d.is_const:
            guard = f"{guard} or {d.code} == 0" if guard else f"{d.code} == 0"
        return g.tmp(f"None if {guard} else {expr}" if guard else expr, bool(guard))

    def _extreme(self, xs: Sequence[Any], op: str, fn: Callable[..., Any]) -> Sym:
        g = self.g
        syms = [s for s in map(g.sym, xs) if not (s.is_const and s.value is None)]
        if not syms:
            return g.const(None)
        acc = syms[0]
        for s in syms[1:]:
            if acc.is_const and s.is_const:
                acc = g.const(fn(acc.value, s.value))
                continue
            # the first of equal values, as Python's min / max; a null is skipped
            pick = f"{s.code} if {s.code} {op} {acc.code} else {acc.code}"
            if s.nullable:
                pick = f"{acc.code} if {s.code} is None else ({pick})"
            if acc.nullable:
                pick = f"{s.code} if {acc.code} is None else ({pick})"
            acc = g.tmp(pick, acc.nullable and s.nullable)
        return acc

    def min(self, *xs: Any) -> Sym:
        return self._extreme(xs, "<", min)

    def max(self, *xs: Any) -> Sym:
        return self._extreme(xs, ">", max)

    def when(self, cond: Any, then: Any, otherwise: Any) -> Sym:
        return self.first(((cond, then),), otherwise)

    def first(self, branches: Iterable[tuple[Any, Any]], otherwise: Any) -> Sym:
        g = self.g
        live: list[tuple[Sym, Sym]] = []
        last = g.sym(otherwise)
        for cond, value in branches:
            c = g.sym(cond)
            if c.is_const:
                if c.value is True:
                    last = g.sym(value)
                    break
                continue
            live.append((c, g.sym(value)))
        if not live:
            return last
        expr = last.code
        for c, v in reversed(live):
            expr = f"{v.code} if {g.truth(c)} else ({expr})"
        return g.tmp(expr, last.nullable or any(v.nullable for _, v in live))

    def first_true(self, branches: Iterable[tuple[Callable[..., Any], Any]], otherwise: Any,
                   *args: Any) -> Sym:
        g = self.g
        res, start, nullable = g.name("r"), g.indent, False
        for cond, value in branches:
            c, v = g.sym(cond(*args)), g.sym(value)
            if c.is_const:
                if c.value is True:
                    nullable |= v.nullable
                    g.emit(f"{res} = {v.code}")
                    break
                continue
            nullable |= v.nullable
            g.emit(f"if {g.truth(c)}:")
            g.indent += 1
            g.emit(f"{res} = {v.code}")
            g.indent -= 1
            g.emit("else:")
            g.indent += 1
        else:
            last = g.sym(otherwise)
            nullable |= last.nullable
            g.emit(f"{res} = {last.code}")
        g.indent = start
        return Sym(g, res, nullable)

    def switch(self, key: Any, table: dict[str, Callable[[], Any]], otherwise: Any) -> Any:
        g = self.g
        k = g.sym(key)
        if k.is_const:
            found = table.get(k.value)
            return otherwise if found is None else found()
        if not table:
            return otherwise
        parts = len(otherwise) if isinstance(otherwise, tuple) else 0
        names = [g.name("r") for _ in range(max(parts, 1))]
        nullable = [False] * len(names)

        def assign(value: Any) -> None:
            values = value if parts else (value,)
            for i, (name, v) in enumerate(zip(names, values, strict=True)):
                s = g.sym(v)
                nullable[i] |= s.nullable
                g.emit(f"{name} = {s.code}")

        for i, (case, make) in enumerate(table.items()):
            g.emit(f"{'if' if i == 0 else 'elif'} {k.code} == {case!r}:")
            g.indent += 1
            assign(make())
            g.indent -= 1
        g.emit("else:")
        g.indent += 1
        assign(otherwise)
        g.indent -= 1
        out = [Sym(g, name, nb) for name, nb in zip(names, nullable, strict=True)]
        return tuple(out) if parts else out[0]

    def lookup(self, x: Any, mapping: dict[Any, Any]) -> Sym:
        g = self.g
        s = g.sym(x)
        if s.is_const:
            return g.const(mapping.get(s.value))
        return g.tmp(f"{g.const(dict(mapping)).code}.get({s.code})", True)

    def is_in(self, x: Any, values: Sequence[Any]) -> Sym:
        g = self.g
        s = g.sym(x)
        if s.is_const:
            return g.const(None if s.value is None else s.value in values)
        try:
            pool: Any = frozenset(values)
        except TypeError:
            pool = tuple(values)
        expr = f"{s.code} in {g.const(pool).code}"
        return g.tmp(f"None if {s.code} is None else {expr}" if s.nullable else expr,
                     s.nullable)

    def is_null(self, x: Any) -> Sym:
        g = self.g
        s = g.sym(x)
        if s.is_const or not s.nullable:
            return g.const(s.is_const and s.value is None)
        return g.tmp(f"{s.code} is None", False)

    def fill(self, x: Any, value: Any) -> Sym:
        g = self.g
        s, v = g.sym(x), g.sym(value)
        if not s.nullable:
            return s
        if s.is_const:  # a null constant
            return v
        return g.tmp(f"{v.code} if {s.code} is None else {s.code}", v.nullable)

    def starts_with(self, x: Any, prefix: str) -> Sym:
        g = self.g
        s = g.sym(x)
        if s.is_const:
            return g.const(None if s.value is None else s.value.startswith(prefix))
        expr = f"{s.code}.startswith({prefix!r})"
        return g.tmp(f"None if {s.code} is None else {expr}" if s.nullable else expr,
                     s.nullable)


Rule = Callable[[Any, Any, Callable[[str], Any]], Any]


def compile_stages(stages: Iterable[Iterable[tuple[str, Rule]]], ctx: Any, *,
                   constants: dict[str, Any] | None = None
                   ) -> tuple[Callable[[dict[str, Any]], dict[str, Any]], str]:
    """`run(row)`: the operands the stages define, each evaluated over `row`'s inputs as the
    values backend would (a stage's entries read the operands before it). `constants` are
    inputs known while compiling (folded). Returns (run, its source)."""
    g = Gen()
    b = CompileBackend(g)
    env: dict[str, Sym] = {n: g.const(v) for n, v in (constants or {}).items()}
    defined: list[str] = []

    def x(name: str) -> Sym:
        if name not in env:
            var = f"i_{name}"
            g.prologue.append(f"    {var} = row[{name!r}]")
            env[name] = Sym(g, var, True)
        return env[name]

    for stage in stages:
        found = [(name, g.sym(rule(b, ctx, x))) for name, rule in stage]
        for name, value in found:
            env[name] = value
            if name not in defined:
                defined.append(name)
    body = ", ".join(f"{name!r}: {env[name].code}" for name in defined)
    source = "\n".join(["def run(row):", *g.prologue, *g.lines, f"    return {{{body}}}"])
    namespace = dict(g.ns)
    exec(compile(source, "<engine.settlement.compiled>", "exec"), namespace)  # noqa: S102
    return namespace["run"], source
