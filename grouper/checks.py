"""Checks beyond the scheme: `warnings` codes. They never change status, mdc, adrg or drg."""

from __future__ import annotations

import polars as pl

from grouper.errors import WarningCode as W
from grouper.ruleset import Ruleset

AGE_MAX = 130
BIRTH_WEIGHT_RANGE = (100, 10000)


def _explode(cases: pl.DataFrame, col: str) -> pl.DataFrame:
    from grouper.drg import explode_codes  # local: drg imports this module

    return explode_codes(cases, col)


def warnings_column(cases: pl.DataFrame, rs: Ruleset) -> pl.Expr:
    """An expression (over `cases`, which has `_row`) giving the sorted warning codes per case."""
    dx, px = _explode(cases, "diagnoses"), _explode(cases, "procedures")
    dx0 = dx.filter(pl.col("pos") == 0)
    sec = dx.filter(pl.col("pos") > 0)
    demo = cases.select("_row", "sex", "age", "age_days")
    not_newborn = (pl.col("age") >= 1) | ((pl.col("age") == 0) & (pl.col("age_days") > 28))
    blank = pl.col("code").str.strip_chars() == ""
    rows: dict[W, pl.Series] = {
        W.DX_UNKNOWN: dx.filter(~blank & ~pl.col("code").is_in(rs.known_dx.implode()))["_row"],
        W.PX_UNKNOWN: px.filter(~blank & ~pl.col("code").is_in(rs.known_px.implode()))["_row"],
        W.BLANK_CODE: pl.concat([dx.filter(blank)["_row"], px.filter(blank)["_row"]]),
        W.SEX_DX_CONFLICT: pl.concat([
            dx0.join(rs.sex_specific_dx, on="code").join(demo, on="_row")
            .filter(pl.col("sex").is_in([1, 2]) & (pl.col("sex") != pl.col("mdc_sex")))["_row"],
            # ICD-10 chapter XV (O00–O99, pregnancy and childbirth) on a male patient
            dx0.join(demo, on="_row").filter(pl.col("code").str.starts_with("O")
                                              & (pl.col("sex") == 1))["_row"],
        ]),
        # ICD-10 chapter XVI (P00–P96, perinatal conditions) on a patient older than 28 days
        W.NEWBORN_DX_NOT_NEWBORN: dx.filter(pl.col("code").str.starts_with("P"))
        .join(demo, on="_row").filter(not_newborn.fill_null(False))["_row"],
        W.PRINCIPAL_DX_REPEATED: sec.join(dx0.select("_row", "code"), on=["_row", "code"],
                                          how="semi")["_row"],
        W.DUPLICATE_DX: sec.filter(pl.struct("_row", "code").is_duplicated())["_row"],
        W.DUPLICATE_PX: px.filter(pl.struct("_row", "code").is_duplicated())["_row"],
        W.ASTERISK_PRINCIPAL_DX: dx0.filter(pl.col("code").str.ends_with("*"))["_row"],
    }
    flags = [pl.col("_row").is_in(r.unique().implode()).alias(code.value)
             for code, r in rows.items()]
    flags += [
        ((pl.col("age") < 0) | (pl.col("age") > AGE_MAX)).fill_null(False).alias(W.AGE_IMPLAUSIBLE),
        (pl.col("birth_weight").is_not_null()
         & ((pl.col("birth_weight") < BIRTH_WEIGHT_RANGE[0])
            | (pl.col("birth_weight") > BIRTH_WEIGHT_RANGE[1])))
        .fill_null(False).alias(W.BIRTH_WEIGHT_IMPLAUSIBLE),
        (pl.col("los") < 0).fill_null(False).alias(W.LOS_INVALID),
    ]
    ordered = sorted(W, key=lambda w: w.value)
    by_code = {f.meta.output_name(): f for f in flags}
    return pl.concat_list([
        pl.when(by_code[w.value]).then(pl.lit(w.value)).otherwise(pl.lit(None, pl.String))
        for w in ordered
    ]).list.drop_nulls().alias("warnings")


def warnings_one(case: dict[str, object], rs: Ruleset, lk: "object") -> list[str]:
    """The same checks for one normalised case (per-case path); `lk` is the dict lookup bundle."""
    dx = list(case.get("diagnoses") or [])  # type: ignore[call-overload]
    px = list(case.get("procedures") or [])  # type: ignore[call-overload]
    sex, age, age_days = case.get("sex"), case.get("age"), case.get("age_days")
    bw, los = case.get("birth_weight"), case.get("los")
    found: set[W] = set()
    known_dx, known_px = lk.known_dx, lk.known_px  # type: ignore[attr-defined]
    for code in dx:
        if not code.strip():
            found.add(W.BLANK_CODE)
        elif code not in known_dx:
            found.add(W.DX_UNKNOWN)
    for code in px:
        if not code.strip():
            found.add(W.BLANK_CODE)
        elif code not in known_px:
            found.add(W.PX_UNKNOWN)
    if dx:
        principal = dx[0]
        right = lk.sex_of_dx.get(principal)  # type: ignore[attr-defined]
        if sex in (1, 2) and ((right is not None and right != sex)
                              or (principal.startswith("O") and sex == 1)):
            found.add(W.SEX_DX_CONFLICT)
        if principal in dx[1:]:
            found.add(W.PRINCIPAL_DX_REPEATED)
        if len(set(dx[1:])) < len(dx[1:]):
            found.add(W.DUPLICATE_DX)
        if principal.endswith("*"):
            found.add(W.ASTERISK_PRINCIPAL_DX)
    older = age is not None and (age >= 1 or (age == 0 and age_days is not None and age_days > 28))
    if older and any(c.startswith("P") for c in dx):
        found.add(W.NEWBORN_DX_NOT_NEWBORN)
    if len(set(px)) < len(px):
        found.add(W.DUPLICATE_PX)
    if age is not None and (age < 0 or age > AGE_MAX):
        found.add(W.AGE_IMPLAUSIBLE)
    if bw is not None and not BIRTH_WEIGHT_RANGE[0] <= bw <= BIRTH_WEIGHT_RANGE[1]:
        found.add(W.BIRTH_WEIGHT_IMPLAUSIBLE)
    if los is not None and los < 0:
        found.add(W.LOS_INVALID)
    return sorted(w.value for w in found)
