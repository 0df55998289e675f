"""The fixed auxiliary-level rules (`grouper.dip_aux_levels`) compile to the same answer for a
frame (batch) and for one case, on every boundary; whole cases: test_dip_case_path.py."""

from __future__ import annotations

import itertools

import polars as pl

from grouper import dip_aux_levels as L

_AGES = [None, -1, 0, 1, 6, 7, 17, 18, 64, 65, 120]
_DAYS = [None, 0, 28, 29, 365]


def test_age_bands_batch_equals_one_case() -> None:
    pairs = list(itertools.product(_AGES, _DAYS))
    frame = pl.DataFrame({"age": [a for a, _ in pairs], "days": [d for _, d in pairs]},
                         schema={"age": pl.Int64, "days": pl.Int64})
    batch = frame.select(L.age_band_expr(pl.col("age"), pl.col("days"))).to_series().to_list()
    assert batch == [L.age_band(a, d) for a, d in pairs]
    # pinned: 28 days old is a neonate, 29 an infant; unknown days at age 0 an infant
    assert (L.age_band(0, 28), L.age_band(0, 29), L.age_band(0, None)) == (
        "neonate", "infant", "infant")
    assert (L.age_band(6, None), L.age_band(7, None), L.age_band(17, None),
            L.age_band(18, None), L.age_band(64, None), L.age_band(65, None),
            L.age_band(None, 3)) == ("child", "adolescent", "adolescent", "adult", "adult",
                                     "elderly", "adult")


def test_cci_levels_batch_equals_one_case() -> None:
    points = list(range(9))
    batch = pl.DataFrame({"p": points + [None]}).select(
        L.cci_level_expr(pl.col("p"))).to_series().to_list()
    assert batch == [L.cci_level(p) for p in points] + [L.cci_level(0)]
    assert [L.cci_level(p) for p in (0, 1, 2, 3, 4, 8)] == ["0", "1", "2", "2", "3", "3"]
    # an MCC counts 2 points, a CC 1: one MCC alone is level 2, two CCs too
    assert L.cci_level(L.CCI_POINTS["mcc"]) == L.cci_level(2 * L.CCI_POINTS["cc"]) == "2"


def test_malignant_range_batch_equals_one_case() -> None:
    codes = ["C00.000", "C97.x00", "C98.000", "C7A", "D00.000", "C", "C0", "C50", "c50.900",
             "B97.000", "C9"]
    batch = pl.DataFrame({"dx0": codes + [None]}).select(
        L.is_malignant_expr(pl.col("dx0"))).to_series().to_list()
    assert batch[:-1] == [L.is_malignant(c) for c in codes]
    assert batch[-1] is None
    assert [c for c in codes if L.is_malignant(c)] == ["C00.000", "C97.x00", "C50"]
