"""Versions in a real DuckDB file: diff with known edits, publish (atomic, immutable), refusals."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from weights import (
    PublishedVersionError,
    WeightTableError,
    active_drg_weights,
    audit_log,
    build_drg_weights,
    copy_version,
    diff,
    edit_rows,
    list_versions,
    open_store,
    publish,
    retire,
    save_weight_version,
    verify,
    version_info,
    version_rows,
)


@pytest.fixture(scope="module")
def weights(history: pl.DataFrame, grouped: pl.DataFrame) -> pl.DataFrame:
    return build_drg_weights(history, "chs_drg_11", grouped=grouped)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return open_store(tmp_path / "store.duckdb")


def _save(con: duckdb.DuckDBPyConnection, version: str, rows: pl.DataFrame, **kw: object) -> None:
    save_weight_version(con, version, "drg", rows, ruleset="chs_drg_11", region="r",
                        year=2024, source="test", who="tester", **kw)  # type: ignore[arg-type]


def test_round_trip_keeps_values(con: duckdb.DuckDBPyConnection, weights: pl.DataFrame) -> None:
    _save(con, "v1", weights)
    stored = version_rows(con, "v1")
    assert stored.height == weights.height
    assert stored["drg"].to_list() == weights["drg"].to_list()
    assert stored["rw"].to_list() == weights["rw"].to_list()
    assert stored["base_points"].to_list() == weights["base_points"].to_list()
    assert version_info(con, "v1")["status"] == "draft"


def test_diff_with_known_edits(con: duckdb.DuckDBPyConnection, weights: pl.DataFrame) -> None:
    _save(con, "v1", weights)
    copy_version(con, "v1", "v2", who="tester", why="revision")
    drgs = weights["drg"].to_list()
    retired, rescored = drgs[:3], drgs[10:15]
    old = dict(zip(weights["drg"], weights["rw"], strict=True))
    new_rw = {d: (old[d] * Decimal("1.1")).quantize(Decimal("0.0001")) for d in rescored}
    edit_rows(con, "v2", delete=retired, who="tester", why="retire three")
    edit_rows(con, "v2", upsert=pl.DataFrame({"drg": rescored + ["XX11", "XX13"],
                                             "rw": [new_rw[d] for d in rescored]
                                             + [Decimal("1.5"), Decimal("0.75")]}),
              who="tester", why="rescore five, add two")
    d = diff(con, "v1", "v2")
    assert d.filter(pl.col("change") == "added")["drg"].to_list() == ["XX11", "XX13"]
    assert d.filter(pl.col("change") == "retired")["drg"].to_list() == sorted(retired)
    r = d.filter(pl.col("change") == "rescored")
    assert r["drg"].to_list() == sorted(rescored)
    for row in r.iter_rows(named=True):
        assert row["old"] == old[row["drg"]] and row["new"] == new_rw[row["drg"]]
        assert row["rel_change"] == pytest.approx(float(new_rw[row["drg"]] / old[row["drg"]]) - 1,
                                                  abs=6e-5)
    assert d.height == 2 + 3 + 5
    full = diff(con, "v1", "v2", include_unchanged=True)
    assert full.filter(pl.col("change") == "unchanged").height == weights.height - 3 - 5


def test_publish_twice_and_edit_published_refused(con: duckdb.DuckDBPyConnection,
                                                  weights: pl.DataFrame) -> None:
    _save(con, "v1", weights)
    publish(con, "v1", "tester", "first weights")
    with pytest.raises(PublishedVersionError, match="already published.*publishing twice"):
        publish(con, "v1", "tester", "again")
    with pytest.raises(PublishedVersionError, match="published versions are immutable"):
        edit_rows(con, "v1", delete=[weights["drg"][0]])
    with pytest.raises(PublishedVersionError, match="published versions are immutable"):
        _save(con, "v1", weights, replace=True)
    assert verify(con, "v1")
    assert version_rows(con, "v1")["rw"].to_list() == weights["rw"].to_list()


def test_draft_needs_replace(con: duckdb.DuckDBPyConnection, weights: pl.DataFrame) -> None:
    _save(con, "v1", weights)
    with pytest.raises(WeightTableError, match="exists \\(draft\\); pass replace"):
        _save(con, "v1", weights)
    _save(con, "v1", weights.head(10), replace=True)
    assert version_info(con, "v1")["n_rows"] == 10


def test_publish_retires_previous_and_active_follows(con: duckdb.DuckDBPyConnection,
                                                     weights: pl.DataFrame) -> None:
    with pytest.raises(WeightTableError, match="no published weight version"):
        active_drg_weights(con, "chs_drg_11", 2024)
    _save(con, "v1", weights)
    _save(con, "v2", weights.head(100))
    publish(con, "v1", "tester", "first")
    assert active_drg_weights(con, "chs_drg_11", 2024).height == weights.height
    publish(con, "v2", "tester", "second")
    status = dict(list_versions(con).select("version", "status").iter_rows())
    assert status == {"v1": "retired", "v2": "published"}
    assert active_drg_weights(con, "chs_drg_11", 2024)["version"].unique().to_list() == ["v2"]
    with pytest.raises(PublishedVersionError, match="retired"):
        publish(con, "v1", "tester", "back")
    retire(con, "v2", "tester", "withdrawn")
    with pytest.raises(WeightTableError, match="no published"):
        active_drg_weights(con, "chs_drg_11", 2024)
    log = audit_log(con, entity="weight_versions")
    assert set(log["action"]) >= {"create", "publish", "retire"}
    assert log.filter(pl.col("action") == "publish")["why"].to_list() == ["second", "first"]


def test_tampering_is_detected(con: duckdb.DuckDBPyConnection, weights: pl.DataFrame) -> None:
    _save(con, "v1", weights)
    publish(con, "v1", "tester", "first")
    con.execute("UPDATE drg_weights SET rw = rw + 0.0001 WHERE version = 'v1' AND drg = ?",
                [weights["drg"][0]])
    assert not verify(con, "v1")


def test_unknown_version_lists_known(con: duckdb.DuckDBPyConnection,
                                    weights: pl.DataFrame) -> None:
    _save(con, "v1", weights.head(5))
    with pytest.raises(WeightTableError, match="unknown weight version 'v9'; known: v1"):
        publish(con, "v9", "tester", "")


def test_concurrent_reader_sees_old_or_new_never_a_mix(tmp_path: Path,
                                                      weights: pl.DataFrame) -> None:
    """Readers on their own connections query the active weights while versions are published
    one after another; version k has rw = k for every DRG and k DRGs fewer than version 1."""
    con = open_store(tmp_path / "store.duckdb")
    n_versions = 12
    for k in range(1, n_versions + 1):
        rows = weights.slice(k).with_columns(pl.lit(Decimal(k)).cast(pl.Decimal(12, 4)).alias("rw"))
        _save(con, f"v{k}", rows)
    publish(con, "v1", "tester", "start")
    expected = {f"v{k}": (k, weights.height - k) for k in range(1, n_versions + 1)}
    seen: list[str] = []
    errors: list[str] = []
    done = threading.Event()

    def reader() -> None:
        cur = con.cursor()
        while not done.is_set():
            rows = active_drg_weights(cur, "chs_drg_11", 2024)
            versions = rows["version"].unique().to_list()
            if len(versions) != 1:
                errors.append(f"mixed versions {versions}")
                continue
            rw, n = expected[versions[0]]
            if rows.height != n or set(rows["rw"].to_list()) != {Decimal(rw)}:
                errors.append(f"{versions[0]}: {rows.height} rows, rw {set(rows['rw'])}")
            seen.append(versions[0])

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    writer = con.cursor()
    for k in range(2, n_versions + 1):
        publish(writer, f"v{k}", "tester", f"step {k}")
    done.set()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    assert len(set(seen)) >= 2 and len(seen) >= 10
