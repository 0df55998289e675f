"""The shipped procedure-class tables are exactly their documented derivation from the ruleset
tables (chs_drg_11: the default; chs_drg_20: 医保版 ICD-9-CM-3 2.0, for --procedure-classes)."""

from __future__ import annotations

import polars as pl
import pytest

from grouper import load_ruleset
from grouper.dip_procedure_class import (
    derive_procedure_classes,
    load_procedure_classes,
    procedure_ranks,
)


def test_shipped_table_equals_derivation() -> None:
    derived = derive_procedure_classes(load_ruleset("chs_drg_11").tables)
    shipped = load_procedure_classes().select("code", "class", "basis")
    assert shipped.equals(derived)


def test_shipped_2_0_table_equals_derivation_and_loads_as_a_region_table() -> None:
    from pathlib import Path

    import grouper.dip_procedure_class as m

    path = Path(m.__file__).with_name("dip_data") / "procedure_class_chs_drg_20.csv"
    derived = derive_procedure_classes(load_ruleset("chs_drg_20").tables)
    assert pl.read_csv(path, infer_schema_length=0).equals(derived)
    assert load_procedure_classes(str(path)).select("code", "class").equals(
        derived.select("code", "class"))


@pytest.mark.parametrize(("code", "expected"), [
    ("51.2300", "surgical"),          # operating-room list
    ("88.0100", "diagnostic"),        # chapter 87-91
    ("92.0101", "diagnostic"),        # nuclear-medicine scan prefix
    ("45.1300", "diagnostic"),        # name: 小肠其他内镜检查
    ("99.2500", "therapeutic"),       # chemotherapy injection, not OR
    ("51.2300x999", "surgical"),      # unknown extension: its base code
    ("89.9999x1", "diagnostic"),      # unknown code: chapter rule
    ("93.9999", "therapeutic"),       # unknown code: default
])
def test_classes(code: str, expected: str) -> None:
    ranks = procedure_ranks(pl.DataFrame({"_row": [0], "code": [code]}),
                            load_procedure_classes())
    assert ["conservative", "diagnostic", "therapeutic", "surgical"][ranks["rank"].item()] \
        == expected


@pytest.mark.parametrize("ruleset", ["chs_drg_11", "chs_drg_20"])
def test_no_published_code_has_an_upper_case_x_extension(ruleset: str) -> None:
    """Why a case's `X` can be read as `x` (grouper.dip_codes): in the 医保版 dictionaries an
    upper-case X occurs only as the chapter letter of X00–X99, never after it, so the reading
    turns no published code into another."""
    t = load_ruleset(ruleset).tables
    assert t["icd9cm3"].filter(pl.col("code").str.contains("X")).height == 0
    dx = t["icd10"]["code"]
    assert dx.str.slice(1).str.contains("X").sum() == 0
    assert dx.str.starts_with("X").sum() > 0  # the chapter letter stays as written
