"""Catalogues that would make grouping ambiguous: `DipCatalog` refuses them (stable code, table,
row and value named); a catalogue object built around the checks still gets one output row per
input row from `group_dip`, and the same answer as the per-case path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from grouper import DipCatalog, group_dip
from grouper.dip_catalog import AUX_SCHEMA, GROUP_SCHEMA, conform
from grouper.dip_errors import DIP_CATALOG_MESSAGES, DipCatalogCode, DipCatalogError
from grouper.dip_explain import group_dip_one
from weights.dip_catalog_io import import_catalog, require_clean

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "fixtures"


def group(code: str, kind: str, dx: str, procedures: str = "", tclass: str | None = None,
          score: float = 100.0) -> dict[str, Any]:
    return {"dip_code": code, "dip_type": kind, "principal_dx": dx, "procedures": procedures,
            "treatment_class": tclass, "name": code, "score": score}


def aux(code: str, dimension: str, level: str, coef: float) -> dict[str, Any]:
    return {"dip_code": code, "dimension": dimension, "level": level, "coef": coef}


def catalog(groups: list[dict[str, Any]], aux_rows: list[dict[str, Any]] | None = None,
            **params: Any) -> DipCatalog:
    return DipCatalog(groups=pl.DataFrame(groups, schema={k: GROUP_SCHEMA[k] for k in groups[0]}),
                      aux=pl.DataFrame(aux_rows or [], schema=AUX_SCHEMA), **params)


BASE = [group("K801001", "core", "K80.1", "51.23+87.54/88.01"),
        group("K80ZS", "comprehensive", "K80", tclass="surgical")]

# (title, extra group rows, extra aux rows, code, table, row, words of the value)
REFUSED: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], DipCatalogCode, str, int,
                    str]] = [
    ("dip_code repeated", [group("K801001", "core", "K80.2", "51.22")], [],
     DipCatalogCode.DUPLICATE_CODE, "groups", 3, "'K801001'"),
    ("core: same dx and combination, terms and alternatives reordered",
     [group("K801002", "core", "K80.1", "88.01/87.54+51.23")], [],
     DipCatalogCode.DUPLICATE_MATCH, "groups", 3, "('K80.1', '51.23+87.54/88.01')"),
    ("core: dx written without the dot, combination codes without it",
     [group("K801002", "core", "k801", "8801/8754+5123")], [],
     DipCatalogCode.DUPLICATE_MATCH, "groups", 3, "('K80.1', '51.23+87.54/88.01')"),
    ("basic competes with core at the same precedence",
     [group("K801002", "basic", "K80.1", "51.23+87.54/88.01")], [],
     DipCatalogCode.DUPLICATE_MATCH, "groups", 3, "'K80.1'"),
    ("two day-surgery groups for one dx and combination",
     [group("RJ1", "day_surgery", "K80", "51.23"), group("RJ2", "day_surgery", "K80", "51.23")],
     [], DipCatalogCode.DUPLICATE_MATCH, "groups", 4, "('K80', '51.23')"),
    ("comprehensive: same 类目 and treatment class",
     [group("K80ZX", "comprehensive", "K80", tclass="surgical")], [],
     DipCatalogCode.DUPLICATE_COMPREHENSIVE, "groups", 3, "('K80', 'surgical')"),
    ("aux: one group, dimension and level twice",
     [], [aux("K801001", "cci", "2", 1.3), aux("K801001", "cci", "2", 1.1)],
     DipCatalogCode.DUPLICATE_AUX, "aux", 2, "('K801001', 'cci', '2')"),
    ("aux: a region-wide key twice",
     [], [aux("*", "age", "elderly", 1.1), aux("K801001", "age", "elderly", 1.2),
          aux("*", "age", "elderly", 1.3)],
     DipCatalogCode.DUPLICATE_AUX, "aux", 3, "('*', 'age', 'elderly')"),
]


@pytest.mark.parametrize(("extra", "aux_rows", "code", "table", "row", "value"),
                         [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_ambiguous_catalogue_is_refused(extra: list[dict[str, Any]],
                                        aux_rows: list[dict[str, Any]], code: DipCatalogCode,
                                        table: str, row: int, value: str) -> None:
    with pytest.raises(DipCatalogError) as caught:
        catalog(BASE + extra, aux_rows)
    message = str(caught.value)
    assert caught.value.code == code.value
    assert message.startswith(f"DIP catalogue {table} row {row}: ")
    assert value in message
    assert f"{code.value} {DIP_CATALOG_MESSAGES[code.value]}" in message
    assert "duplicate of row" in message


def test_keys_that_differ_are_accepted() -> None:
    """Same dx and combination across kinds of different precedence, one 类目 with several
    classes, one aux key for several groups: nothing ambiguous, nothing refused."""
    built = catalog(BASE + [
        group("RJ003", "day_surgery", "K80.1", "51.23+87.54/88.01"),
        group("TCM1", "tcm", "K80.1", "51.23+87.54/88.01"),
        group("K801000", "core", "K80.1"), group("TCM2", "tcm", "K80.1"),
        group("K801003", "core", "K80.1", "51.23+87.54"),
        group("K80ZB", "comprehensive", "K80", tclass="conservative"),
        group("K81ZS", "comprehensive", "K81", tclass="surgical")],
        [aux("*", "cci", "2", 1.2), aux("K801001", "cci", "2", 1.3), aux("K80ZS", "cci", "2", 1.4),
         aux("K80ZS", "cci", "3", 1.5)])
    assert built.groups.height == 9 and built.aux.height == 4


# -- a catalogue built around the checks ---------------------------------------------------


def unchecked(groups: pl.DataFrame, aux_rows: pl.DataFrame, aux_combine: str) -> DipCatalog:
    """What a catalogue object that skipped `__post_init__` looks like: the tables as given
    (typed and canonical, but duplicates kept), compiled for grouping."""
    built = object.__new__(DipCatalog)
    built.groups = conform(groups, GROUP_SCHEMA)
    built.aux = conform(aux_rows, AUX_SCHEMA)
    built.score_scale, built.aux_combine, built.ruleset = 1000.0, aux_combine, "chs_drg_11"
    built.severity_min_los, built.version = 3, None
    built._compile()
    return built


def golden_cases() -> pl.DataFrame:
    return pl.read_csv(FIXTURES / "dip_golden.csv", infer_schema_length=0).select(
        "case_id", pl.col("age").cast(pl.Int64), "discharge_way", "los", "tcm_treatment",
        "day_surgery", "diagnoses", "procedures")


def ambiguous(aux_combine: str) -> DipCatalog:
    """The golden catalogue plus one group or aux row repeating each kind of key."""
    golden = require_clean(import_catalog(FIXTURES / "dip_golden_catalog.csv")).groups
    extra = pl.DataFrame([
        group("K800999", "core", "K80.1", "87.54/88.01+51.23", score=777.0),  # K801002's key
        group("K80ZA", "comprehensive", "K80", tclass="surgical", score=950.0),  # K80ZS's
        group("K80ZX", "comprehensive", "K80", tclass="therapeutic", score=650.0),  # K80ZT's
        group("J189000", "core", "J18.9", score=320.0),  # repeats the basic group's code
    ], schema={k: GROUP_SCHEMA[k] for k in ("dip_code", "dip_type", "principal_dx",
                                             "procedures", "treatment_class", "name",
                                             "score")})
    golden_aux = pl.read_csv(FIXTURES / "dip_golden_aux.csv", infer_schema_length=0)
    extra_aux = pl.DataFrame([aux("*", "cci", "2", 1.45), aux("K801001", "cci", "2", 1.05),
                              aux("*", "age", "elderly", 1.02)], schema=AUX_SCHEMA)
    return unchecked(pl.concat([golden, extra], how="diagonal_relaxed"),
                     pl.concat([conform(golden_aux, AUX_SCHEMA), extra_aux]), aux_combine)


@pytest.mark.parametrize("aux_combine", ["max", "priority"])
def test_group_dip_keeps_one_row_per_case_and_agrees_with_per_case_path(
        aux_combine: str) -> None:
    cases = golden_cases()
    built = ambiguous(aux_combine)
    batch = group_dip(cases, built)
    assert batch.height == cases.height
    assert batch["case_id"].to_list() == cases["case_id"].to_list()
    assert [group_dip_one(row, built) for row in cases.to_dicts()] == batch.to_dicts()
    got = {r["case_id"]: r for r in batch.to_dicts()}
    # of a repeated key the higher score wins (no cost to compare), as the winner order says
    assert got["G03"]["dip_code"] == "K801002" and got["G03"]["dip_score"] == 850.0
    assert got["G08"]["dip_code"] == "K80ZA" and got["G09"]["dip_code"] == "K80ZT"
    # of a repeated dip_code the last row's type and score, as the per-case lookups keep it
    assert (got["G13"]["dip_type"], got["G13"]["dip_score"]) == ("core", 320.0)
    # of a repeated aux key the highest coefficient counts, under either combine mode
    assert (got["G22"]["dip_code"], got["G22"]["aux_dimension"], got["G22"]["aux_coef"]) == (
        "K801001", "cci", 1.3)
    assert (got["G23"]["aux_dimension"], got["G23"]["aux_coef"]) == ("cci", 1.45)
    assert got["G21"]["aux_coef"] == 1.1
