"""The shipped procedure-class table is exactly its documented derivation from the ruleset."""

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
