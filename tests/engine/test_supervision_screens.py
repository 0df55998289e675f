"""The gaming screens added after issue 8: transfer readmission, bed blocking, CMI drift and
patient dumping, on hand-built case frames (a case that must be flagged and a near miss that
must not), their flags in the store and the report, and their policy keys."""

from __future__ import annotations

import json
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import polars as pl
import pytest

from engine.policy import PolicyError, load_policy, parse_policy
from engine.report.build import ReportData, build_report
from engine.supervision import SupervisionThresholds, flags_for, supervise, write_supervision
from engine.supervision.bed_blocking import bed_blocking_stays
from engine.supervision.cmi_drift import cmi_growth
from engine.supervision.patient_dumping import dumping_rates
from engine.supervision.transfer_readmission import transfer_readmissions
from tests.engine.test_supervision import case, frame_of
from weights.store import open_store

TH = SupervisionThresholds()
D0 = date(2025, 3, 1)
NEW_KINDS = ("transfer_readmission", "bed_blocking", "cmi_drift", "patient_dumping")


def pair(pid: str, gap: int, first: dict[str, object] | None = None,
         second: dict[str, object] | None = None) -> list[dict[str, object]]:
    """Two stays of patient `pid`: H1 for 4 days, then H2 admitted `gap` days after discharge."""
    a = {"hospital_id": "H1", **(first or {})}
    b = {"hospital_id": "H2", **(second or {})}
    return [case(f"{pid}1", patient_id=pid, admit=D0, los=4, **a),
            case(f"{pid}2", patient_id=pid, admit=D0 + timedelta(days=4 + gap), **b)]


def test_transfer_readmission_rules() -> None:
    rows = [
        *pair("A", 3),  # another hospital 3 days later, same DRG: flagged
        *pair("B", 15),  # on the window's edge: flagged
        *pair("C", 16),  # one day beyond 15: not
        *pair("D", 3, first={"discharge_way": 2}),  # 医嘱转院: a documented referral
        *pair("E", 3, first={"discharge_way": 3}),  # 转社区: a documented referral
        *pair("F", 3, second={"hospital_id": "H1"}),  # same hospital: split admission's business
        *pair("G", 3, second={"principal_dx": "Z51.100"}),  # planned chemotherapy
        *pair("H", 3, first={"readmit_plan_31d": True}),  # planned on the first stay
        *pair("I", 3, second={"group_code": "FT21", "adrg": "FT2", "principal_dx": "I20.000"}),
        *pair("J", 5, second={"group_code": "ET21", "adrg": "ET2", "principal_dx": "J18.000"}),
        *pair("K", 2, first={"discharge_way": 4}),  # against advice is no referral: flagged
    ]
    hits = transfer_readmissions(frame_of(rows), TH).sort("case_id")
    assert hits["case_id"].to_list() == ["A2", "B2", "J2", "K2"]
    assert hits["prev_case_id"].to_list() == ["A1", "B1", "J1", "K1"]
    assert hits["prev_hospital_id"].to_list() == ["H1"] * 4
    assert hits["hospital_id"].to_list() == ["H2"] * 4
    assert hits["match"].to_list() == ["drg", "drg", "dx3", "drg"]
    assert hits["score"].to_list() == pytest.approx(
        [1 - 3 / 16, 1 - 15 / 16, 0.75 * (1 - 5 / 16), 1 - 2 / 16])
    # referrals count again once the region does not treat them as such
    loose = SupervisionThresholds(transfer_discharge_ways=())
    assert set(transfer_readmissions(frame_of(rows), loose)["case_id"]) == {
        "A2", "B2", "D2", "E2", "J2", "K2"}
    narrow = SupervisionThresholds(transfer_readmission_days=2)
    assert transfer_readmissions(frame_of(rows), narrow)["case_id"].to_list() == ["K2"]

    flag = supervise(frame_of(pair("A", 3))).flags.filter(
        pl.col("kind") == "transfer_readmission").row(0, named=True)
    assert flag["level"] == "case" and flag["hospital_id"] == "H2" and flag["case_id"] == "A2"
    assert flag["evidence_case_ids"] == ["A1", "A2"] and flag["n_evidence"] == 2
    assert "H1" in flag["message"] and "3 天" in flag["message"]


def bed_rows(hospital: str, n: int, **kw: object) -> list[dict[str, object]]:
    """n ordinary stays of group G1: 5 days, 10 000 yuan (2 000 a day)."""
    return [case(f"{hospital}-n{i}", hospital_id=hospital, patient_id=f"{hospital}-{i}",
                 group_code="G1", los=5, total_cost=10000.0, **kw) for i in range(n)]


def test_bed_blocking_cases() -> None:
    rows = [*bed_rows("H1", 30),
            case("cheap", los=6, total_cost=1200.0, group_code="G1"),  # 200 a day = 0.1
            case("near", los=6, total_cost=4200.0, group_code="G1"),  # 700 a day = 0.35
            case("short", los=3, total_cost=600.0, group_code="G1"),  # cheap, but 3 days
            case("px", los=6, total_cost=1500.0, group_code="G1", n_procedures=1),
            *[case(f"small{i}", los=6, total_cost=1500.0, group_code="G2") for i in range(5)]]
    th = SupervisionThresholds(ratio_basis="region")
    hits = bed_blocking_stays(frame_of(rows, th), th)
    assert hits["case_id"].to_list() == ["cheap"]  # G2 has 5 cases: no median to compare with
    row = hits.row(0, named=True)
    assert row["group_daily_median"] == pytest.approx(2000.0)
    assert row["daily_ratio"] == pytest.approx(0.1)
    assert row["score"] == pytest.approx(1 - 0.1 / 0.3)
    strict = SupervisionThresholds(ratio_basis="region", bed_blocking_max_daily_ratio=0.1)
    assert bed_blocking_stays(frame_of(rows, strict), strict).is_empty()
    flag = supervise(frame_of(rows, th), th).flags.filter(
        (pl.col("kind") == "bed_blocking") & (pl.col("level") == "case")).row(0, named=True)
    assert flag["case_id"] == "cheap" and flag["evidence_case_ids"] == ["cheap"]
    assert "日均费用 200 元" in flag["message"] and "10%" in flag["message"]


def test_bed_blocking_compares_a_cheap_level_with_its_own_level() -> None:
    # Community stays cost a quarter of the tertiary ones per day, all of them: the level is
    # cheap, no stay in it is cheap for its level. 10 community cases are too few for a level
    # median, so the region's median × the level's factor is the comparison.
    rows = [*bed_rows("T", 30),
            *[case(f"C{i}", hospital_id="C", hospital_level="community", group_code="G1",
                   los=6, total_cost=3000.0) for i in range(10)]]
    by_region = SupervisionThresholds(ratio_basis="region")
    assert bed_blocking_stays(frame_of(rows, by_region), by_region).height == 10
    assert bed_blocking_stays(frame_of(rows), TH).is_empty()


def test_bed_blocking_hospital_share_against_peers() -> None:
    rows = []
    for h in range(8):
        n_cheap = 20 if h == 0 else 1
        rows += bed_rows(f"H{h}", 100 - n_cheap)
        rows += [case(f"H{h}-c{i}", hospital_id=f"H{h}", patient_id=f"H{h}-c{i}", los=6,
                      total_cost=1200.0 + i, group_code="G1") for i in range(n_cheap)]
    res = supervise(frame_of(rows), SupervisionThresholds(max_evidence=5))
    hosp = res.flags.filter((pl.col("kind") == "bed_blocking") & (pl.col("level") == "hospital"))
    assert hosp["hospital_id"].to_list() == ["H0"]
    flag = hosp.row(0, named=True)
    assert flag["value"] == pytest.approx(0.20) and flag["peer_value"] == pytest.approx(0.01)
    assert flag["n_evidence"] == 20 and len(flag["evidence_case_ids"]) == 5
    assert flag["evidence_case_ids"][0] == "H0-c0"  # the cheapest stay first
    assert res.flags.filter((pl.col("kind") == "bed_blocking")
                            & (pl.col("level") == "case")).height == 20 + 7


def drift_rows(growth: dict[str, float], year: int) -> list[dict[str, object]]:
    """40 cases per hospital in `year`, RW 1.0, or 1 + growth[h] in 2025."""
    admit = date(year, 3, 1)
    return [case(f"{h}-{year}-{i}", hospital_id=h, patient_id=f"{h}-{i}", admit=admit,
                 weight=1.0 + (g if year == 2025 else 0.0)) for h, g in growth.items()
            for i in range(40)]


def test_cmi_drift_against_own_past_and_peers() -> None:
    growth = {"H0": 0.30, "H1": 0.08} | {f"H{i}": 0.0 for i in range(2, 8)}
    rows = drift_rows(growth, 2024) + drift_rows(growth, 2025)
    res = supervise(frame_of(rows), SupervisionThresholds(max_evidence=3))
    drift = res.flags.filter(pl.col("kind") == "cmi_drift")
    assert drift["hospital_id"].to_list() == ["H0"]  # H1 grew 8 %: below 10 %
    flag = drift.row(0, named=True)
    assert flag["period"] == "2025" and flag["level"] == "hospital"
    assert flag["value"] == pytest.approx(0.30) and flag["peer_value"] == pytest.approx(0.0)
    assert flag["score"] == pytest.approx(1 - 0.10 / 0.30)
    assert flag["n_evidence"] == 40 and len(flag["evidence_case_ids"]) == 3
    assert json.loads(flag["detail"])["prev_period"] == "2024"
    assert "1.3" in flag["message"] and "2024" in flag["message"]

    # Everyone's CMI rose by 30 % (a new weight table): the peers explain it, no flag.
    everyone = {f"H{i}": 0.30 for i in range(8)}
    same = supervise(frame_of(drift_rows(everyone, 2024) + drift_rows(everyone, 2025)))
    assert same.flags.filter(pl.col("kind") == "cmi_drift").is_empty()
    g = cmi_growth(same.indicators.filter((pl.col("scope") == "hospital")
                                          & (pl.col("period_kind") == "year")), TH)
    assert g["excess"].to_list() == pytest.approx([0.0] * 8)

    # One year only: nothing to compare with.
    one = supervise(frame_of(drift_rows(growth, 2025)))
    assert one.flags.filter(pl.col("kind") == "cmi_drift").is_empty()


def test_patient_dumping_heavy_cases_leaving() -> None:
    rows = []
    for h in range(8):
        for i in range(100):
            heavy = i < 50
            left = (i < (15 if h in (0, 3) else 1)) if heavy else (h == 2 and i < 65)
            kw: dict[str, object] = {"severity": "mcc" if heavy else "none", "weight": 1.0}
            if h == 3 and heavy:  # heavy by weight, not by MCC
                kw = {"severity": "none", "weight": 2.5}
            rows.append(case(f"H{h}-{i}", hospital_id=f"H{h}", patient_id=f"H{h}-{i}",
                             discharge_way=2 if left else 1, **kw))
    f = frame_of(rows)
    rates = dumping_rates(f, TH).sort("hospital_id")
    assert rates["n"].to_list() == [50] * 8
    assert rates["value"].to_list() == pytest.approx([0.3, 0.02, 0.02, 0.3] + [0.02] * 4)
    res = supervise(f)
    dump = res.flags.filter(pl.col("kind") == "patient_dumping").sort("hospital_id")
    # H2 transfers 15 light cases out: referral of light cases is not dumping
    assert dump["hospital_id"].to_list() == ["H0", "H3"]
    flag = dump.row(0, named=True)
    assert flag["n_evidence"] == 15 and flag["peer_value"] == pytest.approx(0.02)
    assert all(c.startswith("H0-") for c in flag["evidence_case_ids"])
    # a margin the excess does not clear
    wide = SupervisionThresholds(dumping_margin=0.3)
    assert supervise(f, wide).flags.filter(pl.col("kind") == "patient_dumping").is_empty()


def test_new_flags_in_store_and_report(tmp_path: Path) -> None:
    rows = [*pair("A", 3)]
    for h in range(8):
        n_cheap = 20 if h == 0 else 1
        rows += bed_rows(f"H{h}", 100 - n_cheap)
        rows += [case(f"H{h}-c{i}", hospital_id=f"H{h}", patient_id=f"H{h}-c{i}", los=6,
                      total_cost=1200.0, group_code="G1") for i in range(n_cheap)]
    res = supervise(frame_of(rows))
    con = open_store(str(tmp_path / "s.duckdb"))
    write_supervision(con, "r1", res)  # case and hospital bed_blocking flags: distinct flag ids
    stored = flags_for(con, kind="bed_blocking")
    assert set(stored["level"]) == {"case", "hospital"} and stored.height == 28
    assert flags_for(con, kind="transfer_readmission")["case_id"].to_list() == ["A2"]
    files = build_report(ReportData(run_id="r1", indicators=res.indicators, flags=res.flags,
                                    groups=pl.DataFrame({"group_code": ["G1"],
                                                         "group_name": ["G1"], "n": [800]})),
                         tmp_path / "out")
    html = files.html.read_text(encoding="utf-8")
    assert "挂床住院" in html and "转院再入" in html
    assert "bed_blocking_max_daily_ratio" in html


def test_policy_keys_of_the_new_screens() -> None:
    for name in ("foshan_drg_2025", "fuzhou_drg_2025", "chaozhou_dip_2025", "jiangmen_dip_2025"):
        sup = load_policy(name).supervision
        assert sup.transfer_readmission_days == 15 and sup.transfer_discharge_ways == (2, 3)
        assert sup.bed_blocking_max_daily_ratio == pytest.approx(0.3)
        assert sup.cmi_drift_min_excess == pytest.approx(0.1)
        assert sup.dumping_discharge_ways == (2, 4)
        assert sup.low_standard_require_no_procedure is True
    text = (resources.files("engine") / "policies" / "foshan_drg_2025.toml").read_text(
        encoding="utf-8")
    assert parse_policy(text.replace("bed_blocking_min_los = 4", "bed_blocking_min_los = 7")
                        ).supervision.bed_blocking_min_los == 7
    with pytest.raises(PolicyError, match="supervision"):
        parse_policy(text.replace("bed_blocking_max_daily_ratio = 0.3",
                                  "bed_blocking_max_daily_ratio = 1.5"))
