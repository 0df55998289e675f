"""Reads kept per replica (api.store_access.ReadCache): an answer is served again from memory
only while the store is unchanged; a write by another process gives the next read the new rows.
The kept JSON is what the response model would send."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from api.models import RowsOut
from api.routers.reads import encode, table_rows
from api.store_access import Store
from weights.store import open_store


def test_kept_answer_follows_another_process_write(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    con = open_store(db, create=True)
    con.execute("CREATE TABLE t (hospital_id VARCHAR, fee DECIMAL(18,2))")
    con.execute("INSERT INTO t VALUES ('H1', 1.50)")
    con.close()
    store = Store(db, refresh_seconds=3600)
    store.init()
    key = ("t", "H1")

    def page(v):  # type: ignore[no-untyped-def]
        return encode(table_rows(v, "t", {"hospital_id": "H1"}, 10, 0))

    first = store.answer(key, page)
    assert json.loads(first)["total"] == 1
    assert store.cached(key) == first  # unchanged store: served from memory
    writer = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
              "c.execute(\"INSERT INTO t VALUES ('H1', 2.25)\"); c.close()")
    subprocess.run([sys.executable, "-c", writer, str(db)], check=True)
    assert store.cached(key) is None  # changed by another process: not served from memory
    second = json.loads(store.answer(key, page))
    assert second["total"] == 2 and [r["fee"] for r in second["rows"]] == ["1.50", "2.25"]
    store.close()


def test_encode_is_the_response_models_json() -> None:
    out = RowsOut(table="x", total=2, limit=10, offset=0, rows=[
        {"a": Decimal("68.3500"), "d": date(2025, 1, 18), "ts": datetime(2026, 12, 3, 15, 53, 10,
         48548), "n": None, "b": False, "l": ["C1", "C2"], "i": 7, "s": "医院 H0001"},
        {"a": Decimal("-0.01"), "d": None, "ts": None, "n": None, "b": True, "l": [], "i": 0,
         "s": ""}])
    fastapi_way = json.dumps(out.model_dump(mode="json"), ensure_ascii=False, allow_nan=False,
                             separators=(",", ":")).encode()
    assert encode(out) == fastapi_way
