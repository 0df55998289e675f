"""Locust users that read the store through the service (run by reads_beside_settle.py):
weight versions, a hospital's case and period results, indicators. `DRGDIP_LOAD_KEY` is a
hospital key of `DRGDIP_LOAD_HOSPITAL`."""

from __future__ import annotations

import os
from typing import ClassVar

from locust import task
from locust.contrib.fasthttp import FastHttpUser

KEY = os.environ.get("DRGDIP_LOAD_KEY", "")
HOSPITAL = os.environ.get("DRGDIP_LOAD_HOSPITAL", "H0001")


class StoreReader(FastHttpUser):
    headers: ClassVar[dict[str, str]] = {"X-API-Key": KEY}

    @task(3)
    def case_results(self) -> None:
        self.client.get(f"/v1/hospitals/{HOSPITAL}/case-results?limit=20", headers=self.headers,
                        name="case-results")

    @task(2)
    def period_results(self) -> None:
        self.client.get(f"/v1/hospitals/{HOSPITAL}/period-results?limit=20",
                        headers=self.headers, name="period-results")

    @task(2)
    def versions(self) -> None:
        self.client.get("/v1/weights/versions", headers=self.headers, name="weight-versions")

    @task(1)
    def indicators(self) -> None:
        self.client.get("/v1/indicators?limit=20", headers=self.headers, name="indicators")
