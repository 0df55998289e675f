"""Hand-worked DIP golden cases: one titled row per match path (data/fixtures/dip_golden.csv).

The catalogue is data/fixtures/dip_golden_catalog.csv in the official layout (病种编码, 主要诊断编码,
主要诊断名称, 手术操作编码, 分值, 病种类型) plus dip_golden_aux.csv; every expected value was worked
out by hand from those two files and payment-rules §3.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from grouper import DipCatalog, explain_dip, group_dip
from weights.dip_catalog_io import import_catalog, require_clean

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "fixtures"
GOLDEN = pl.read_csv(FIXTURES / "dip_golden.csv", infer_schema_length=0).with_columns(
    pl.all().fill_null(""))


def golden_catalog(aux_combine: str = "max") -> DipCatalog:
    catalog = require_clean(import_catalog(FIXTURES / "dip_golden_catalog.csv"))
    aux = pl.read_csv(FIXTURES / "dip_golden_aux.csv", infer_schema_length=0)
    return DipCatalog(groups=catalog.groups, aux=aux, aux_combine=aux_combine)


@pytest.fixture(scope="module")
def catalog() -> DipCatalog:
    return golden_catalog()


def as_cases(rows: pl.DataFrame) -> pl.DataFrame:
    """The golden rows as a case table (lists `|`-separated, as in CSV input)."""
    return rows.select("case_id", pl.col("age").cast(pl.Int64), "discharge_way", "los",
                       "tcm_treatment", "day_surgery", "diagnoses", "procedures")


def _num(text: str) -> float | None:
    return float(text) if text else None


@pytest.fixture(scope="module")
def batch(catalog: DipCatalog) -> pl.DataFrame:
    return group_dip(as_cases(GOLDEN), catalog)


@pytest.mark.parametrize("golden", GOLDEN.to_dicts(), ids=GOLDEN["title"].to_list())
def test_golden_case(golden: dict[str, str], batch: pl.DataFrame) -> None:
    got = batch.filter(pl.col("case_id") == golden["case_id"]).row(0, named=True)
    expected = {
        "status": golden["expected_status"], "error_code": golden["expected_error_code"] or None,
        "dip_code": golden["expected_dip_code"] or None,
        "dip_type": golden["expected_dip_type"] or None,
        "dip_score": _num(golden["expected_dip_score"]),
        "aux_dimension": golden["expected_aux_dimension"] or None,
        "aux_coef": _num(golden["expected_aux_coef"]),
        "adjusted_score": _num(golden["expected_adjusted_score"]),
    }
    actual = {k: got[k] for k in expected}
    assert actual == expected, golden["title"]
    if got["status"] != "ok":
        assert got["error_message"] and " / " in got["error_message"]  # Chinese / English


@pytest.mark.parametrize("golden", GOLDEN.to_dicts(), ids=GOLDEN["title"].to_list())
def test_explain_agrees_with_batch(golden: dict[str, str], catalog: DipCatalog,
                                   batch: pl.DataFrame) -> None:
    row = as_cases(GOLDEN.filter(pl.col("case_id") == golden["case_id"])).row(0, named=True)
    trace = explain_dip(row, catalog)
    assert trace.result == batch.filter(pl.col("case_id") == golden["case_id"]).row(
        0, named=True), golden["title"]
    assert trace.steps, golden["title"]
    if trace.result["dip_type"] not in (None, "comprehensive"):
        assert any(c["matched"] and c["dip_code"] == trace.result["dip_code"]
                   for c in trace.candidates), golden["title"]


def test_priority_combine_takes_tumour_before_cci() -> None:
    """aux_combine=priority: tumour > severity > CCI > age, whatever the sizes."""
    cases = pl.DataFrame({"case_id": ["p1", "p2"], "age": [70, 70],
                          "diagnoses": [["K80.101", "I50.000"], ["K80.101"]],
                          "procedures": [["51.2300"], ["51.2300"]]})
    out = group_dip(cases, golden_catalog("priority"))
    assert out.select("aux_dimension", "aux_coef").rows() == [("cci", 1.3), ("age", 1.1)]
