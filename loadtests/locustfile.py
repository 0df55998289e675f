"""Locust load test of the per-case endpoints (run by run_locust.py, or by hand:
`DRGDIP_LOAD_KEY=ddk_... locust -f loadtests/locustfile.py --host http://127.0.0.1:8000`).

Cases are drawn at start-up from the repository's oracle sample (real chs_drg_11 cases); nothing
is written to disk. `DRGDIP_LOAD_MIX`: `drg` (default: only POST /v1/drg/group) or `mixed`
(8 DRG : 1 DIP : 1 estimate; needs a DIP catalogue and published weights on the server).
`DRGDIP_LOAD_RATE`: requests per second per user (0 = as fast as possible).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import polars as pl
from locust import constant, constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

ORACLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "chs_drg_11_dev.parquet"
KEY = os.environ.get("DRGDIP_LOAD_KEY", "")
MIX = os.environ.get("DRGDIP_LOAD_MIX", "drg")
RATE = float(os.environ.get("DRGDIP_LOAD_RATE", "0"))
POLICY = os.environ.get("DRGDIP_LOAD_POLICY", "fuzhou_drg_2025")
HOSPITAL = os.environ.get("DRGDIP_LOAD_HOSPITAL", "H001")


def _bodies(n: int = 2000, seed: int = 11) -> list[dict]:
    frame = pl.read_parquet(ORACLE).drop(pl.selectors.starts_with("expected_"))
    rows = frame.sample(min(n, frame.height), seed=seed).to_dicts()
    return [{k: v for k, v in r.items() if v is not None} for r in rows]


CASES = _bodies()
DRG_BODIES = [json.dumps({"case": c, "ruleset": "chs_drg_11"}).encode() for c in CASES]  # undated 1.1 cases
DIP_BODIES = [json.dumps({"case": c}).encode() for c in CASES[:500]]
ESTIMATE_BODIES = [json.dumps({"policy": POLICY, "case": {
    **c, "hospital_id": HOSPITAL, "insurance_type": "employee", "admit_date": "2025-03-01",
    "discharge_date": "2025-03-09", "total_cost": "12000.00", "fund_paid": "8400.00",
    "other_fund_paid": "0.00", "patient_paid": "3600.00"}}).encode() for c in CASES[:500]]
HEADERS = {"X-API-Key": KEY, "Content-Type": "application/json"}


class BillingSystem(FastHttpUser):
    """A hospital billing system asking for the group (and payment) of cases in hospital."""

    wait_time = constant_throughput(RATE) if RATE > 0 else constant(0)

    @task(8 if MIX == "mixed" else 1)
    def drg_group(self) -> None:
        self.client.post("/v1/drg/group", data=random.choice(DRG_BODIES), headers=HEADERS,
                         name="POST /v1/drg/group")

    if MIX == "mixed":
        @task(1)
        def dip_group(self) -> None:
            self.client.post("/v1/dip/group", data=random.choice(DIP_BODIES), headers=HEADERS,
                             name="POST /v1/dip/group")

        @task(1)
        def estimate(self) -> None:
            self.client.post("/v1/estimate", data=random.choice(ESTIMATE_BODIES),
                             headers=HEADERS, name="POST /v1/estimate")
