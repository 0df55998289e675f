"""`drgdip rulesets diff A B [CASES]`: what changes between two DRG rulesets.

`code_changes(a, b)`: one row per ADRG/DRG code added, removed or renamed (same code, other
name). `case_moves(cases, a, b)`: each case grouped under both rulesets (the one interpreter),
with `moved` when (status, drg) differ; `move_summary` counts moves by hospital and by DRG pair.
"""

from __future__ import annotations

import polars as pl

from grouper.drg import group_drg
from grouper.ruleset import Ruleset, resolve_ruleset


def _codes(rs: Ruleset, level: str) -> pl.DataFrame:
    if level == "drg":
        return rs.drgs.select(pl.col("drg").alias("code"), pl.col("name").fill_null(""))
    adrg = rs.tables["adrg"].filter(~pl.col("adrg").str.ends_with("QY"))
    return adrg.select(pl.col("adrg").alias("code"), pl.col("name").fill_null("")).unique(
        "code", keep="first", maintain_order=True)


def code_changes(a: str | Ruleset, b: str | Ruleset) -> pl.DataFrame:
    """(level, change, code, name_a, name_b) sorted by level, change, code."""
    ra, rb = resolve_ruleset(a), resolve_ruleset(b)
    parts = []
    for level in ("adrg", "drg"):
        j = _codes(ra, level).join(_codes(rb, level), on="code", how="full", coalesce=True,
                                   suffix="_b").rename({"name": "name_a"})
        parts.append(j.select(
            pl.lit(level).alias("level"),
            pl.when(pl.col("name_a").is_null()).then(pl.lit("added"))
            .when(pl.col("name_b").is_null()).then(pl.lit("removed"))
            .when(pl.col("name_a") != pl.col("name_b")).then(pl.lit("renamed"))
            .otherwise(pl.lit("kept")).alias("change"),
            "code", "name_a", "name_b"))
    return pl.concat(parts).filter(pl.col("change") != "kept").sort("level", "change", "code")


def case_moves(cases: pl.DataFrame, a: str | Ruleset, b: str | Ruleset) -> pl.DataFrame:
    """Per case: hospital_id (when given), status/drg under A and B, and `moved`."""
    ga, gb = group_drg(cases, a), group_drg(cases, b)
    hospital = (cases["hospital_id"].cast(pl.String) if "hospital_id" in cases.columns
                else pl.Series("hospital_id", [None] * cases.height, dtype=pl.String))
    out = pl.DataFrame({"case_id": ga["case_id"], "hospital_id": hospital,
                        "status_a": ga["status"], "drg_a": ga["drg"],
                        "status_b": gb["status"], "drg_b": gb["drg"]})
    return out.with_columns(
        ((pl.col("status_a") != pl.col("status_b"))
         | (pl.col("drg_a").fill_null("") != pl.col("drg_b").fill_null(""))).alias("moved"))


def move_summary(moves: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(by hospital: cases, moved, share; by DRG pair: drg_a → drg_b with counts, moved only)."""
    by_hospital = moves.group_by("hospital_id").agg(
        pl.len().alias("cases"), pl.col("moved").sum().alias("moved")).with_columns(
        (pl.col("moved") * 10000 // pl.col("cases") / 100).alias("moved_pct")).sort(
        "moved", "hospital_id", descending=[True, False], nulls_last=True)
    pairs = moves.filter("moved").group_by("drg_a", "drg_b", "status_a", "status_b").agg(
        pl.len().alias("cases")).sort("cases", "drg_a", "drg_b", descending=[True, False, False],
                                      nulls_last=True)
    return by_hospital, pairs
