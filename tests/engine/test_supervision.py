"""Supervision screens and indicators on small hand-made frames (issue 8)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from importlib import resources

import polars as pl
import pytest

from engine.policy import PolicyError, load_policy, parse_policy
from engine.supervision import (
    CASE_COLUMNS,
    SupervisionThresholds,
    flags_for,
    indicators_for,
    risk_levels,
    supervise,
    supervision_frame,
    write_supervision,
)
from engine.supervision.case_frame import finish_frame
from engine.supervision.low_standard import low_standard_admissions
from engine.supervision.peers import peer_stats
from engine.supervision.split_admission import split_admissions
from engine.supervision.upcoding import upcoding_oe
from weights.store import open_store

TH = SupervisionThresholds()
D0 = date(2025, 3, 1)


def case(case_id: str, **kw: object) -> dict[str, object]:
    """One row of a supervision case frame with harmless defaults."""
    admit = kw.pop("admit", D0)
    los = kw.pop("los", 5)
    assert isinstance(admit, date) and isinstance(los, int)
    row: dict[str, object] = {
        "case_id": case_id, "patient_id": "P1", "hospital_id": "H1", "hospital_level": "3",
        "dept": "03", "admit_date": admit, "discharge_date": admit + timedelta(days=los),
        "los": los, "discharge_way": 1, "readmit_plan_31d": False, "principal_dx": "J18.900",
        "n_secondary_dx": 1, "n_procedures": 0, "has_or_procedure": False, "status": "ok",
        "group_code": "ES31", "adrg": "ES3", "severity": "mcc", "severity_split": True,
        "weight": 1.0, "total_cost": 10000.0, "self_pay_out_of_scope": 0.0,
        "patient_paid": 2000.0, "case_type": None}
    row.update(kw)
    return row


def frame_of(rows: list[dict[str, object]], th: SupervisionThresholds = TH) -> pl.DataFrame:
    raw = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("case_type").cast(pl.String))
    return finish_frame(raw, th)


def test_split_admission_rules() -> None:
    d = D0
    rows = [
        case("a1", patient_id="A", admit=d, los=4),
        case("a2", patient_id="A", admit=d + timedelta(days=4 + 3)),  # 3 days later, same DRG
        case("b1", patient_id="B", admit=d, los=2),
        case("b2", patient_id="B", admit=d + timedelta(days=2 + 20)),  # 20 days: beyond 15
        case("c1", patient_id="C", admit=d, los=2),
        case("c2", patient_id="C", admit=d + timedelta(days=5), principal_dx="Z51.100"),  # chemo
        case("d1", patient_id="D", admit=d, los=2, readmit_plan_31d=True),
        case("d2", patient_id="D", admit=d + timedelta(days=5)),  # planned on the first stay
        case("e1", patient_id="E", admit=d, los=2),
        case("e2", patient_id="E", admit=d + timedelta(days=5), hospital_id="H2"),  # elsewhere
        case("f1", patient_id="F", admit=d, los=2, group_code="ES31", adrg="ES3"),
        case("f2", patient_id="F", admit=d + timedelta(days=6), group_code="ET21", adrg="ET2",
             principal_dx="J18.000"),  # other group, same 3-character diagnosis J18
        case("g1", patient_id="G", admit=d, los=2, group_code="ES31", adrg="ES3"),
        case("g2", patient_id="G", admit=d + timedelta(days=6), group_code="ES33", adrg="ES3"),
    ]
    hits = split_admissions(frame_of(rows), TH).sort("case_id")
    assert hits["case_id"].to_list() == ["a2", "f2", "g2"]
    assert hits["prev_case_id"].to_list() == ["a1", "f1", "g1"]
    assert hits["match"].to_list() == ["drg", "dx3", "adrg"]
    assert hits["gap_days"].to_list() == [3, 4, 4]
    # the same-DRG return three days later scores highest
    assert hits["score"][0] == pytest.approx(1.0 * (1 - 3 / 16))
    narrow = SupervisionThresholds(split_admission_days=2, split_match=("drg",))
    assert split_admissions(frame_of(rows), narrow).is_empty()


def test_low_standard_admission_rules() -> None:
    rows = [case(f"n{i}", total_cost=10000.0, los=6) for i in range(8)] + [
        case("cheap", total_cost=1000.0, los=1),
        case("cheap_or", total_cost=1000.0, los=1, has_or_procedure=True, n_procedures=1),
        case("cheap_died", total_cost=1000.0, los=1, discharge_way=5),
        case("cheap_long", total_cost=1000.0, los=4),
        case("cheap_px", total_cost=1000.0, los=2, n_procedures=1),
    ]
    f = frame_of(rows, SupervisionThresholds(ratio_basis="region"))
    hits = low_standard_admissions(f, TH).sort("case_id")
    assert hits["case_id"].to_list() == ["cheap"]  # cheap_px had a procedure done
    r = 1000.0 / ((8 * 10000.0 + 5 * 1000.0) / 13)
    assert hits["cost_ratio"][0] == pytest.approx(r)
    assert hits["score"].to_list() == pytest.approx([1 - r / 0.3])
    # the §5 rule as written only needs no operating-room procedure; a procedure halves the score
    literal = SupervisionThresholds(low_standard_require_no_procedure=False)
    hits = low_standard_admissions(f, literal).sort("case_id")
    assert hits["case_id"].to_list() == ["cheap", "cheap_px"]
    assert hits["score"].to_list() == pytest.approx([1 - r / 0.3, (1 - r / 0.3) / 2])
    listed = SupervisionThresholds(outpatient_dx_prefixes=("J18",))
    assert low_standard_admissions(f, listed).height == 13 - 1  # all but the death


def test_risk_levels_follow_log_mortality() -> None:
    rows = []
    deaths = {"G1": 1, "G2": 5, "G3": 20, "G4": 60, "G5": 0}
    for g, k in deaths.items():
        rows += [case(f"{g}-{i}", group_code=g, discharge_way=5 if i < k else 1)
                 for i in range(100)]
    risk = risk_levels(frame_of(rows)).sort("group_code")
    x = [math.log(k / 100) for k in deaths.values() if k]
    mu = sum(x) / len(x)
    sd = math.sqrt(sum((v - mu) ** 2 for v in x) / (len(x) - 1))
    expected = [0 if not k else 1 if math.log(k / 100) < mu - sd else 2 if math.log(k / 100) < mu
                else 3 if math.log(k / 100) < mu + sd else 4 for k in deaths.values()]
    assert risk["risk_level"].to_list() == expected
    assert risk["mortality"].to_list() == [k / 100 for k in deaths.values()]


def test_cmi_cost_and_time_index_by_hand() -> None:
    rows = [
        case("1", hospital_id="A", group_code="X", weight=1.0, total_cost=100.0, los=2),
        case("2", hospital_id="A", group_code="Y", weight=3.0, total_cost=300.0, los=6),
        case("3", hospital_id="B", group_code="X", weight=1.0, total_cost=300.0, los=6),
        case("4", hospital_id="B", group_code="X", weight=1.0, total_cost=200.0, los=4),
        case("5", hospital_id="B", group_code=None, weight=None, status="ungroupable"),
    ]
    res = supervise(frame_of(rows))
    ind = res.indicators.filter((pl.col("scope") == "hospital") & (pl.col("period") == "2025"))
    a = ind.filter(pl.col("hospital_id") == "A").row(0, named=True)
    b = ind.filter(pl.col("hospital_id") == "B").row(0, named=True)
    assert a["cmi"] == pytest.approx(2.0) and b["cmi"] == pytest.approx(1.0)
    assert a["n_groups"] == 2 and b["n_groups"] == 1
    # region means: X cost 200, LOS 4; Y cost 300, LOS 6
    assert a["cost_index"] == pytest.approx((100 / 200 + 300 / 300) / 2)
    assert b["cost_index"] == pytest.approx(250 / 200)
    assert a["time_index"] == pytest.approx((2 / 4 + 6 / 6) / 2)
    assert b["grouping_rate"] == pytest.approx(2 / 3)
    assert b["ungroupable_rate"] == pytest.approx(1 / 3)
    region = res.indicators.filter((pl.col("scope") == "region") & (pl.col("period") == "2025"))
    assert region["cost_index"][0] == pytest.approx(1.0)
    assert region["cmi"][0] == pytest.approx(6 / 4)


def test_upcoding_oe_against_leave_one_out_peers() -> None:
    rows = []
    # ADRG ES3 split by severity; hospital H1 codes 8 of 10 severe, peers 2 of 10 each.
    for h, severe in (("H1", 8), ("H2", 2), ("H3", 2)):
        rows += [case(f"{h}-{i}", hospital_id=h, severity="mcc" if i < severe else "none")
                 for i in range(10)]
    th = SupervisionThresholds(min_peers=2)
    oe = upcoding_oe(frame_of(rows, th), "year", ["hospital_id"], th).sort("hospital_id")
    # H1: E = 10 × (4/20); H2: E = 10 × (10/20)
    assert oe["severe_expected"].to_list() == pytest.approx([2.0, 5.0, 5.0])
    assert oe["upcoding_oe"].to_list() == pytest.approx([4.0, 0.4, 0.4])


def test_peer_stats_leave_one_out_and_level_fallback() -> None:
    values = pl.DataFrame({
        "period": ["2025"] * 6, "hospital_id": list("ABCDEF"),
        "hospital_level": ["3", "3", "3", "2", "2", "2"], "n": [100] * 6,
        "value": [0.1, 0.2, 0.9, 0.1, 0.1, 0.1]})
    th = SupervisionThresholds(min_peers=2, peer_percentile=0.5)
    s = peer_stats(values, th).sort("hospital_id")
    assert s["peer_scope"].to_list() == ["level"] * 6
    assert s["n_peers"].to_list() == [2] * 6
    assert s["peer_median"].to_list() == pytest.approx([0.55, 0.5, 0.15, 0.1, 0.1, 0.1])
    wide = peer_stats(values, SupervisionThresholds(min_peers=3)).sort("hospital_id")
    assert wide["peer_scope"].to_list() == ["all"] * 6 and wide["n_peers"][0] == 5


def test_hospital_flag_carries_evidence_and_score() -> None:
    rows = []
    for h in range(8):
        lows = 30 if h == 0 else 2
        rows += [case(f"H{h}-{i}", hospital_id=f"H{h}", patient_id=f"P{h}-{i}",
                      case_type="low_outlier" if i < lows else "normal",
                      total_cost=1000.0 + i) for i in range(100)]
    res = supervise(frame_of(rows), SupervisionThresholds(max_evidence=5))
    under = res.flags.filter(pl.col("kind") == "under_service")
    assert under["hospital_id"].to_list() == ["H0"]
    flag = under.row(0, named=True)
    assert flag["n_evidence"] == 30 and len(flag["evidence_case_ids"]) == 5
    assert all(cid.startswith("H0-") for cid in flag["evidence_case_ids"])
    assert flag["value"] == pytest.approx(0.30) and 0 < flag["score"] <= 1
    assert flag["score"] == pytest.approx(1 - flag["threshold"] / flag["value"])


def test_supervision_frame_from_grouping_keeps_every_case() -> None:
    cases = pl.DataFrame({
        "case_id": ["1", "2", "3"], "sex": [1, 2, 9], "age": [60, 30, 40],
        "diagnoses": [["I63.900"], ["J18.900", "E11.900"], ["J18.900"]],
        "procedures": [[], [], []], "hospital_id": ["H1", "H1", "H2"],
        "admit_date": ["2025-01-02", "2025-01-03", "2025-01-04"],
        "discharge_date": ["2025-01-09", "2025-01-06", "2025-01-05"],
        "total_cost": [12000.0, 5000.0, 100.0]})
    from grouper import group_drg
    grouped = group_drg(cases)
    weights = grouped.filter(pl.col("drg").is_not_null()).select("drg", pl.lit(1.5).alias("rw"))
    f = supervision_frame(cases, grouped, weights, hospitals=pl.DataFrame(
        {"hospital_id": ["H1", "H2"], "level": ["三级", "基层"]}))
    assert f.columns == list(CASE_COLUMNS) and f.height == 3
    assert f["hospital_level"].to_list() == ["3", "3", "community"]
    assert f["los"].to_list() == [7, 3, 1]
    assert f["status"][2] == "invalid" and f["case_type"][2] == "other"


def test_policy_supervision_section() -> None:
    policy = load_policy("foshan_drg_2025")
    assert policy.supervision.split_admission_days == 15
    assert policy.supervision.upcoding_oe == pytest.approx(1.2)
    shipped = resources.files("engine") / "policies" / "foshan_drg_2025.toml"
    text = (shipped.read_text(encoding="utf-8")
            .replace("split_admission_days = 15", "split_admission_days = 10"))
    assert parse_policy(text).supervision.split_admission_days == 10
    with pytest.raises(PolicyError, match="supervision: .*split_match"):
        parse_policy(text.replace('split_match = ["drg", "adrg", "dx3"]', 'split_match = ["x"]'))
    with pytest.raises(PolicyError, match="supervision"):
        parse_policy(text + "\n[supervision.bogus]\nx = 1\n")


def test_store_round_trip_is_idempotent(tmp_path: object) -> None:
    rows = [case(f"c{i}", patient_id="A" if i < 2 else f"P{i}",
                 admit=D0 + timedelta(days=7 * i), los=3) for i in range(6)]
    res = supervise(frame_of(rows))
    con = open_store(f"{tmp_path}/s.duckdb")
    write_supervision(con, "r1", res)
    write_supervision(con, "r1", res)
    n_ind = con.execute("SELECT count(*) FROM indicators WHERE run_id = 'r1'").fetchone()
    assert n_ind is not None and n_ind[0] == res.indicators.height
    flags = flags_for(con, kind="split_admission")
    assert flags["case_id"].to_list() == ["c1"]
    assert flags["evidence_case_ids"].to_list() == [["c0", "c1"]]
    # evidence is queryable in SQL
    ev = con.execute("SELECT unnest(evidence_case_ids) FROM supervision_flags "
                     "WHERE kind = 'split_admission' ORDER BY 1").fetchall()
    assert [e[0] for e in ev] == ["c0", "c1"]
    own = indicators_for(con, hospital_id="H1", period="2025")
    assert set(own["scope"]) == {"hospital", "dept"}
    assert indicators_for(con, hospital_id="nobody").is_empty()
