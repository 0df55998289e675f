"""Validation edits of the ruleset README (section 1), in their order, as one expression."""

from __future__ import annotations

import polars as pl

from grouper.errors import ERROR_MESSAGES, ErrorCode


def validation_error() -> pl.Expr:
    """The first failed edit's code, or null. Needs sex, age, age_days, birth_weight, diagnoses."""
    sex, age = pl.col("sex"), pl.col("age")
    newborn = (age == 0) & (pl.col("age_days") <= 28)
    return (
        pl.when(sex.is_null() | ~sex.is_in([1, 2])).then(pl.lit(ErrorCode.SEX_INVALID.value))
        .when(age.is_null()).then(pl.lit(ErrorCode.AGE_INVALID.value))
        .when((age == 0) & pl.col("age_days").is_null())
        .then(pl.lit(ErrorCode.AGE_DAYS_MISSING.value))
        .when(newborn & pl.col("birth_weight").is_null())
        .then(pl.lit(ErrorCode.BIRTH_WEIGHT_MISSING.value))
        .when(pl.col("diagnoses").list.len() == 0).then(pl.lit(ErrorCode.DIAGNOSIS_MISSING.value))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def validation_error_one(case: dict[str, object]) -> ErrorCode | None:
    """The same edits for one normalised case (the per-case path)."""
    sex, age = case.get("sex"), case.get("age")
    if sex not in (1, 2):
        return ErrorCode.SEX_INVALID
    if age is None:
        return ErrorCode.AGE_INVALID
    age_days = case.get("age_days")
    if age == 0 and age_days is None:
        return ErrorCode.AGE_DAYS_MISSING
    if age == 0 and age_days is not None and age_days <= 28 and case.get("birth_weight") is None:
        return ErrorCode.BIRTH_WEIGHT_MISSING
    if not case.get("diagnoses"):
        return ErrorCode.DIAGNOSIS_MISSING
    return None


def error_message() -> pl.Expr:
    """Message for the `error_code` column."""
    return pl.col("error_code").replace_strict(
        {code.value: msg for code, msg in ERROR_MESSAGES.items()}, default=None,
        return_dtype=pl.String)
