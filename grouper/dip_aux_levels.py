"""The fixed rules of the auxiliary-catalogue levels (payment-rules §3.2), defined once as data.

`grouper.dip_aux` (the batch, polars) and `grouper.dip_explain` (one case, plain Python) both
read these: the death code, the malignant range, the CCI points and level thresholds, the age
bands and the group types with a fixed score. Each rule is compiled here to both forms
(`*_expr` for a frame, the plain function for one case); `tests/grouper/test_dip_aux_levels.py`
checks the two agree on every boundary, `tests/grouper/test_dip_case_path.py` whole cases.
The prefix tables (severity, tumour treatment) are data of their own: `dip_data/aux_rules.csv`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from grouper.dip_catalog import AUX_REFERENCE

DISCHARGE_DEATH = 5  # contracts §1 discharge_way 离院方式: 5 死亡
SEVERITY_DEATH = "death"  # the severity level of a case that died
# malignant neoplasms: principal diagnosis in category C00–C97 (ICD-10 chapter II)
MALIGNANT_CATEGORIES: tuple[str, ...] = tuple(f"C{n:02d}" for n in range(98))
CCI_POINTS = {"mcc": 2, "cc": 1}  # points per secondary diagnosis on the MCC / CC list
# (at least this many points, level), highest first; fewer than the last: AUX_REFERENCE["cci"]
CCI_LEVELS: tuple[tuple[int, str], ...] = ((4, "3"), (2, "2"), (1, "1"))
FIXED_SCORE_TYPES = ("tcm", "day_surgery")  # their groups carry fixed scores: coefficient 1


@dataclass(frozen=True)
class AgeBand:
    band: str
    age_min: int  # years, inclusive
    age_max: int | None  # years, inclusive; None = no upper bound
    age_days_max: int | None = None  # and at most this many days old (neonate)


# first that holds wins; none: AUX_REFERENCE["age"] (adult). An unknown age_days is not a
# neonate's; an unknown age is an adult's.
AGE_BANDS: tuple[AgeBand, ...] = (
    AgeBand("neonate", 0, 0, 28),
    AgeBand("infant", 0, 0),
    AgeBand("child", 1, 6),
    AgeBand("adolescent", 7, 17),
    AgeBand("elderly", 65, None),
)


def _band_expr(b: AgeBand, age: pl.Expr, days: pl.Expr) -> pl.Expr:
    test = age >= b.age_min if b.age_max is None else age.is_between(b.age_min, b.age_max)
    return test if b.age_days_max is None else test & (days <= b.age_days_max)


def age_band_expr(age: pl.Expr, days: pl.Expr) -> pl.Expr:
    """The age band of each row (a `pl.when` chain over `AGE_BANDS`)."""
    expr = pl.lit(AUX_REFERENCE["age"])
    for b in reversed(AGE_BANDS):  # nested from the last: the first that holds wins
        expr = pl.when(_band_expr(b, age, days)).then(pl.lit(b.band)).otherwise(expr)
    return expr


def age_band(age: int | None, days: int | None) -> str:
    """The age band of one case (the first of `AGE_BANDS` that holds)."""
    if age is not None:
        for b in AGE_BANDS:
            if age >= b.age_min and (b.age_max is None or age <= b.age_max) and (
                    b.age_days_max is None or (days is not None and days <= b.age_days_max)):
                return b.band
    return AUX_REFERENCE["age"]


def cci_level_expr(points: pl.Expr) -> pl.Expr:
    """The CCI level of each row's points (0 where null)."""
    points = points.fill_null(0)
    expr = pl.lit(AUX_REFERENCE["cci"])
    for least, level in reversed(CCI_LEVELS):  # the highest threshold reached wins
        expr = pl.when(points >= least).then(pl.lit(level)).otherwise(expr)
    return expr


def cci_level(points: int) -> str:
    """The CCI level of one case's points."""
    return next((level for least, level in CCI_LEVELS if points >= least), AUX_REFERENCE["cci"])


def is_malignant_expr(dx0: pl.Expr) -> pl.Expr:
    """Whether each principal diagnosis is in a malignant category (null where unknown)."""
    return dx0.str.slice(0, 3).is_in(MALIGNANT_CATEGORIES)


def is_malignant(dx0: str) -> bool:
    """Whether one principal diagnosis is in a malignant category."""
    return dx0[:3] in _MALIGNANT_SET


_MALIGNANT_SET = frozenset(MALIGNANT_CATEGORIES)
