"""A small multi-year history: the oracle cases with seeded lognormal costs (per-DRG level so
that weights differ), lengths of stay and discharge years 2021–2023."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from grouper import group_drg

DATA = Path(__file__).parents[1] / "data"
YEARS = (2021, 2022, 2023)


def make_history(n_copies: int = 1, seed: int = 7) -> pl.DataFrame:
    base = pl.read_parquet(DATA / "chs_drg_11_dev.parquet").drop(
        "expected_status", "expected_mdc", "expected_adrg", "expected_drg")
    cases = pl.concat([base.with_columns(pl.col("case_id") + f"-{i}") for i in range(n_copies)])
    rng = np.random.default_rng(seed)
    n = cases.height
    # a cost level per principal diagnosis chapter letter makes the RWs spread out
    level = cases.select(pl.col("diagnoses").list.first().str.slice(0, 1)
                         .fill_null("Z"))["diagnoses"].to_list()
    mu = np.array([8.0 + (ord(c) % 7) * 0.35 for c in level])
    cost = np.round(rng.lognormal(mu, 0.55, n), 2)
    cost[rng.random(n) < 0.01] *= 12  # a few extreme cases for the trimming to find
    return cases.with_columns(
        pl.Series("total_cost", cost),
        pl.Series("year", rng.choice(YEARS, n)).cast(pl.Int64),
        pl.Series("los", rng.integers(1, 30, n)).cast(pl.Int64),
    )


@pytest.fixture(scope="session")
def history() -> pl.DataFrame:
    return make_history()


@pytest.fixture(scope="session")
def grouped(history: pl.DataFrame) -> pl.DataFrame:
    return group_drg(history, "chs_drg_11")
