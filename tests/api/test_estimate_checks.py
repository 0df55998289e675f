"""`POST /v1/estimate` holds what the batch holds (issue 14.3): the issue's two cases — payment
parts summing to 90,000 on a 20,000 total, discharge before admission — answered over real
HTTP with the batch's status, code, bilingual message and 0 payable, not `ok/normal`."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from engine.ingest import read_cases
from tests.api.conftest import DEMO_POLICY, Live
from tests.api.test_batches import EXPECTED
from tests.api.test_estimate import settlement_case


def test_estimate_holds_bad_money_parts_and_dates_as_the_batch(live: Live,
                                                              oracle_cases: pl.DataFrame):
    row = oracle_cases.filter(pl.col("expected_status") == "ok").drop(EXPECTED).row(0, named=True)
    base = settlement_case(row, "20000.00")
    admit = date.fromisoformat(base["admit_date"])
    odd = {"I106": base | {"fund_paid": "90000.00", "other_fund_paid": "0.00",
                           "patient_paid": "0.00"},
           "I105": base | {"discharge_date": (admit - timedelta(days=2)).isoformat()}}
    fine = live.client.post("/v1/estimate", headers=live.h("h1"),
                            json={"policy": DEMO_POLICY, "case": base}).json()
    assert fine["status"] == "ok" and fine["error_code"] is None
    for code, case in odd.items():
        r = live.client.post("/v1/estimate", headers=live.h("h1"),
                             json={"policy": DEMO_POLICY, "case": case})
        assert r.status_code == 200, r.text
        got = r.json()
        batch = read_cases(pl.DataFrame([case]).with_columns(
            pl.col("admit_date", "discharge_date").str.to_date())).cases.row(0, named=True)
        assert batch["ingest_error_code"] == code
        assert (got["status"], got["error_code"]) == ("invalid", code), got
        assert got["error_message"] == batch["ingest_error_message"]
        assert got["fund_payable"] == "0.00" and got["case_type"] == "invalid"
