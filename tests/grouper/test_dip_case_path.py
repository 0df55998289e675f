"""The per-case DIP path (`group_dip_one`, `explain_dip`: dict lookups) gives `group_dip`'s answer,
every output column, row for row: on the whole fixture region, the hand-worked golden cases,
hand-written input edge cases and hypothesis-generated catalogues and cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grouper import DipCatalog, group_dip, load_ruleset
from grouper.dip import OUTPUT_COLUMNS, candidates, explode_px, prepare_dip_cases, treatment_ranks
from grouper.dip_catalog import AUX_LEVELS
from grouper.dip_codes import format_combination, parse_combination
from grouper.dip_explain import RESULT_SCHEMA, explain_dip, group_dip_one
from grouper.dip_lookup import dip_lookups
from grouper.dip_procedure_class import CLASSES
from grouper.errors import InputError
from weights.dip_build import DipBuildParams, build_dip_catalog
from weights.dip_catalog_io import import_catalog, require_clean

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "data" / "fixtures"
REGION = FIXTURES / "region" / "cases.parquet"


def assert_same(batch: pl.DataFrame, fast: list[dict[str, Any]], what: str) -> None:
    """Row for row, every contract column, exact (floats included)."""
    assert batch.schema == RESULT_SCHEMA
    want = batch.to_dicts()
    assert len(fast) == len(want), what
    for got, row in zip(fast, want, strict=True):
        assert list(got) == list(OUTPUT_COLUMNS), what
        assert got == row, (what, row["case_id"], {k: (got[k], row[k]) for k in row
                                                   if got[k] != row[k]})


def per_case(frame: pl.DataFrame, catalog: DipCatalog) -> list[dict[str, Any]]:
    return [group_dip_one(row, catalog) for row in frame.to_dicts()]


# -- the fixture region ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def region() -> pl.DataFrame:
    return pl.read_parquet(REGION)


@pytest.fixture(scope="module", params=[
    "default", pytest.param("threshold3_priority", marks=pytest.mark.slow)])
def region_catalog(request: pytest.FixtureRequest, region: pl.DataFrame) -> DipCatalog:
    """Built from the region itself (as the DIP build tests do); the second one has many more
    core groups (+ combinations) and combines auxiliary coefficients by priority."""
    params = (DipBuildParams() if request.param == "default"
              else DipBuildParams(core_threshold=3, aux_combine="priority"))
    return build_dip_catalog(region, params).catalog


def test_whole_region_per_case_equals_batch(region: pl.DataFrame,
                                            region_catalog: DipCatalog) -> None:
    batch = group_dip(region, region_catalog)
    # the comparison is only as good as the paths it covers
    assert set(batch["dip_type"].drop_nulls()) >= {"core", "comprehensive", "tcm"}
    assert batch["aux_dimension"].n_unique() >= 4
    assert_same(batch, per_case(region, region_catalog), "region")


def test_explain_candidates_equal_batch_candidates(region: pl.DataFrame,
                                                   region_catalog: DipCatalog) -> None:
    """The trace lists exactly the batch's candidate groups, with the batch's matched flag."""
    typed = prepare_dip_cases(region).filter(pl.col("error_code").is_null())
    px = explode_px(typed)
    typed = typed.join(treatment_ranks(typed, px), on="_row")
    cand = candidates(typed, px, region_catalog).group_by("_row").agg(
        pl.struct("dip_code", "matched").sort_by("dip_code").alias("c"))
    want = {r: [(c["dip_code"], c["matched"]) for c in cs] for r, cs in cand.iter_rows()}
    lk = dip_lookups(region_catalog)
    for i, row in enumerate(region.to_dicts()):
        trace = explain_dip(row, lk)
        got = sorted((c["dip_code"], c["matched"]) for c in trace.candidates)
        assert got == want.get(i, []), row["case_id"]
        assert trace.treatment_class == trace.result["treatment_class"]


# -- hand-worked golden cases and input edge cases ------------------------------------------


def golden_catalog(aux_combine: str) -> DipCatalog:
    groups = require_clean(import_catalog(FIXTURES / "dip_golden_catalog.csv")).groups
    aux = pl.read_csv(FIXTURES / "dip_golden_aux.csv", infer_schema_length=0)
    return DipCatalog(groups=groups, aux=aux, aux_combine=aux_combine)


GOLDEN_CATALOGS = {m: golden_catalog(m) for m in ("max", "priority")}


@pytest.mark.parametrize("aux_combine", ["max", "priority"])
def test_golden_cases_per_case_equals_batch(aux_combine: str) -> None:
    golden = pl.read_csv(FIXTURES / "dip_golden.csv", infer_schema_length=0).select(
        "case_id", pl.col("age").cast(pl.Int64), "discharge_way", "los", "tcm_treatment",
        "day_surgery", "diagnoses", "procedures")
    catalog = GOLDEN_CATALOGS[aux_combine]
    batch = group_dip(golden, catalog)
    assert batch.height == 26 and set(batch["status"]) == {"ok", "ungroupable", "invalid"}
    assert_same(batch, per_case(golden, catalog), f"golden/{aux_combine}")


# (title, case): what the HTTP service or `drgdip explain` may hand over as one dict
EDGE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("pipe-separated codes", {"diagnoses": "K80.101|I50.000", "procedures": "51.2300|88.0100"}),
    ("codes without dot, lower case", {"diagnoses": ["k80101"], "procedures": ["5123"]}),
    ("ideographic space is trimmed", {"diagnoses": ["\u3000K80.101 "], "procedures": []}),
    ("\\x1c is not trimmed (polars strip)", {"diagnoses": ["K80.101\x1c"], "procedures": []}),
    ("\\x1c before a code", {"diagnoses": ["\x1cK80.101"]}),
    ("no diagnosis", {"diagnoses": []}),
    ("empty diagnosis text", {"diagnoses": ""}),
    ("null diagnoses", {"diagnoses": None}),
    ("blank principal, real secondary", {"diagnoses": ["", "K80.101"]}),
    ("null element in the list", {"diagnoses": ["K80.101", None], "procedures": [None, "51.23"]}),
    ("principal not ICD-10", {"diagnoses": ["123"]}),
    ("procedures that are not ICD-9-CM-3 are ignored",
     {"diagnoses": ["K80.100"], "procedures": ["x", "", "5", "ABC", "1.23"]}),
    ("chapter-only procedure code", {"diagnoses": ["K80.100"], "procedures": ["51"]}),
    ("procedure missing from the class table: chapter fallback",
     {"diagnoses": ["K80.100"], "procedures": ["89.9999x9"]}),
    ("age as text with spaces", {"diagnoses": ["K80.101"], "age": " 70 "}),
    ("age as whole float", {"diagnoses": ["K80.101"], "age": 70.0}),
    ("age as fractional float", {"diagnoses": ["K80.101"], "age": 70.5}),
    ("age as non-ASCII digits", {"diagnoses": ["K80.101"], "age": "٧٠"}),
    ("age as bool", {"diagnoses": ["K80.101"], "age": True}),
    ("age out of Int64 range", {"diagnoses": ["K80.101"], "age": "99999999999999999999"}),
    ("neonate without age_days is an infant", {"diagnoses": ["K80.101"], "age": 0}),
    ("neonate", {"diagnoses": ["K80.101"], "age": 0, "age_days": 28}),
    ("discharge_way as text", {"diagnoses": ["K80.101"], "discharge_way": "5"}),
    ("discharge_way text with a space is not read", {"diagnoses": ["K80.101"],
                                                     "discharge_way": " 5"}),
    ("discharge_way float truncates", {"diagnoses": ["K80.101"], "discharge_way": 5.9}),
    ("death beats severity", {"diagnoses": ["K80.101", "R57.0"], "discharge_way": 5, "los": 9}),
    ("severity needs los", {"diagnoses": ["K80.101", "R57.0"], "los": 2}),
    ("severity without los", {"diagnoses": ["K80.101", "R57.0"]}),
    ("flags as 是 / yes", {"diagnoses": ["S52.500"], "tcm_treatment": " 是 ",
                          "day_surgery": "YES"}),
    ("flags as numbers", {"diagnoses": ["K80.100"], "procedures": ["51.2300"],
                          "day_surgery": 1, "tcm_treatment": 0.0}),
    ("flag text 0", {"diagnoses": ["S52.500"], "tcm_treatment": "0"}),
    ("metastasis on a malignant principal", {"diagnoses": ["C34.100", "C78.000"], "age": 70}),
    ("metastasis on a benign principal", {"diagnoses": ["K80.101", "C78.000"]}),
    ("chemotherapy procedure", {"diagnoses": ["C34.100"], "procedures": ["99.2500"]}),
    ("repeated secondary counted once", {"diagnoses": ["K80.101", "I50.000", "I50.000"]}),
    ("principal repeated as secondary", {"diagnoses": ["K80.101", "K80.101"]}),
    ("integer case_id", {"case_id": 17, "diagnoses": ["K80.101"]}),
    ("null case_id", {"case_id": None, "diagnoses": ["K80.101"]}),
]


@pytest.mark.parametrize("aux_combine", ["max", "priority"])
@pytest.mark.parametrize(("title", "case"), EDGE_CASES, ids=[t for t, _ in EDGE_CASES])
def test_edge_case_per_case_equals_one_row_batch(title: str, case: dict[str, Any],
                                                 aux_combine: str) -> None:
    case = {"case_id": "E1", **case}
    catalog = GOLDEN_CATALOGS[aux_combine]
    batch = group_dip(pl.DataFrame([case], infer_schema_length=None), catalog)
    assert_same(batch, [group_dip_one(case, catalog)], title)
    trace = explain_dip(case, catalog)
    assert trace.result == batch.row(0, named=True), title


def test_missing_required_field_raises_like_batch() -> None:
    catalog = GOLDEN_CATALOGS["max"]
    for case in ({"case_id": "x"}, {"diagnoses": ["K80.101"]}):
        with pytest.raises(InputError):
            group_dip(pl.DataFrame([case]), catalog)
        with pytest.raises(InputError, match="missing required"):
            group_dip_one(case, catalog)


def test_lookups_are_built_once_per_catalogue() -> None:
    catalog = GOLDEN_CATALOGS["max"]
    assert dip_lookups(catalog) is dip_lookups(catalog)
    assert dip_lookups(GOLDEN_CATALOGS["priority"]) is not dip_lookups(catalog)


# -- hypothesis: generated catalogues and cases ---------------------------------------------

_RS = load_ruleset("chs_drg_11")
_EXCL_CODE, _EXCL_TABLE = _RS.cc_exclusion.row(0)


def _codes(frame: pl.DataFrame, same_table: bool) -> list[str]:
    pick = pl.col("exclusion_table") == _EXCL_TABLE
    return frame.filter(pick if same_table else ~pick)["code"].sort().head(2).to_list()


# MCC/CC codes the sample principal's exclusion table removes, and ones it keeps
CCI_CODES = (_codes(_RS.mcc, True) + _codes(_RS.mcc, False) + _codes(_RS.cc, True)
             + _codes(_RS.cc, False))
DX_PREFIXES = ["K80", "K80.1", "K80.10", "K80.100", "J18.9", "C34", "C34.1", "S52.5",
               _EXCL_CODE[:3], _EXCL_CODE[:5]]
CATEGORIES = ["K80", "J18", "C34", "S52", "C78", _EXCL_CODE[:3]]
ALTERNATIVES = ["51.23", "51.22", "51.2", "87.54", "88.01", "99.25", "36.07", "51", "92.2"]
DX = st.sampled_from(["K80.100", "K80.101", "K80.1", "K80", "k80101", "J18.900", "C34.100",
                      "C78.000", "C77.100", "S52.500", "I50.000", "R57.000", "R40.200",
                      "Z51.100", "N18.500", _EXCL_CODE, *CCI_CODES, "", " ", "Z", "K8", "123",
                      " k80.100\u3000", "K80.100\x1c"])
PX = st.sampled_from(["51.2300", "51.23", "5123", "51.2200", "87.5400", "88.0100", "99.2500",
                      "92.2100", "92.0100", "36.0700", "99", "51", "99.1800", "13.4100",
                      "89.9999x9", "50.9999zz", "x", "", " 51.23 "])
COMBINATION = st.lists(st.lists(st.sampled_from(ALTERNATIVES), min_size=1, max_size=2),
                       max_size=3).map(lambda terms: "+".join("/".join(t) for t in terms))
SCORE = st.integers(0, 30_000_000).map(lambda n: n / 10_000)


GROUP_SCHEMA = {"dip_code": pl.String, "dip_type": pl.String, "principal_dx": pl.String,
                "procedures": pl.String, "treatment_class": pl.String, "name": pl.String,
                "score": pl.Float64}
AUX_SCHEMA = {"dip_code": pl.String, "dimension": pl.String, "level": pl.String,
              "coef": pl.Float64}


def make_catalog(rows: list[dict[str, Any]], aux_rows: list[dict[str, Any]], *,
                 aux_combine: str = "max", severity_min_los: int = 3) -> DipCatalog:
    return DipCatalog(groups=pl.DataFrame(rows, schema=GROUP_SCHEMA),
                      aux=pl.DataFrame(aux_rows, schema=AUX_SCHEMA), aux_combine=aux_combine,
                      severity_min_los=severity_min_los)


@st.composite
def catalogs(draw: st.DrawFn) -> DipCatalog:
    rows, keys = [], set()
    for i, (kind, dx, combo) in enumerate(draw(st.lists(st.tuples(
            st.sampled_from(["core", "core", "basic", "tcm", "day_surgery"]),
            st.sampled_from(DX_PREFIXES), COMBINATION), max_size=12))):
        if kind == "day_surgery" and not combo:
            kind = "core"  # a day-surgery group needs a combination (catalogue check)
        # one group per kind (core and basic compete as one) × dx × combination (catalogue check)
        key = ("core" if kind == "basic" else kind, dx,
               format_combination(parse_combination(combo)))
        if key in keys:
            continue
        keys.add(key)
        rows.append({"dip_code": f"G{i:02d}", "dip_type": kind, "principal_dx": dx,
                     "procedures": combo, "treatment_class": None, "name": f"g{i}",
                     "score": draw(SCORE)})
    for cat, tclass in draw(st.sets(st.tuples(st.sampled_from(CATEGORIES),
                                              st.sampled_from(CLASSES)), max_size=10)):
        rows.append({"dip_code": f"{cat}Z{tclass[0].upper()}", "dip_type": "comprehensive",
                     "principal_dx": cat, "procedures": "", "treatment_class": tclass,
                     "name": f"{cat} {tclass}", "score": draw(SCORE)})
    codes = ["*", *(r["dip_code"] for r in rows)]
    levels = [(d, lv) for d, lvs in AUX_LEVELS.items() for lv in lvs[1:]]
    aux = draw(st.dictionaries(st.tuples(st.sampled_from(codes), st.sampled_from(levels)),
                               st.integers(5_000, 20_000).map(lambda n: n / 10_000),
                               max_size=12))
    return make_catalog(rows, [{"dip_code": c, "dimension": d, "level": lv, "coef": coef}
                               for (c, (d, lv)), coef in aux.items()],
                        aux_combine=draw(st.sampled_from(["max", "priority"])),
                        severity_min_los=draw(st.integers(0, 5)))


def _core(code: str, dx: str, combo: str, score: float = 100.0) -> dict[str, Any]:
    return {"dip_code": code, "dip_type": "core", "principal_dx": dx, "procedures": combo,
            "treatment_class": None, "name": code, "score": score}


# Pinned tie-breaks (the code order alone would pick the other group): fewest alternatives;
# longest diagnosis prefix; on equal coefficients the dimension priority (cci before age).
TIE_ALTERNATIVES = make_catalog([_core("A1", "K80.1", "51.23/51.22"), _core("A2", "K80.1", "51.23")],
                                [])
TIE_PREFIX = make_catalog([_core("B1", "K80", "51.23"), _core("B2", "K80.1", "51.23")], [])
TIE_COEF = make_catalog([_core("C1", "K80.1", "51.23", 333.3333)],
                        [{"dip_code": "*", "dimension": "age", "level": "elderly", "coef": 1.2},
                         {"dip_code": "C1", "dimension": "cci", "level": "2", "coef": 1.2}])


CASE = st.fixed_dictionaries({
    "age": st.one_of(st.none(), st.integers(0, 100)),
    "age_days": st.one_of(st.none(), st.integers(0, 400)),
    "los": st.one_of(st.none(), st.integers(0, 10)),
    "discharge_way": st.one_of(st.none(), st.integers(1, 9)),
    "tcm_treatment": st.booleans(), "day_surgery": st.booleans(),
    "diagnoses": st.lists(DX, max_size=5), "procedures": st.lists(PX, max_size=4),
})
PINNED = {"age": 70, "age_days": None, "los": 1, "discharge_way": 1, "tcm_treatment": False,
          "day_surgery": False, "diagnoses": ["K80.101", "N18.500"], "procedures": ["51.2300"]}
CASE_SCHEMA = {"case_id": pl.String, "age": pl.Int64, "age_days": pl.Int64, "los": pl.Int64,
               "discharge_way": pl.Int64, "tcm_treatment": pl.Boolean,
               "day_surgery": pl.Boolean, "diagnoses": pl.List(pl.String),
               "procedures": pl.List(pl.String)}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogs(), st.lists(CASE, min_size=1, max_size=20))
@example(GOLDEN_CATALOGS["max"], [{
    "age": 70, "age_days": None, "los": 5, "discharge_way": 1, "tcm_treatment": False,
    "day_surgery": False, "diagnoses": ["K80.101", "I50.000"],
    "procedures": ["51.2300", "88.0100"]}])
@example(TIE_ALTERNATIVES, [PINNED])
@example(TIE_PREFIX, [PINNED])
@example(TIE_COEF, [PINNED])
def test_generated_catalogue_and_cases(catalog: DipCatalog,
                                       cases: list[dict[str, Any]]) -> None:
    frame = pl.DataFrame([{"case_id": f"h{i}", **c} for i, c in enumerate(cases)],
                         schema=CASE_SCHEMA)
    assert_same(group_dip(frame, catalog), per_case(frame, catalog), "generated")


GARBAGE = st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 200), st.floats(),
                    st.booleans(), st.sampled_from([" 5", "5 ", "+5", "٥", "是", " yes", "0"]))
CODE_LIST = st.one_of(st.none(), st.text(max_size=20), st.lists(st.one_of(
    st.none(), st.text(max_size=8), DX, PX), max_size=4))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({
    "case_id": GARBAGE, "age": GARBAGE, "age_days": GARBAGE, "los": GARBAGE,
    "discharge_way": GARBAGE, "tcm_treatment": GARBAGE, "day_surgery": GARBAGE,
    "diagnoses": CODE_LIST, "procedures": CODE_LIST}), min_size=1, max_size=10))
def test_garbage_columns_per_case_equals_batch(rows: list[dict[str, Any]]) -> None:
    """Columns of mixed garbage arrive as text, as a CSV reader would hand them over; the
    per-case path gets the same typed rows."""
    frame = pl.DataFrame(
        {k: [None if r[k] is None else (r[k] if isinstance(r[k], list) and all(
            isinstance(x, str) or x is None for x in r[k]) else str(r[k]))
             for r in rows] for k in rows[0]}, strict=False)
    catalog = GOLDEN_CATALOGS["max"]
    assert_same(group_dip(frame, catalog), per_case(frame, catalog), "garbage")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({
    "case_id": st.one_of(st.text(max_size=6), st.integers(-5, 10**6), st.booleans()),
    "age": GARBAGE, "age_days": GARBAGE, "los": GARBAGE, "discharge_way": GARBAGE,
    "tcm_treatment": GARBAGE, "day_surgery": GARBAGE,
    "diagnoses": st.one_of(st.text(max_size=20), st.lists(st.one_of(st.none(), DX),
                                                          max_size=4)),
    "procedures": st.one_of(st.none(), st.text(max_size=20), st.lists(PX, max_size=4))}))
def test_one_dict_per_case_equals_one_row_batch(case: dict[str, Any]) -> None:
    """A single typed dict (JSON body, `drgdip explain`): the one-row frame polars infers."""
    catalog = GOLDEN_CATALOGS["priority"]
    frame = pl.DataFrame([case], infer_schema_length=None)
    assert_same(group_dip(frame, catalog), [group_dip_one(case, catalog)], "one dict")
