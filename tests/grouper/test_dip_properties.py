"""DIP grouping properties: rows and order kept, procedure order irrelevant, never raises."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grouper import DipCatalog, group_dip
from grouper.dip import OUTPUT_COLUMNS
from weights.dip_catalog_io import import_catalog, require_clean

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "fixtures"
CATALOG = DipCatalog(
    groups=require_clean(import_catalog(FIXTURES / "dip_golden_catalog.csv")).groups,
    aux=pl.read_csv(FIXTURES / "dip_golden_aux.csv", infer_schema_length=0))

DX = st.sampled_from(["K80.100", "K80.101", "K80.201", "J18.900", "S52.500", "C34.100",
                      "C78.000", "I50.000", "I10.x00", "k80101", "", " ", "Z", "123", "K8"])
PX = st.sampled_from(["51.2300", "51.2200", "88.0100", "87.5400", "99.1800", "5123", "",
                      "x", "99", "13.4100"])
GARBAGE = st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 200), st.floats())


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"case_id": pl.String, "age": pl.Int64,
                                      "tcm_treatment": pl.Boolean, "day_surgery": pl.Boolean,
                                      "diagnoses": pl.List(pl.String),
                                      "procedures": pl.List(pl.String)})


CASE = st.fixed_dictionaries({
    "age": st.one_of(st.none(), st.integers(0, 110)),
    "tcm_treatment": st.booleans(), "day_surgery": st.booleans(),
    "diagnoses": st.lists(DX, max_size=4), "procedures": st.lists(PX, max_size=4),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CASE, max_size=25))
@example([])
def test_rows_and_order_kept(cases: list[dict[str, object]]) -> None:
    rows = [{"case_id": f"c{i:03d}", **c} for i, c in enumerate(cases)]
    out = group_dip(_frame(rows), CATALOG)
    assert out.columns == list(OUTPUT_COLUMNS)
    assert out["case_id"].to_list() == [r["case_id"] for r in rows]
    assert set(out["status"].to_list()) <= {"ok", "ungroupable", "invalid"}
    assert out.filter((pl.col("status") == "ok") != pl.col("dip_code").is_not_null()).height == 0
    assert out.filter((pl.col("status") != "ok") & pl.col("error_code").is_null()).height == 0


@settings(max_examples=60, deadline=None)
@given(CASE, st.randoms(use_true_random=False))
@example({"age": 45, "tcm_treatment": False, "day_surgery": False,
          "diagnoses": ["K80.101"], "procedures": ["88.0100", "51.2300"]}, None)
def test_procedure_order_irrelevant(case: dict[str, object], rnd: object) -> None:
    shuffled = list(case["procedures"])  # type: ignore[call-overload]
    if rnd is not None:
        rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    else:
        shuffled.reverse()
    rows = [{"case_id": "a", **case}, {"case_id": "b", **case, "procedures": shuffled}]
    out = group_dip(_frame(rows), CATALOG).drop("case_id")
    assert out.row(0) == out.row(1)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "case_id": GARBAGE, "age": GARBAGE, "los": GARBAGE, "discharge_way": GARBAGE,
    "tcm_treatment": GARBAGE, "day_surgery": GARBAGE,
    "diagnoses": st.one_of(st.none(), st.text(max_size=20), st.lists(st.one_of(
        st.none(), st.text(max_size=8), DX), max_size=3)),
    "procedures": st.one_of(st.none(), st.text(max_size=20), st.lists(st.one_of(
        st.none(), st.text(max_size=8), PX), max_size=3)),
}), min_size=1, max_size=10))
def test_never_raises_on_garbage(rows: list[dict[str, object]]) -> None:
    # Columns of mixed garbage arrive as text, as a CSV reader would hand them over.
    frame = pl.DataFrame(
        {k: [None if r[k] is None else (r[k] if isinstance(r[k], list) and all(
            isinstance(x, str) or x is None for x in r[k]) else str(r[k]))  # type: ignore[union-attr]
             for r in rows] for k in rows[0]}, strict=False)
    out = group_dip(frame, CATALOG)
    assert out.height == len(rows)
    assert out.filter(pl.col("status").is_null()).height == 0
