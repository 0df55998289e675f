"""Shared fixtures: the oracle cases (reference groupings) copied into tests/data."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

DATA = Path(__file__).parent / "data"
RULESETS = ("chs_drg_11", "foshan_2022", "chs_drg_20")
EXPECTED = ("expected_status", "expected_mdc", "expected_adrg", "expected_drg")

# Patient ids are pseudonymised at ingest and refused without a key (engine.pseudonym): the
# tests' key, inherited by the CLI and service processes they start; never a production key.
TEST_PATIENT_KEY = "drgdip-test-patient-key-0123456789abcdef"
os.environ.setdefault("DRGDIP_PATIENT_KEY", TEST_PATIENT_KEY)
# CLI and service processes started by the tests (from any working directory) import this
# checkout, never a stale installed copy of the project
ROOT = Path(__file__).resolve().parents[1]
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)


@pytest.fixture(scope="session")
def oracle() -> dict[str, pl.DataFrame]:
    return {name: pl.read_parquet(DATA / f"{name}_dev.parquet") for name in RULESETS}
