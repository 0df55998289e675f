"""Checks beyond the scheme: `warnings` codes. They never change status, mdc, adrg or drg."""

from __future__ import annotations

import numpy as np
import polars as pl

from grouper.errors import WarningCode as W
from grouper.ruleset import Ruleset

AGE_MAX = 130
BIRTH_WEIGHT_RANGE = (100, 10000)


def _explode(cases: pl.DataFrame, col: str) -> pl.DataFrame:
    from grouper.drg import explode_codes  # local: drg imports this module

    return explode_codes(cases, col)


def warnings_column(cases: pl.DataFrame, rs: Ruleset) -> pl.Series:
    """The sorted warning codes per case (a list[str] Series aligned with `cases`)."""
    dx, px = _explode(cases, "diagnoses"), _explode(cases, "procedures")
    n = cases.height

    def rows_flag(rows: pl.Series) -> pl.Series:
        arr = np.zeros(n, dtype=bool)
        arr[rows.to_numpy()] = True
        return pl.Series(arr)

    principal = pl.col("diagnoses").list.first()
    secondary = pl.col("diagnoses").list.slice(1)
    procedures = pl.col("procedures")
    not_newborn = (pl.col("age") >= 1) | ((pl.col("age") == 0) & (pl.col("age_days") > 28))
    sexed = rs.sex_specific_dx
    mdc_sex = principal.replace_strict(sexed["code"], sexed["mdc_sex"], default=None,
                                       return_dtype=pl.Int64)

    def blank(col: str) -> pl.Expr:
        return pl.col(col).list.eval(pl.element().str.strip_chars() == "").list.any()

    unknown = pl.col("code").str.strip_chars() != ""
    flags = [
        rows_flag(dx.filter(unknown & ~pl.col("code").is_in(rs.known_dx.implode()))["_row"])
        .alias(W.DX_UNKNOWN),
        rows_flag(px.filter(unknown & ~pl.col("code").is_in(rs.known_px.implode()))["_row"])
        .alias(W.PX_UNKNOWN),
        (blank("diagnoses") | blank("procedures")).alias(W.BLANK_CODE),
        # a principal diagnosis of a one-sex MDC on the other sex, or ICD-10 chapter XV
        # (O00–O99, pregnancy and childbirth) on a male patient
        (pl.col("sex").is_in([1, 2])
         & ((mdc_sex.is_not_null() & (mdc_sex != pl.col("sex")))
            | (principal.str.starts_with("O") & (pl.col("sex") == 1)))).alias(W.SEX_DX_CONFLICT),
        # ICD-10 chapter XVI (P00–P96, perinatal conditions) on a patient older than 28 days
        (pl.col("diagnoses").list.eval(pl.element().str.starts_with("P")).list.any()
         & not_newborn).alias(W.NEWBORN_DX_NOT_NEWBORN),
        secondary.list.contains(principal).alias(W.PRINCIPAL_DX_REPEATED),
        (secondary.list.n_unique() < secondary.list.len()).alias(W.DUPLICATE_DX),
        (procedures.list.n_unique() < procedures.list.len()).alias(W.DUPLICATE_PX),
        principal.str.ends_with("*").alias(W.ASTERISK_PRINCIPAL_DX),
        ((pl.col("age") < 0) | (pl.col("age") > AGE_MAX)).alias(W.AGE_IMPLAUSIBLE),
        (pl.col("birth_weight").is_not_null()
         & ((pl.col("birth_weight") < BIRTH_WEIGHT_RANGE[0])
            | (pl.col("birth_weight") > BIRTH_WEIGHT_RANGE[1]))).alias(W.BIRTH_WEIGHT_IMPLAUSIBLE),
        (pl.col("los") < 0).alias(W.LOS_INVALID),
    ]
    flags = [f.fill_null(False) if isinstance(f, pl.Expr) else f for f in flags]
    # One bit per warning, then the few distinct masks are turned into code lists by a join.
    ordered = sorted(W, key=lambda w: w.value)
    by_code = {(f.meta.output_name() if isinstance(f, pl.Expr) else f.name): f for f in flags}
    mask = pl.sum_horizontal([pl.lit(by_code[w.value]).cast(pl.UInt32) * (1 << i)
                              if isinstance(by_code[w.value], pl.Series)
                              else by_code[w.value].cast(pl.UInt32) * (1 << i)
                              for i, w in enumerate(ordered)]).alias("_mask")
    masks = cases.select(mask)
    distinct = masks["_mask"].unique()
    table = pl.DataFrame({
        "_mask": distinct,
        "warnings": [[w.value for i, w in enumerate(ordered) if m >> i & 1] for m in distinct],
    }, schema={"_mask": pl.UInt32, "warnings": pl.List(pl.String)})
    return masks.join(table, on="_mask", how="left", maintain_order="left")["warnings"]


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
