"""Patient ids pseudonymised at ingest (engine.pseudonym, docs/privacy.md): keyed and stable,
refused without a key, the key never shown, and a run under another key than the year's earlier
runs refused instead of merging no readmissions."""

from __future__ import annotations

import hashlib
import hmac
import stat

import polars as pl
import pytest
from click.testing import CliRunner

from engine.cli import cli
from engine.ingest import read_cases
from engine.pseudonym import PSEUDONYM_PATTERN, PatientKey, PatientKeyError
from grouper.errors import RefusedError
from tests.engine.test_pipeline import build_store, settle, table
from weights import open_store

CASES = pl.DataFrame({"case_id": ["a", "b", "c", "d"], "sex": ["1", "2", "1", "2"],
                      "age": ["40", "50", "60", "70"],
                      "diagnoses": ["I10.x00", "I10.x00", "J18.900", "J18.900"],
                      "患者编号": ["P01", " P01 ", "P02", None]})
KEY_A = "a" * 32
KEY_B = "b" * 32


def test_same_patient_same_pseudonym_other_key_other_pseudonym(monkeypatch):
    monkeypatch.setenv("DRGDIP_PATIENT_KEY", KEY_A)
    ids = read_cases(CASES).cases["patient_id"]
    assert ids[0] == ids[1] != ids[2] and ids[3] is None  # trimmed, as settlement strips
    assert ids.drop_nulls().str.contains(PSEUDONYM_PATTERN).all()
    assert ids[0] == PatientKey(KEY_A.encode()).pseudonym("P01")
    for secret in (KEY_A.encode(), bytes(range(100))):  # RFC 2104 HMAC-SHA256, long keys too
        mac = hmac.new(secret, b"P01", hashlib.sha256).hexdigest()[:32]
        assert PatientKey(secret).pseudonym("P01").split("-")[1] == mac
    monkeypatch.setenv("DRGDIP_PATIENT_KEY", KEY_B)
    other = read_cases(CASES).cases["patient_id"]
    assert other[0] != ids[0] and other[0][:8] != ids[0][:8]  # another key id


def test_key_file_is_preferred_and_never_shown(tmp_path, monkeypatch):
    path = tmp_path / "patient.key"
    run = CliRunner().invoke(cli, ["keys", "patient-key", "--out", str(path)])
    assert run.exit_code == 0, run.output
    secret = path.read_text().strip()
    assert len(secret) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret not in run.output
    key = PatientKey(secret.encode())
    assert f"key id {key.key_id}" in run.output and secret not in repr(key)
    again = CliRunner().invoke(cli, ["keys", "patient-key", "--out", str(path)])
    assert isinstance(again.exception, RefusedError) and again.exception.exit_code == 4
    assert path.read_text().strip() == secret  # never overwritten
    monkeypatch.setenv("DRGDIP_PATIENT_KEY_FILE", str(path))
    assert read_cases(CASES).cases["patient_id"][0] == key.pseudonym("P01")
    with pytest.raises(PatientKeyError, match="at least 16"):
        PatientKey(b"short")


def test_patient_ids_without_a_key_are_refused(monkeypatch):
    monkeypatch.delenv("DRGDIP_PATIENT_KEY", raising=False)
    monkeypatch.delenv("DRGDIP_PATIENT_KEY_FILE", raising=False)
    with pytest.raises(RefusedError, match="DRGDIP_PATIENT_KEY_FILE"):
        read_cases(CASES)
    # readers that never link stays drop them instead; files without ids need no key
    assert read_cases(CASES, patient_ids="drop").cases["patient_id"].null_count() == 4
    assert read_cases(CASES.drop("患者编号")).cases.height == 4
    assert read_cases(CASES.with_columns(pl.lit(" ").alias("患者编号"))).cases[
        "patient_id"].null_count() == 4


def test_settle_without_a_key_exits_4_and_group_needs_none(tmp_path, monkeypatch):
    paths = build_store(tmp_path / "s", cases=600, hospitals=3)
    monkeypatch.delenv("DRGDIP_PATIENT_KEY", raising=False)
    run = CliRunner().invoke(cli, [
        "settle", "--policy", "fuzhou_drg_2025", "--cases", str(paths["2025-03"]),
        "--period", "2025-03", "--run-id", "m-03", "--hospitals", str(paths["hospitals"]),
        "--db", str(paths["db"])])
    assert isinstance(run.exception, RefusedError) and run.exception.exit_code == 4
    assert "DRGDIP_PATIENT_KEY_FILE" in str(run.exception)
    assert table(paths["db"], "SELECT count(*) AS n FROM case_results")["n"][0] == 0
    out = tmp_path / "groups.parquet"
    run = CliRunner().invoke(cli, ["group", "--ruleset", "chs_drg_11", str(paths["2025-03"]),
                                   str(out)])
    assert run.exit_code == 0, run.output
    assert "patient_id" not in pl.read_parquet(out).columns or \
        pl.read_parquet(out)["patient_id"].null_count() == pl.read_parquet(out).height


def test_a_month_under_another_key_than_the_years_earlier_runs_is_refused(tmp_path,
                                                                          monkeypatch):
    paths = build_store(tmp_path / "s", cases=600, hospitals=3)
    monkeypatch.setenv("DRGDIP_PATIENT_KEY", KEY_A)
    settle(paths, "2025-03", "m-03")
    monkeypatch.setenv("DRGDIP_PATIENT_KEY", KEY_B)
    run = CliRunner().invoke(cli, [
        "settle", "--policy", "fuzhou_drg_2025", "--cases", str(paths["2025-04"]),
        "--period", "2025-04", "--run-id", "a-04", "--hospitals", str(paths["hospitals"]),
        "--db", str(paths["db"])])
    assert isinstance(run.exception, RefusedError) and run.exception.exit_code == 4
    message = str(run.exception)
    assert "another key" in message and PatientKey(KEY_A.encode()).key_id in message
    assert KEY_A not in message + run.output and KEY_B not in message + run.output
    monkeypatch.setenv("DRGDIP_PATIENT_KEY", KEY_A)  # the year's key: the month settles
    settle(paths, "2025-04", "a-04")
    ids = table(paths["db"], "SELECT DISTINCT left(patient_id, 8) AS k FROM case_results")
    assert ids["k"].to_list() == [PatientKey(KEY_A.encode()).key_id]


def test_an_old_store_with_clear_ids_is_pseudonymised_in_place(tmp_path, monkeypatch):
    """Runs settled before pseudonymisation hold clear ids: the next month of their year is
    refused ('clear'), `drgdip keys pseudonymise-store` replaces them, then it settles and the
    readmission merge links the same patients as before."""
    paths = build_store(tmp_path / "s", cases=600, hospitals=3)
    monkeypatch.setenv("DRGDIP_PATIENT_KEY", KEY_A)
    settle(paths, "2025-03", "m-03")
    march = pl.read_parquet(paths["2025-03"]).select("case_id", "patient_id")
    con = open_store(paths["db"])
    try:  # the store as a run before pseudonymisation wrote it
        con.register("_m", march.to_arrow())
        con.execute("UPDATE case_results SET patient_id = _m.patient_id FROM _m "
                    "WHERE case_results.case_id = _m.case_id")
    finally:
        con.close()
    assert table(paths["db"], "SELECT count(*) AS n FROM case_results WHERE patient_id "
                              "LIKE 'P%'")["n"][0] == march.height > 0
    refused = CliRunner().invoke(cli, [
        "settle", "--policy", "fuzhou_drg_2025", "--cases", str(paths["2025-04"]),
        "--period", "2025-04", "--run-id", "a-04", "--hospitals", str(paths["hospitals"]),
        "--db", str(paths["db"])])
    assert isinstance(refused.exception, RefusedError) and "clear" in str(refused.exception)
    run = CliRunner().invoke(cli, ["keys", "pseudonymise-store", "--db", str(paths["db"])])
    assert run.exit_code == 0, run.output
    key = PatientKey(KEY_A.encode())
    got = table(paths["db"], "SELECT case_id, patient_id FROM case_results ORDER BY case_id")
    want = march.sort("case_id").with_columns(key.column(march.sort("case_id")["patient_id"]))
    assert got.equals(want)
    assert "pseudonymise" in table(paths["db"], "SELECT action FROM audit_log")["action"]
    settle(paths, "2025-04", "a-04")


def test_the_key_in_force_follows_the_environment_and_the_key_file(tmp_path, monkeypatch):
    """configured_key parses the settings once per state (speed of the per-case estimate), yet
    a changed variable, a removed one, or a rewritten key file takes effect on the next call."""
    import os

    from engine.pseudonym import configured_key, pseudonym_one

    monkeypatch.delenv("DRGDIP_PATIENT_KEY_FILE", raising=False)
    monkeypatch.setenv("DRGDIP_PATIENT_KEY", KEY_A)
    a = pseudonym_one("P001")
    assert a == PatientKey(KEY_A.encode()).pseudonym("P001") and configured_key() is configured_key()
    monkeypatch.setenv("DRGDIP_PATIENT_KEY", KEY_B)
    assert pseudonym_one("P001") == PatientKey(KEY_B.encode()).pseudonym("P001") != a
    monkeypatch.delenv("DRGDIP_PATIENT_KEY")
    assert configured_key() is None and pseudonym_one("P001") is None
    path = tmp_path / "patient.key"
    path.write_text(KEY_A + "\n")
    monkeypatch.setenv("DRGDIP_PATIENT_KEY_FILE", str(path))
    assert pseudonym_one("P001") == a
    path.write_text(KEY_B + "\n")  # rewritten in place: same inode, new size / mtime
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert pseudonym_one("P001") == PatientKey(KEY_B.encode()).pseudonym("P001")
    path.unlink()
    with pytest.raises(PatientKeyError):
        configured_key()
