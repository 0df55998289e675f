"""Hand-written cases: validation table, warnings table, QY, code translation, explanation."""

from __future__ import annotations

import polars as pl
import pytest

from grouper import explain, group_drg, group_one, load_ruleset
from grouper.ruleset import Ruleset
from grouper.ruleset_files import TABLE_COLUMNS, read_manifest, read_table

ADULT = {"case_id": "c", "sex": 1, "age": 60, "age_days": None, "birth_weight": None,
         "diagnoses": ["I63.900"], "procedures": []}

# (field, value, expected error_code) — the README's validation edits, in order
INVALID = [
    ("sex", None, "E101"), ("sex", 0, "E101"), ("sex", 9, "E101"), ("sex", "男", "E101"),
    ("age", None, "E102"), ("age", "abc", "E102"),
    ("age", 0, "E103"),  # age 0 without age_days
    ("diagnoses", [], "E105"), ("diagnoses", None, "E105"), ("diagnoses", "", "E105"),
]


@pytest.mark.parametrize(("field", "value", "code"), INVALID)
def test_validation_edits(field: str, value: object, code: str) -> None:
    case = {**ADULT, field: value}
    out = group_drg(pl.DataFrame({k: [v] for k, v in case.items()}, strict=False))
    row = out.row(0, named=True)
    assert (row["status"], row["error_code"]) == ("invalid", code)
    assert row["mdc"] is None and row["drg"] is None
    assert "/" in row["error_message"]  # Chinese / English
    assert group_one(case)["error_code"] == code


def test_newborn_without_birth_weight_is_invalid_but_weight_zero_is_not() -> None:
    base = {**ADULT, "age": 0, "age_days": 3, "diagnoses": ["P07.100"]}
    out = group_drg(pl.DataFrame([{**base, "birth_weight": None}, {**base, "birth_weight": 0}]))
    assert out["error_code"].to_list() == ["E104", None]
    assert out["status"][1] in {"ok", "ungroupable"}


WARNINGS = [
    ({"diagnoses": ["I63.900", "XX.bogus"]}, "W101"),
    ({"procedures": ["99.9999zz"]}, "W102"),
    ({"sex": 1, "diagnoses": ["O80.000"]}, "W103"),
    ({"diagnoses": ["I63.900", "P07.100"]}, "W104"),
    ({"diagnoses": ["I63.900", "E11.900", "I63.900"]}, "W105"),
    ({"diagnoses": ["I63.900", "E11.900", "E11.900"]}, "W106"),
    ({"procedures": ["88.9100", "88.9100"]}, "W107"),
    ({"diagnoses": ["I63.900", " "]}, "W108"),
    ({"age": 150}, "W109"),
    ({"diagnoses": ["E11.900", "I63.900"], "los": -2}, "W112"),
]


@pytest.mark.parametrize(("change", "code"), WARNINGS)
def test_warnings_are_reported_on_both_paths(change: dict, code: str) -> None:
    case = {**ADULT, **change}
    out = group_drg(pl.DataFrame([case, ADULT], strict=False))
    assert code in out["warnings"][0]
    assert out["warnings"][1].to_list() == []
    assert group_one(case)["warnings"] == out["warnings"][0].to_list()


def test_warnings_never_change_status_or_group(oracle: dict[str, pl.DataFrame]) -> None:
    cases = oracle["chs_drg_11"]
    out = group_drg(cases, "chs_drg_11")
    warned = out.filter(pl.col("warnings").list.len() > 0)
    assert warned.height > 1000  # the oracle has plenty of unusual cases
    want = cases.filter(pl.col("case_id").is_in(warned["case_id"].implode()))
    assert warned["drg"].to_list() == want["expected_drg"].to_list()
    assert warned["status"].to_list() == want["expected_status"].to_list()


def _with_qy(mdc: str) -> Ruleset:
    manifest = read_manifest("chs_drg_11")
    tables = {t: read_table(manifest, t) for t in TABLE_COLUMNS}
    tables["mdc"] = tables["mdc"].with_columns(
        pl.when(pl.col("mdc") == mdc).then(pl.lit("yes")).otherwise(pl.col("ambiguity_check"))
        .alias("ambiguity_check"))
    return Ruleset(name="qy_test", manifest=manifest, tables=tables)


def test_ambiguity_check_yields_qy_when_switched_on() -> None:
    rs = _with_qy("MDCB")
    # a cerebral infarction with an OR procedure that fits no MDCB surgical ADRG (a hernia repair)
    case = {**ADULT, "procedures": ["53.0000"]}
    base = group_one(case, "chs_drg_11")
    assert base["status"] == "ok" and base["adrg"] == "BR2"  # check off: medical ADRG
    out = group_drg(pl.DataFrame([case, ADULT]), rs)
    assert out.row(0, named=True) | {"warnings": None} == group_one(case, rs) | {"warnings": None}
    assert out.select("status", "mdc", "adrg", "drg").row(0) == ("ambiguous", "MDCB", "QY", "BQY")
    assert out["status"][1] == "ok" and out["drg"][1] == "BR25"


def test_translation_maps_codes_and_rejects_unmapped() -> None:
    rs = load_ruleset("chs_drg_11")
    unmapped = {**ADULT, "diagnoses": ["I63.900", "NOT.A.CODE"]}
    out = group_drg(pl.DataFrame([ADULT, unmapped]), rs, translate_codes=True)
    assert out["drg"][0] == "BR25"
    assert (out["status"][1], out["error_code"][1]) == ("invalid", "E106")
    assert group_one(unmapped, rs, translate_codes=True)["error_code"] == "E106"
    # without translation the unknown code just matches nothing (and is warned about)
    plain = group_drg(pl.DataFrame([unmapped]), rs)
    assert plain["drg"][0] == "BR25" and "W101" in plain["warnings"][0]


def test_explain_names_the_exclusion_and_the_suffix_choice() -> None:
    rs = load_ruleset("chs_drg_11")
    excl = rs.tables["cc_exclusion"]
    principal = "I63.900"
    own = excl.filter(pl.col("principal_dx_code") == principal)["exclusion_table"][0]
    excluded_mcc = rs.tables["mcc"].filter(pl.col("exclusion_table") == own)["dx_code"][0]
    other_mcc = rs.tables["mcc"].filter(pl.col("exclusion_table") != own)["dx_code"][0]
    ex = explain({**ADULT, "diagnoses": [principal, excluded_mcc]}, rs)
    assert ex.drg == "BR25"
    mcc_step = next(s for s in ex.steps if s.stage == "mcc_cc")
    assert excluded_mcc in mcc_step.en and "removed" in mcc_step.en
    ex2 = explain({**ADULT, "diagnoses": [principal, other_mcc]}, rs)
    assert ex2.drg == "BR21"
    chosen = [s for s in ex2.steps if s.stage == "drg" and s.held]
    assert chosen[-1].subject == "BR21" and other_mcc in chosen[-1].codes
    assert [s.stage for s in ex2.steps][:3] == ["validate", "mcc_cc", "mdc"]
