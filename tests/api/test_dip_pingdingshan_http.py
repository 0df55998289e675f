"""Issue 16: the per-case path over real HTTP (`POST /v1/dip/group`, uvicorn) equals the batch
path on every hand-checked Pingdingshan case (tests/grouper/test_dip_pingdingshan_golden.py),
with the catalogue as shipped served by the service."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import polars as pl
import pytest

from api.auth import create_key
from grouper import group_dip
from grouper.dip import OUTPUT_COLUMNS
from tests.api.conftest import service_settings, start_server
from tests.grouper.test_dip_pingdingshan_golden import CASES, SHIPPED
from weights.dip_catalog_io import import_catalog, require_clean
from weights.store import open_store

pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="shared DIP catalogue not mounted")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, str]]:
    db = tmp_path_factory.mktemp("pds") / "store.duckdb"
    con = open_store(db)
    try:
        key = create_key(con, "analyst", None, "pds-test")
    finally:
        con.close()
    server = start_server(service_settings(db, dip_catalog_files={"pds-2025": SHIPPED}))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client, key
    finally:
        server.stop()


def test_http_equals_batch_on_every_hand_checked_case(service: tuple[httpx.Client, str]
                                                      ) -> None:
    client, key = service
    rows = [{"case_id": f"P{i:02d}", "diagnoses": dx, "procedures": px, "total_cost": cost}
            for i, (_, dx, px, cost, _) in enumerate(CASES)]
    want = group_dip(pl.DataFrame(rows), require_clean(import_catalog(SHIPPED)))
    assert want["dip_code"].to_list() == [c[4] for c in CASES]
    for row, expected, (reason, *_) in zip(rows, want.to_dicts(), CASES, strict=True):
        case = {k: v for k, v in row.items() if v is not None}
        r = client.post("/v1/dip/group", headers={"X-API-Key": key},
                        json={"case": case, "catalog": "pds-2025"})
        assert r.status_code == 200, r.text
        got = r.json()
        assert {k: got[k] for k in OUTPUT_COLUMNS} == {k: expected[k] for k in OUTPUT_COLUMNS}, \
            reason
