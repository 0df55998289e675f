"""A real service for the API tests: uvicorn on a loopback port, a temporary DuckDB store,
keys of every role, a published DIP catalogue, and an httpx client."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx
import polars as pl
import pytest
import uvicorn

from api.app import create_app
from api.auth import create_key
from api.settings import ApiSettings
from weights.dip_catalog_io import import_catalog, require_clean
from weights.dip_store import save_catalog
from weights.store import open_store

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "fixtures"
H1, H2 = "H0001", "H0002"  # hospitals of the demo region
ROLES = {"admin": ("admin", None), "analyst": ("analyst", None), "h1": ("hospital", H1),
         "h2": ("hospital", H2)}
DIP_VERSION = "dip-golden"
DEMO_POLICY = "fuzhou_drg_2025"  # `drgdip demo` publishes weights for it


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


def demo_store(db: Path, cases: int = 4000) -> None:
    """A synthetic region through the real pipeline (`drgdip demo`): hospitals, published DRG
    weights for DEMO_POLICY, a settled and cleared year (case, period and clearing results),
    and its supervision (`drgdip report`: indicators and flags)."""
    run = subprocess.run([sys.executable, "-m", "engine.cli", "demo", "--cases", str(cases),
                          "--hospitals", "4", "--dir", str(db.parent / "demo"), "--db", str(db)],
                         capture_output=True, text=True, check=False, cwd=db.parent)
    assert run.returncode == 0, run.stderr[-3000:]
    # supervision of the cleared year: the indicators and flags the read endpoints serve
    run = subprocess.run([sys.executable, "-m", "engine.cli", "report", "--out",
                          str(db.parent / "report"), "--db", str(db)],
                         capture_output=True, text=True, check=False, cwd=db.parent)
    assert run.returncode == 0, run.stderr[-3000:]


def open_beside_service(db: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the store of a service running in THIS process. The service opens it read-only for
    the moment of a replica refresh; DuckDB refuses a second in-process connection with another
    configuration meanwhile (ConnectionException), where another process would just wait for
    the lock. So retry briefly, as the service's own writes would."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return open_store(db, read_only=read_only)
        except duckdb.ConnectionException:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def service_data(db: Path) -> dict[str, str]:
    """Keys of every role, and a draft DIP version (published later through the API)."""
    con = open_store(db)
    try:
        for hospital in (H1, H2, "H0009"):  # keys are only for hospitals of the master
            con.execute("INSERT INTO hospital_master (hospital_id, name, level, updated_at, "
                        "updated_by) VALUES (?, ?, '3', now(), 'test') ON CONFLICT DO NOTHING",
                        [hospital, f"医院 {hospital}"])
        keys = {name: create_key(con, role, hosp, name) for name, (role, hosp) in ROLES.items()}
    finally:
        con.close()
    catalog = require_clean(import_catalog(FIXTURES / "dip_golden_catalog.csv"))
    # the golden catalogue publishes no mean costs and settlement refuses such a version:
    # derive them as score × 10 yuan (a 1000-point catalogue, regional average 10,000 yuan)
    catalog.groups = catalog.groups.with_columns(
        pl.coalesce("mean_cost", pl.col("score") * 10).alias("mean_cost"))
    save_catalog(db, catalog, DIP_VERSION, region="test", year=2024, source="golden fixture")
    return keys


def service_settings(db: Path, **more: object) -> ApiSettings:
    values: dict[str, object] = {
        "db": db, "dip_catalog_files": {"golden-file": FIXTURES / "dip_golden_catalog.csv"},
        # the shared service groups the chs_drg_11 oracle cases, which carry no discharge date
        # (the shipped default, auto, is tested in test_grouping.py)
        "default_ruleset": "chs_drg_11",
        "max_body_bytes": 64 * 1024, "max_upload_bytes": 8 * 1024 * 1024, **more}
    return ApiSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("api")
    db = root / "store.duckdb"
    demo_store(db)
    keys = service_data(db)
    server = start_server(service_settings(db))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield Live(server.url, db, keys, client, server)
    server.stop()


@pytest.fixture(scope="session")
def oracle_cases() -> pl.DataFrame:
    data = Path(__file__).resolve().parents[1] / "data" / "chs_drg_11_dev.parquet"
    return pl.read_parquet(data)
