"""`explain` in words: an ungroupable case lists each ADRG tried once, with the condition that
failed and what would satisfy it, in plain Chinese and English (no atom or parameter names), and
its E302 once — on the reference cases of both rulesets, through the CLI too."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from grouper import explain, group_drg, load_ruleset
from grouper.errors import ERROR_MESSAGES, ErrorCode
from grouper.explain_text import ATOMS, PARAMS, split_message
from grouper.lookup import lookups

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ["expected_status", "expected_mdc", "expected_adrg", "expected_drg"]


def technical_words(name: str) -> set[str]:
    lk = lookups(load_ruleset(name))
    words = set(ATOMS) | set(PARAMS) | {m["rule_kind"] for m in lk.mdcs}
    return {w for w in words if "_" in w}  # `always`, `mcc`, `cc` are words of the text too


@pytest.fixture(scope="module", params=["chs_drg_11", "chs_drg_20"])
def ungroupable(request: pytest.FixtureRequest, oracle: dict[str, pl.DataFrame]
                ) -> tuple[str, list[dict]]:
    name = request.param
    cases = oracle[name].drop([c for c in EXPECTED if c in oracle[name].columns])
    out = group_drg(cases, load_ruleset(name))
    rows = cases.filter(out["error_code"] == "E302").head(40).to_dicts()
    assert rows, f"no E302 case in the {name} reference set"
    return name, rows


def test_every_ruleset_condition_has_words() -> None:
    for name in ("chs_drg_11", "chs_drg_20"):
        lk = lookups(load_ruleset(name))
        atoms = {a for m in lk.mdcs for a in m["atoms"]}
        entries = [r for rs in lk.rules_by_mdc.values() for r in rs] + [
            d for ds in lk.drgs_by_adrg.values() for d in ds]
        atoms |= {a for e in entries for a in e.atoms}
        assert atoms <= set(ATOMS), atoms - set(ATOMS)
        assert {k for e in entries for k in e.params} <= set(PARAMS)


def test_each_adrg_tried_once_in_plain_words(ungroupable: tuple[str, list[dict]]) -> None:
    name, rows = ungroupable
    rs = load_ruleset(name)
    lk = lookups(rs)
    banned = technical_words(name)
    zh_e302, en_e302 = split_message(ERROR_MESSAGES[ErrorCode.NO_ADRG])
    for case in rows:
        ex = explain(case, rs)
        assert ex.error_code == "E302", case["case_id"]
        entered = [s.subject for s in ex.steps if s.stage == "mdc" and s.held]
        assert entered
        tried = [s for s in ex.steps if s.stage == "adrg" and not s.held]
        # every non-ambiguity ADRG of every entered MDC: listed, once
        expect = {r.adrg for m in entered for r in lk.rules_by_mdc.get(m, ())
                  if not r.is_qy and not r.not_entered}
        matched = {s.subject.split()[0] for s in ex.steps if s.stage == "adrg" and s.held}
        assert [s.subject for s in tried] == list(dict.fromkeys(s.subject for s in tried))
        assert {s.subject for s in tried} == expect - matched, case["case_id"]
        for s in tried:
            assert "需要" in s.zh and "needs" in s.en, s
            assert s.zh.startswith("未入 ADRG") and s.en.startswith("not ADRG")
        for s in ex.steps:
            for word in banned:
                assert word not in s.zh and word not in s.en, (word, s)
        text = ex.render()
        assert text.count("E302") == 1 and text.count(zh_e302) == 1, text[-600:]
        assert text.count(en_e302) == 1
        assert [s.stage for s in ex.steps].count("result") == 1


def test_the_named_code_would_satisfy_the_condition(ungroupable: tuple[str, list[dict]]) -> None:
    """Put the first example code the trace names for a principal procedure into the case:
    that ADRG's rule then holds (it is no longer listed as not held)."""
    name, rows = ungroupable
    rs = load_ruleset(name)
    checked = 0
    for case in rows:
        for s in explain(case, rs).steps:
            m = re.fullmatch(r"未入 ADRG \S+ .*?：需要主要手术在本组手术表中（本例：[^；]*；"
                             r"表中共 \d+ 个编码，如 ([^,）]+)[^）]*）", s.zh)
            if s.stage != "adrg" or s.held or not m:
                continue
            fixed = {**case, "procedures": [m.group(1), *(case["procedures"] or [])[1:]]}
            after = explain(fixed, rs)
            assert not any(t.stage == "adrg" and not t.held and t.subject == s.subject
                           for t in after.steps), (s.subject, m.group(1))
            assert any(t.stage == "adrg" and t.held and t.subject.split()[0] == s.subject
                       for t in after.steps) or after.adrg == s.subject
            checked += 1
            break
    assert checked >= 3


def test_grouped_cases_read_in_words_too(oracle: dict[str, pl.DataFrame]) -> None:
    rs = load_ruleset("chs_drg_11")
    banned = technical_words("chs_drg_11")
    cases = oracle["chs_drg_11"].drop(EXPECTED).head(300).to_dicts()
    for case in cases:
        ex = explain(case, rs)
        for s in ex.steps:
            for word in banned:
                assert word not in s.zh and word not in s.en, (word, s)
        if ex.status == "invalid":
            assert ex.render().count(ex.error_code) == 2  # the validate step's subject, the end
            assert ex.render().count(split_message(ex.error_message)[0]) == 1


def test_cli_explain_prints_e302_once(ungroupable: tuple[str, list[dict]]) -> None:
    name, rows = ungroupable
    case = {k: v for k, v in rows[0].items() if v is not None}
    run = subprocess.run([sys.executable, "-m", "engine.cli", "explain", "--ruleset", name],
                         input=json.dumps(case, ensure_ascii=False, default=str), cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    zh, en = split_message(ERROR_MESSAGES[ErrorCode.NO_ADRG])
    assert run.stdout.count("E302") == 1 and run.stdout.count(zh) == 1
    assert "未入 ADRG" in run.stdout and "not ADRG" in run.stdout
    assert not any(w in run.stdout for w in technical_words(name))


def test_a_case_fitting_no_mdc_names_codes_that_would(oracle: dict[str, pl.DataFrame]) -> None:
    """E301: the trace says the principal diagnosis fits no MDC and names codes of its category
    that do; the first one named, as principal diagnosis, gets the case into an MDC."""
    rs = load_ruleset("chs_drg_11")
    cases = oracle["chs_drg_11"].drop(EXPECTED)
    out = group_drg(cases, rs)
    rows = cases.filter(out["error_code"] == "E301").head(30).to_dicts()
    assert len(rows) >= 10
    moved = 0
    for case in rows:
        ex = explain(case, rs)
        why = [s for s in ex.steps if s.stage == "mdc" and not s.held][-1]
        principal = case["diagnoses"][0]
        if why.zh.startswith(f"主诊断 {principal} 属于 MDC"):  # listed, but sex/age/trauma fail
            assert "（" in why.zh and "does not meet" in why.en
            continue
        assert why.zh.startswith(f"主诊断 {principal} 不在任何 MDC")
        assert "is in no MDC's list" in why.en
        m = re.search(r"同类目的 ([^,；（]+)(?:, [^；（]+)* 属于 MDC\w(?!（限)", why.zh)
        if m:  # an MDC the case's sex and age fit
            after = explain({**case, "diagnoses": [m.group(1), *case["diagnoses"][1:]]}, rs)
            assert after.error_code != "E301", (case["case_id"], m.group(1))
            moved += 1
    assert moved >= 5
