"""Ruleset files: the project's copy, deltas, manifest checksums and the loader's checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from grouper import RulesetError, load_ruleset
from grouper.ruleset import Ruleset
from grouper.ruleset_files import (
    RULESET_ROOT,
    TABLE_COLUMNS,
    read_manifest,
    read_table,
    write_csv_bytes,
)
from grouper.ruleset_import import import_ruleset


def _tables(name: str) -> dict[str, pl.DataFrame]:
    manifest = read_manifest(name)
    return {t: read_table(manifest, t) for t in TABLE_COLUMNS}


def test_foshan_is_a_small_delta_on_the_national_tables() -> None:
    manifest = read_manifest("foshan_2022")
    assert manifest.base == "chs_drg_11"
    assert manifest.tables["icd10"] == {"inherit": True, "rows": 33304}
    assert manifest.tables["adrg_codes"]["added"] == 730
    codes = read_table(manifest, "adrg_codes")
    assert codes.height == 59405
    # BJ1 + 83.9800x001 is one of the documented Foshan differences
    assert codes.filter((pl.col("adrg") == "BJ1") & (pl.col("code") == "83.9800x001")).height == 1


def test_code_map_keeps_the_leading_space_found_in_the_source() -> None:
    dx_map = read_table(read_manifest("chs_drg_11"), "dx_code_map")
    row = dx_map.filter(pl.col("from_code") == "B06.801+J17.1*")
    assert row["to_code"].to_list() == [" B06.801+J17.1*"]


def test_row_counts_match_the_scheme() -> None:
    s = load_ruleset("chs_drg_11").summary()
    assert (s["mdc"], s["adrg"], s["drg"]) == (26, 376, 628)
    f = load_ruleset("foshan_2022").summary()
    assert (f["mdc"], f["adrg"], f["drg"]) == (26, 376, 848)


def test_checksum_mismatch_is_refused(tmp_path: Path) -> None:
    shutil.copytree(RULESET_ROOT / "chs_drg_11", tmp_path / "chs_drg_11")
    with (tmp_path / "chs_drg_11" / "mdc.csv").open("a", encoding="utf-8") as f:
        f.write("MDCQQ,99,principal_dx,,,,no,x\n")
    with pytest.raises(RulesetError, match="mdc.csv: sha256"):
        read_table(read_manifest("chs_drg_11", tmp_path), "mdc")


def test_unknown_ruleset_names_the_available_ones() -> None:
    with pytest.raises(RulesetError, match="unknown ruleset='x'; available: chs_drg_11, chs_drg_20, foshan"):
        load_ruleset("x")


BROKEN = [
    ("adrg", lambda t: t.with_columns(
        pl.when(pl.col("adrg") == "GZ1").then(pl.lit("principal_dxx"))
        .otherwise(pl.col("rule_kind")).alias("rule_kind")),
     r"adrg.csv row \d+: rule_kind='principal_dxx': unknown atom 'principal_dxx'"),
    ("drg", lambda t: t.with_columns(
        pl.when(pl.col("drg") == "GZ13").then(pl.lit("ZZ9")).otherwise(pl.col("adrg"))
        .alias("adrg")),
     r"drg.csv row \d+: adrg='ZZ9' is not a known ADRG"),
    ("drg", lambda t: pl.concat([t, t.head(1)]),
     r"drg.csv row \d+: duplicate key drg='AA19'"),
    ("adrg_codes", lambda t: pl.concat([t, pl.DataFrame(
        {"adrg": ["QQ1"], "variant": ["1"], "list": ["dx"], "code": ["A00.000"]},
        schema=t.schema)]), r"adrg_codes.csv row \d+: adrg/variant='QQ1/1' is not a known ADRG rule"),
    ("mdc", lambda t: t.with_columns(pl.lit("maybe").alias("ambiguity_check")),
     r"mdc.csv row 2: ambiguity_check='maybe'"),
    ("adrg", lambda t: t.with_columns(
        pl.when(pl.col("adrg") == "GZ1").then(pl.lit("x1")).otherwise(pl.col("age_days_max"))
        .alias("age_days_max")), r"adrg.csv row \d+: age_days_max='x1' is not a number"),
]


@pytest.mark.parametrize(("table", "edit", "message"), BROKEN)
def test_loader_names_file_row_and_value(table: str, edit, message: str) -> None:
    tables = _tables("chs_drg_11")
    tables[table] = edit(tables[table])
    with pytest.raises(RulesetError, match=message):
        Ruleset(name="broken", manifest=read_manifest("chs_drg_11"), tables=tables)


def test_import_builds_a_delta_that_loads_to_the_same_tables(tmp_path: Path) -> None:
    root = tmp_path / "rulesets"
    shutil.copytree(RULESET_ROOT / "chs_drg_11", root / "chs_drg_11")
    src = tmp_path / "src"
    src.mkdir()
    tables = _tables("chs_drg_11")
    tables["mcc"] = pl.concat([tables["mcc"], pl.DataFrame(
        {"dx_code": ["Z99.999"], "exclusion_table": ["1"]})])
    for name, frame in tables.items():
        (src / f"{name}.csv").write_bytes(write_csv_bytes(frame))
    import_ruleset(src, "local", base="chs_drg_11", root=root)
    manifest = read_manifest("local", root)
    assert manifest.tables["mcc"]["added"] == 1
    assert manifest.tables["adrg"] == {"inherit": True, "rows": 376}
    rs = load_ruleset("local", root=root)
    assert rs.tables["mcc"].filter(pl.col("dx_code") == "Z99.999").height == 1
