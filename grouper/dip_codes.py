"""Code keys DIP groups on: ICD-10 类目/亚目 of the principal diagnosis, normalised ICD-9-CM-3
procedure codes, and the `+` (all-of) / `/` (any-of) procedure combinations of a catalogue row.

Codes keep their published spelling (issue 16): the 医保版 tables write the extension letter as a
lower-case `x` (`74.1x01`, `A09.900x001`) and some procedure codes carry other letters
(`17.912A0`), so nothing is case-folded. Normalising a case's codes only trims, upper-cases the
chapter letter of a diagnosis (`k80.1` → `K80.1`), reads an upper-case `X` after it (and anywhere
in a procedure code) as the extension letter `x` (`74.1X01` → `74.1x01`, `A09.900X001` →
`A09.900x001`: the shipped 医保版 tables have no upper-case `X` except as the chapter letter of
X00–X99, so no code is confused with another) and inserts the dot (`K801` → `K80.1`, `5123` →
`51.23`). Catalogue codes are never rewritten (`dx_one`, `px_one` keep their spelling).
"""

from __future__ import annotations

import re

import polars as pl

DX_PATTERN = r"^[A-Z][0-9]{2}"
PX_PATTERN = r"^[0-9]{2}(\.|$)"
_PX_CODE = re.compile(r"^[0-9]{2}(\.[0-9A-Za-z]+)?$")
_DX_CODE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Za-z]+)?$")
FULL_PX_LENGTH = 7  # `NN.NNNN`: a full ICD-9-CM-3 code; shorter ones are stems (`51.23`)


def dx_normalised(expr: pl.Expr) -> pl.Expr:
    """A case's ICD-10 code: trimmed, chapter letter upper-cased, a later `X` read as `x`, the
    rest as written, with the dot after the 类目 ("k801X01" -> "K80.1x01")."""
    trimmed = expr.str.strip_chars()
    code = (trimmed.str.slice(0, 1).str.to_uppercase()
            + trimmed.str.slice(1).str.replace_all("X", "x", literal=True))
    return (pl.when(code.str.contains(r"^[A-Z][0-9]{2}[0-9A-Za-z]"))
            .then(code.str.slice(0, 3) + pl.lit(".") + code.str.slice(3))
            .otherwise(code))


def px_normalised(expr: pl.Expr) -> pl.Expr:
    """A case's ICD-9-CM-3 code: trimmed, `X` read as `x`, with the dot after the chapter
    ("5123" -> "51.23", "74.1X01" -> "74.1x01")."""
    code = expr.str.strip_chars().str.replace_all("X", "x", literal=True)
    return (pl.when(code.str.contains(r"^[0-9]{3}"))
            .then(code.str.slice(0, 2) + pl.lit(".") + code.str.slice(2))
            .otherwise(code))


def dx_one(code: str) -> str:
    """A catalogue's diagnosis code for one code: `dx_normalised` without reading `X` as `x`."""
    code = code.strip()
    code = code[:1].upper() + code[1:]
    if re.match(r"^[A-Z][0-9]{2}[0-9A-Za-z]", code):
        return f"{code[:3]}.{code[3:]}"
    return code


def px_one(code: str) -> str:
    """A catalogue's procedure code for one code: `px_normalised` without reading `X` as `x`."""
    code = code.strip()
    if re.match(r"^[0-9]{3}", code):
        return f"{code[:2]}.{code[2:]}"
    return code


def subcategory(dx: pl.Expr) -> pl.Expr:
    """亚目: the first four characters of the code ("K80.1"); the 类目 when the code has no more."""
    return pl.when(dx.str.len_chars() >= 5).then(dx.str.slice(0, 5)).otherwise(dx.str.slice(0, 3))


def category(dx: pl.Expr) -> pl.Expr:
    """类目: the first three characters ("K80")."""
    return dx.str.slice(0, 3)


def is_dx_code(code: str) -> bool:
    return bool(_DX_CODE.match(dx_one(code)))


def is_px_code(code: str) -> bool:
    return bool(_PX_CODE.match(px_one(code)))


Combination = tuple[tuple[str, ...], ...]


def parse_combination(text: str | None) -> Combination:
    """"A+B/C" -> (("A",), ("B", "C")): every `+` term must hold, a term holds when any of its
    `/` alternatives was performed. Empty text is the empty combination (no procedure).

    Raises ValueError naming the bad code.
    """
    if text is None or not text.strip():
        return ()
    terms = []
    for term in text.split("+"):
        alts = [px_one(a) for a in term.split("/")]
        for alt in alts:
            if not _PX_CODE.match(alt):
                raise ValueError(f"not an ICD-9-CM-3 code: {alt!r} in {text!r}")
        terms.append(tuple(sorted(set(alts))))
    return tuple(sorted(set(terms)))


def format_combination(combo: Combination) -> str:
    """Canonical text: alternatives and terms sorted, so procedure order never matters."""
    return "+".join("/".join(term) for term in combo)
