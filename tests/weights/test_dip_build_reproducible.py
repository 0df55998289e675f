"""`weights build-dip` is reproducible (issue 12/16): the same history gives byte-identical
versions — same checksum in the store — even with its rows in another order, because every
mean, CV, same-level mean and aux coefficient is summed exactly (weights.exact_means)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from weights.dip_build import build_dip_catalog
from weights.dip_store import save_catalog
from weights.store import open_store
from weights.versions import checksum

ROOT = Path(__file__).resolve().parents[2]
REGION = ROOT / "data" / "fixtures" / "region"


def _history() -> tuple[pl.DataFrame, pl.DataFrame | None]:
    cases = pl.read_parquet(REGION / "cases.parquet")
    hosp = next(iter(sorted(REGION.glob("hospitals*.parquet"))), None)
    return cases, (pl.read_parquet(hosp) if hosp is not None else None)


def _build_checksum(db: Path, cases: pl.DataFrame, hospitals: pl.DataFrame | None) -> str:
    build = build_dip_catalog(cases, hospitals=hospitals)
    save_catalog(db, build.catalog, "v1", level_costs=build.level_costs)
    con = open_store(db, read_only=True)
    try:
        return checksum(con, "dip", "v1")
    finally:
        con.close()


@pytest.mark.slow
def test_build_dip_twice_and_shuffled_gives_the_same_checksum(tmp_path: Path):
    cases, hospitals = _history()
    first = _build_checksum(tmp_path / "a.duckdb", cases, hospitals)
    again = _build_checksum(tmp_path / "b.duckdb", cases, hospitals)
    shuffled = _build_checksum(tmp_path / "c.duckdb",
                               cases.sample(fraction=1.0, shuffle=True, seed=3), hospitals)
    assert first == again == shuffled
