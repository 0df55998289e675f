"""CHS-DRG 2.0 rule kinds (ruleset README "Differences"): batch and explain agree on each."""

from __future__ import annotations

import polars as pl
import pytest

from grouper import RulesetError, explain, group_drg, group_one, load_ruleset
from grouper.ruleset import Ruleset
from grouper.ruleset_files import TABLE_COLUMNS, read_manifest, read_table

RS = load_ruleset("chs_drg_20")
MDCN_DX = RS.tables["adrg_codes"].filter((pl.col("adrg") == "MQY") & (pl.col("variant") == 3)
                                         & (pl.col("list") == "dx"))["code"].sort()[0]
NEWBORN = {"case_id": "nb", "sex": 1, "age": 0, "age_days": 5, "birth_weight": 3000,
           "diagnoses": ["I10.x00"], "procedures": []}


def _both(case: dict) -> dict:
    batch = group_drg(pl.DataFrame([case]), RS).row(0, named=True)
    assert group_one(case, RS) == batch
    return batch


def test_male_with_female_genital_principal_is_mqy() -> None:
    out = _both({"case_id": "m", "sex": 1, "age": 40, "diagnoses": [MDCN_DX], "procedures": []})
    assert (out["status"], out["mdc"], out["adrg"], out["drg"]) == ("ambiguous", "MDCM", "QY",
                                                                   "MQY")


def test_newborn_whose_diagnoses_do_not_open_mdcp_is_pqy_and_p07_prefix_opens_it() -> None:
    out = _both(NEWBORN)
    assert (out["status"], out["drg"]) == ("ambiguous", "PQY")
    # a P07. code outside the dictionary, in a secondary position, opens MDCP: the not-entered
    # newborn row no longer applies (no MDCP ADRG fits this principal: ungroupable, E302)
    opened = _both({**NEWBORN, "diagnoses": ["I10.x00", "P07.999"]})
    assert (opened["status"], opened["error_code"]) == ("ungroupable", "E302")
    ex = explain({**NEWBORN, "diagnoses": ["I10.x00", "P07.999"]}, RS)
    assert any(s.stage == "mdc" and s.subject == "MDCP" and "P07.999" in s.codes
               for s in ex.steps)


def test_ambiguous_has_its_own_explain_step() -> None:
    ex = explain(NEWBORN, RS)
    assert ex.status == "ambiguous" and ex.steps[-1].stage == "result"
    assert "歧义" in ex.steps[-1].zh and "ambiguous" in ex.steps[-1].en


def test_older_rulesets_read_without_the_new_columns_and_file() -> None:
    rs = load_ruleset("chs_drg_11")
    assert rs.tables["adrg"]["age_days_min"].null_count() == rs.tables["adrg"].height
    assert rs.tables["mdc_dx_prefix"].height == 0


def _with_adrg(edit) -> Ruleset:
    manifest = read_manifest("chs_drg_20")
    tables = {t: read_table(manifest, t) for t in TABLE_COLUMNS}
    tables["adrg"] = edit(tables["adrg"])
    return Ruleset(name="bad", manifest=manifest, tables=tables)


def test_validation_names_file_row_and_value() -> None:
    with pytest.raises(RulesetError, match=r"adrg.csv row 2: age_days_min='x' is not a number"):
        _with_adrg(lambda f: f.with_columns(
            pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("x"))
            .otherwise(pl.col("age_days_min")).alias("age_days_min")))
    with pytest.raises(RulesetError, match=r"adrg.csv row 3: section='nope' is not a known"):
        _with_adrg(lambda f: f.with_columns(
            pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("nope"))
            .otherwise(pl.col("section")).alias("section")))


def test_summary_counts_match_the_published_scheme() -> None:
    s = RS.summary()
    assert (s["mdc"], s["adrg"], s["drg"], s["effective_from"]) == (26, 409, 634, "2025-01-01")


def test_a_rule_with_only_a_negative_code_atom_agrees_on_both_paths(oracle) -> None:
    """A rule kind of `principal_dx_not_dx2` alone (no positive code atom) is evaluated from
    the case's hits on its dx2 list on the batch path too: MQY v3 (MDCN, not entered) without
    its `principal_dx` holds for every case reaching it whose principal is not one of the 13
    exempt codes."""
    rs = _with_adrg(lambda f: f.with_columns(
        pl.when((pl.col("adrg") == "MQY") & (pl.col("variant") == "3"))
        .then(pl.lit("principal_dx_not_dx2")).otherwise(pl.col("rule_kind")).alias("rule_kind")))
    exempt = RS.tables["adrg_codes"].filter((pl.col("adrg") == "MQY") & (pl.col("variant") == 3)
                                            & (pl.col("list") == "dx2"))["code"].sort()[0]
    male = {"case_id": "m", "sex": 1, "age": 40, "procedures": []}
    cases = pl.DataFrame([{**male, "case_id": "plain", "diagnoses": ["I10.x00"]},
                          {**male, "case_id": "exempt", "diagnoses": [exempt]}])
    batch = group_drg(cases, rs)
    assert batch["drg"].to_list()[0] == "MQY"
    assert batch["drg"].to_list()[1] != "MQY"
    sample = pl.concat([oracle["chs_drg_20"].sample(2000, seed=3).drop(
        "expected_status", "expected_mdc", "expected_adrg", "expected_drg"), cases],
        how="diagonal_relaxed")
    out = group_drg(sample, rs)
    assert out["drg"].eq("MQY").sum() > 100
    for row, want in zip(sample.iter_rows(named=True), out.iter_rows(named=True), strict=True):
        assert group_one(row, rs) == want, row["case_id"]
