"""Checks beyond the scheme: `warnings` codes. They never change status, mdc, adrg or drg."""

from __future__ import annotations

import numpy as np
import polars as pl

from grouper.case_input import explode_codes
from grouper.errors import WarningCode as W
from grouper.lookup import CaseLookups
from grouper.ruleset import Ruleset

AGE_MAX = 130
# What a "blank" code may consist of (ASCII whitespace, no-break and ideographic spaces); one
# explicit set so the batch and per-case paths agree exactly.
BLANK_CHARS = " \t\n\r\x0b\x0c\u00a0\u3000"
BIRTH_WEIGHT_RANGE = (100, 10000)


def _repeat_candidates(ex: pl.DataFrame) -> np.ndarray:
    """Rows whose code list may hold a code twice (hash-equal codes in one row).

    Cheap: one sort of (row, hash) integers; the few candidate rows are then checked exactly.
    """
    if ex.height == 0:
        return np.zeros(0, dtype=np.int64)
    h = ex["code"].hash(seed=7).to_numpy() & np.uint64((1 << 40) - 1)
    key = np.sort((ex["_row"].to_numpy().astype(np.uint64) << np.uint64(40)) | h)
    same = np.flatnonzero(key[1:] == key[:-1])
    return np.unique((key[same] >> np.uint64(40)).astype(np.int64))


def _distinct(mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(mask, return_inverse=True)` for small non-negative ints, without a sort."""
    present = np.zeros(size, dtype=bool)
    present[mask] = True
    distinct = np.flatnonzero(present)
    slot = np.zeros(size, dtype=np.int64)
    slot[distinct] = np.arange(distinct.size)
    return distinct, slot[mask]


def warnings_column(cases: pl.DataFrame, rs: Ruleset, dx: pl.DataFrame | None = None,
                    px: pl.DataFrame | None = None) -> pl.Series:
    """The sorted warning codes per case (a list[str] Series aligned with `cases`).

    `dx`/`px` are the exploded code tables of all rows (computed here when not given).
    """
    dx = explode_codes(cases, "diagnoses") if dx is None else dx
    px = explode_codes(cases, "procedures") if px is None else px
    n = cases.height

    def rows_flag(rows: pl.Series | np.ndarray) -> pl.Expr:
        arr = np.zeros(n, dtype=bool)
        arr[rows.to_numpy() if isinstance(rows, pl.Series) else rows] = True
        return pl.lit(pl.Series(arr))

    principal = pl.col("diagnoses").list.first()
    secondary = pl.col("diagnoses").list.slice(1)
    not_newborn = (pl.col("age") >= 1) | ((pl.col("age") == 0) & (pl.col("age_days") > 28))
    sexed = rs.sex_specific_dx
    mdc_sex = principal.replace_strict(sexed["code"], sexed["mdc_sex"], default=None,
                                       return_dtype=pl.Int64)
    odd_dx = dx.filter(~pl.col("code").is_in(rs.known_dx.implode()))
    odd_px = px.filter(~pl.col("code").is_in(rs.known_px.implode()))
    blank = pl.col("code").str.strip_chars(BLANK_CHARS) == ""
    # exact repeat checks, only on the rows whose lists may repeat a code
    dx_rep = _repeat_candidates(dx)
    px_rep = _repeat_candidates(px)
    sub = cases.select("diagnoses")[pl.Series(dx_rep)].select(
        secondary.list.contains(principal).alias("rep"),
        (secondary.list.n_unique() < secondary.list.len()).alias("dup"))
    px_dup = cases.select("procedures")[pl.Series(px_rep)].select(
        pl.col("procedures").list.n_unique() < pl.col("procedures").list.len())
    flags = [
        rows_flag(odd_dx.filter(~blank)["_row"]).alias(W.DX_UNKNOWN),
        rows_flag(odd_px.filter(~blank)["_row"]).alias(W.PX_UNKNOWN),
        rows_flag(pl.concat([odd_dx.filter(blank)["_row"], odd_px.filter(blank)["_row"]]))
        .alias(W.BLANK_CODE),
        # a principal diagnosis of a one-sex MDC on the other sex, or ICD-10 chapter XV
        # (O00–O99, pregnancy and childbirth) on a male patient
        (pl.col("sex").is_in([1, 2])
         & ((mdc_sex.is_not_null() & (mdc_sex != pl.col("sex")))
            | (principal.str.starts_with("O") & (pl.col("sex") == 1)))).alias(W.SEX_DX_CONFLICT),
        # ICD-10 chapter XVI (P00–P96, perinatal conditions) on a patient older than 28 days
        (rows_flag(dx.filter(pl.col("code").str.starts_with("P"))["_row"]) & not_newborn)
        .alias(W.NEWBORN_DX_NOT_NEWBORN),
        rows_flag(dx_rep[sub["rep"].fill_null(False).to_numpy()]).alias(W.PRINCIPAL_DX_REPEATED),
        rows_flag(dx_rep[sub["dup"].fill_null(False).to_numpy()]).alias(W.DUPLICATE_DX),
        rows_flag(px_rep[px_dup.to_series().fill_null(False).to_numpy()]).alias(W.DUPLICATE_PX),
        principal.str.ends_with("*").alias(W.ASTERISK_PRINCIPAL_DX),
        ((pl.col("age") < 0) | (pl.col("age") > AGE_MAX)).alias(W.AGE_IMPLAUSIBLE),
        (pl.col("birth_weight").is_not_null()
         & ((pl.col("birth_weight") < BIRTH_WEIGHT_RANGE[0])
            | (pl.col("birth_weight") > BIRTH_WEIGHT_RANGE[1]))).alias(W.BIRTH_WEIGHT_IMPLAUSIBLE),
        (pl.col("los") < 0).alias(W.LOS_INVALID),
    ]
    flags = [f.fill_null(False) for f in flags]
    # One bit per warning, then the few distinct masks become code lists by a gather.
    ordered = sorted(W, key=lambda w: w.value)
    values = cases.select(flags)
    mask = np.zeros(n, dtype=np.int64)
    for i, w in enumerate(ordered):
        mask |= values[w.value].to_numpy().astype(np.int64) << i
    distinct, inverse = _distinct(mask, 1 << len(ordered))
    table = pl.Series("warnings", [[w.value for i, w in enumerate(ordered) if int(m) >> i & 1]
                                   for m in distinct], dtype=pl.List(pl.String))
    return table.gather(pl.Series(inverse.astype(np.uint32)))


def warnings_one(case: dict[str, object], rs: Ruleset, lk: CaseLookups) -> list[str]:
    """The same checks for one normalised case (per-case path); `lk` is the dict lookup bundle."""
    dx = list(case.get("diagnoses") or [])  # type: ignore[call-overload]
    px = list(case.get("procedures") or [])  # type: ignore[call-overload]
    sex, age, age_days = case.get("sex"), case.get("age"), case.get("age_days")
    bw, los = case.get("birth_weight"), case.get("los")
    found: set[W] = set()
    known_dx, known_px = lk.known_dx, lk.known_px
    for code in dx:
        if not code.strip(BLANK_CHARS):
            found.add(W.BLANK_CODE)
        elif code not in known_dx:
            found.add(W.DX_UNKNOWN)
    for code in px:
        if not code.strip(BLANK_CHARS):
            found.add(W.BLANK_CODE)
        elif code not in known_px:
            found.add(W.PX_UNKNOWN)
    if dx:
        principal = dx[0]
        right = lk.sex_of_dx.get(principal)
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
