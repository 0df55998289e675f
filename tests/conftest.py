"""Shared fixtures: the oracle cases (reference groupings) copied into tests/data."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

DATA = Path(__file__).parent / "data"
RULESETS = ("chs_drg_11", "foshan_2022", "chs_drg_20")
EXPECTED = ("expected_status", "expected_mdc", "expected_adrg", "expected_drg")


@pytest.fixture(scope="session")
def oracle() -> dict[str, pl.DataFrame]:
    return {name: pl.read_parquet(DATA / f"{name}_dev.parquet") for name in RULESETS}
