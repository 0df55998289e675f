"""DIP versions in a real DuckDB store file, and the DIP commands end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from grouper import group_dip
from weights.dip_build import DipBuildParams, build_dip_catalog
from weights.dip_store import load_catalog, save_catalog
from weights.errors import WeightTableError

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_CATALOG = ROOT / "data" / "fixtures" / "dip_golden_catalog.csv"


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    cases = pl.read_parquet(ROOT / "tests" / "data" / "chs_drg_11_dev.parquet").drop(
        pl.selectors.starts_with("expected_")).head(5000)
    rng = np.random.default_rng(3)
    return cases.with_columns(pl.Series("total_cost", np.round(rng.lognormal(9, 0.6,
                                                                             cases.height), 2)))


def test_saved_version_groups_like_the_built_one(tmp_path: Path,
                                                 history: pl.DataFrame) -> None:
    build = build_dip_catalog(history, DipBuildParams(core_threshold=5, aux_combine="priority"))
    db = tmp_path / "store.duckdb"
    save_catalog(db, build.catalog, "dip-2024", region="R1", year=2024, source="test")
    loaded = load_catalog(db, "dip-2024")
    assert loaded.aux_combine == "priority" and loaded.version == "dip-2024"
    assert group_dip(history, loaded).equals(group_dip(history, build.catalog))
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    kind, status, n_rows = con.execute(
        "SELECT kind, status, n_rows FROM weight_versions WHERE version = 'dip-2024'").fetchone()
    n_aux = con.execute("SELECT count(*) FROM dip_aux WHERE version = 'dip-2024'").fetchone()[0]
    con.close()
    assert (kind, status, n_rows) == ("dip", "draft", build.catalog.groups.height)
    assert n_aux == build.catalog.aux.height
    with pytest.raises(WeightTableError, match="exists"):
        save_catalog(db, build.catalog, "dip-2024")
    with pytest.raises(WeightTableError, match="unknown weight version"):
        load_catalog(db, "dip-1999")


def test_cli_group_and_explain_with_a_catalogue_file(tmp_path: Path) -> None:
    ingest = pytest.importorskip("engine.ingest")
    if not hasattr(ingest, "read_cases"):
        pytest.skip("case-file ingestion (engine.ingest.read_cases, another issue) not landed")
    from engine.cli import cli

    cases = tmp_path / "cases.csv"
    cases.write_text("case_id,sex,age,diagnoses,procedures\n1,1,45,K80.101,51.2300|88.0100\n"
                     "2,1,45,,\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    runner = CliRunner()
    res = runner.invoke(cli, ["group", "--method", "dip", "--catalog", str(GOLDEN_CATALOG),
                              str(cases), str(out)])
    assert res.exit_code == 0, res.output
    grouped = pl.read_csv(out, infer_schema_length=0)
    assert grouped.select("case_id", "status", "dip_code").rows() == [
        ("1", "ok", "K801002"), ("2", "invalid", None)]
    res = runner.invoke(cli, ["explain", "--method", "dip", "--catalog", str(GOLDEN_CATALOG),
                              "--json"], input=json.dumps(
        {"case_id": "x", "diagnoses": ["K80.101"], "procedures": ["51.2300"]}))
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["result"]["dip_code"] == "K801001"


def test_import_dip_and_build_dip_commands_store_versions(tmp_path: Path,
                                                          history: pl.DataFrame) -> None:
    from engine.commands.dip import build_dip_command, import_dip_command, load_dip_catalog

    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    res = runner.invoke(import_dip_command, [str(GOLDEN_CATALOG), "--version", "official-1",
                                             "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert load_dip_catalog("official-1", db).groups.height == 14
    bad = tmp_path / "bad.csv"
    bad.write_text(GOLDEN_CATALOG.read_text(encoding="utf-8") + "X,K80.1,n,51.23,abc,核心\n",
                   encoding="utf-8")
    res = runner.invoke(import_dip_command, [str(bad), "--version", "official-2", "--db",
                                             str(db)])
    assert res.exit_code != 0 and "row 16" in str(res.exception)
    hist = tmp_path / "history.parquet"
    history.write_parquet(hist)
    res = runner.invoke(build_dip_command, ["--history", str(hist), "--version", "built-1",
                                            "--db", str(db), "--core-threshold", "5"])
    assert res.exit_code == 0, res.output
    built = load_dip_catalog("built-1", db)
    assert group_dip(history, built)["status"].eq("ok").all()
