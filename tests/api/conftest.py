"""A real service for the API tests: uvicorn on a loopback port, a temporary DuckDB store,
keys of every role, a published DIP catalogue, and an httpx client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import polars as pl
import pytest
import uvicorn

from api.app import create_app
from api.auth import create_key
from api.settings import ApiSettings
from grouper import load_ruleset
from weights.hospitals import upsert_hospitals
from weights.versions import save_weight_version
from weights.dip_catalog_io import import_catalog, require_clean
from weights.dip_store import save_catalog
from weights.store import open_store

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "fixtures"
ROLES = {"admin": ("admin", None), "analyst": ("analyst", None), "h1": ("hospital", "H001"),
         "h2": ("hospital", "H002")}
DIP_VERSION = "dip-golden"
DRG_VERSION = "fuzhou-2025-test"  # weights for the shipped fuzhou_drg_2025 policy
HOSPITALS = pl.DataFrame({"hospital_id": ["H001", "H002"], "name": ["一院", "二院"],
                          "level": ["3", "2"], "type": ["general", "general"],
                          "region": ["fuzhou", "fuzhou"]})


@dataclass
class Server:
    """A running service; stop() ends it (the store stays for a restart)."""

    url: str
    settings: ApiSettings
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def start_server(settings: ApiSettings) -> Server:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", access_log=False,
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return Server(f"http://127.0.0.1:{port}", settings, server, thread)


@dataclass
class Live:
    url: str
    db: Path
    keys: dict[str, str]
    client: httpx.Client
    server: Server
    extra: dict[str, object] = field(default_factory=dict)

    def h(self, who: str | None) -> dict[str, str]:
        return {"X-API-Key": self.keys[who]} if who else {}


def sample_drg_weights() -> pl.DataFrame:
    """A weight for every DRG of chs_drg_11 (a spread of RW; mean cost 10,000 yuan per RW)."""
    drgs = load_ruleset("chs_drg_11").tables["drg"]["drg"].unique().sort()
    rw = [Decimal(100 + (i * 37) % 400) / 100 for i in range(drgs.len())]
    return pl.DataFrame({"drg": drgs, "rw": pl.Series(rw, dtype=pl.Decimal(12, 4)),
                         "mean_cost": pl.Series([r * 10000 for r in rw],
                                                dtype=pl.Decimal(18, 2)),
                         "n_cases": [50] * drgs.len()})


def make_store(db: Path) -> dict[str, str]:
    """Keys of every role and a draft DIP version (published later through the API)."""
    con = open_store(db)  # api.store_access (imported by api.app) registered the service tables
    try:
        keys = {name: create_key(con, role, hosp, name) for name, (role, hosp) in ROLES.items()}
        upsert_hospitals(con, HOSPITALS, why="test hospitals")
        save_weight_version(con, DRG_VERSION, "drg", sample_drg_weights(), ruleset="chs_drg_11",
                            region="fuzhou", year=2025, source="API test weights")
    finally:
        con.close()
    catalog = require_clean(import_catalog(FIXTURES / "dip_golden_catalog.csv"))
    save_catalog(db, catalog, DIP_VERSION, region="test", year=2024, source="golden fixture")
    return keys


def results_tables(db: Path) -> None:
    """Hospital results as the settlement area writes them (two hospitals)."""
    con = open_store(db)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables")
                  .fetchall()}
        if "hospital_period_results" not in tables:
            con.execute("CREATE TABLE hospital_period_results (run_id VARCHAR, hospital_id "
                        "VARCHAR, period VARCHAR, fund_payable DECIMAL(18, 2))")
        if "clearing_results" not in tables:
            con.execute("CREATE TABLE clearing_results (year INTEGER, fund_pool VARCHAR, "
                        "hospital_id VARCHAR, final_payment DECIMAL(18, 2))")
        con.execute("INSERT INTO hospital_period_results (run_id, hospital_id, period, "
                    "fund_payable) VALUES ('r1', 'H001', '2024-01', 1000.10), "
                    "('r1', 'H002', '2024-01', 2000.20)")
        con.execute("INSERT INTO clearing_results (year, fund_pool, hospital_id, final_payment) "
                    "VALUES (2024, 'employee', 'H001', 5.01), (2024, 'employee', 'H002', 6.02)")
    finally:
        con.close()


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("api")
    db = root / "store.duckdb"
    keys = make_store(db)
    results_tables(db)
    settings = ApiSettings(db=db, dip_catalog_files={"golden-file": FIXTURES /
                                                     "dip_golden_catalog.csv"},
                           max_body_bytes=64 * 1024, max_upload_bytes=8 * 1024 * 1024)
    server = start_server(settings)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield Live(server.url, db, keys, client, server)
    server.stop()


@pytest.fixture(scope="session")
def oracle_cases() -> pl.DataFrame:
    data = Path(__file__).resolve().parents[1] / "data" / "chs_drg_11_dev.parquet"
    return pl.read_parquet(data)
