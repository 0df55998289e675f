"""DIP catalogues in the store: a `dip` row of `weight_versions`, its groups in `dip_catalog`
and its auxiliary coefficients in `dip_aux` (migration 100, registered here), one transaction
with its audit row. The grouping parameters travel in `weight_versions.params` (JSON)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import polars as pl

from grouper.dip_catalog import AUX_SCHEMA, GROUP_SCHEMA, DipCatalog
from weights.audit import current_user, record
from weights.errors import WeightTableError
from weights.schema import Migration, register_migration
from weights.store import open_store, transaction

DIP_AUX_MIGRATION = Migration(100, "dip_aux: DIP auxiliary-catalogue coefficients", (
    """CREATE TABLE dip_aux (
        version VARCHAR NOT NULL,
        dip_code VARCHAR NOT NULL,
        dimension VARCHAR NOT NULL CHECK (dimension IN ('tumour', 'severity', 'cci', 'age')),
        level VARCHAR NOT NULL,
        coef DECIMAL(10, 4) NOT NULL CHECK (coef > 0),
        n_cases BIGINT,
        PRIMARY KEY (version, dip_code, dimension, level)
    )""",
))
register_migration(DIP_AUX_MIGRATION)

PARAMS = ("score_scale", "aux_combine", "ruleset", "severity_min_los")


def _checksum(catalog: DipCatalog) -> str:
    digest = hashlib.sha256()
    digest.update(catalog.groups.sort("dip_code").write_csv().encode())
    digest.update(catalog.aux.sort("dip_code", "dimension", "level").write_csv().encode())
    return digest.hexdigest()


def save_catalog(db: str | Path, catalog: DipCatalog, version: str, *, region: str = "",
                 year: int | None = None, source: str = "", who: str = "",
                 why: str = "") -> None:
    """Store `catalog` as a new draft `dip` version; an existing version label is refused."""
    con = open_store(db)
    try:
        found = con.execute("SELECT kind, status FROM weight_versions WHERE version = ?",
                            [version]).fetchall()
        known = found[0] if found else None
        if known:
            raise WeightTableError(f"version={version!r} already exists ({known[0]}, "
                                   f"{known[1]}); choose a new version label")
        params = {p: getattr(catalog, p) for p in PARAMS}
        groups = catalog.groups.select(pl.lit(version).alias("version"), *GROUP_SCHEMA)
        aux = catalog.aux.select(pl.lit(version).alias("version"), *AUX_SCHEMA)
        with transaction(con):
            con.execute(
                "INSERT INTO weight_versions (version, kind, ruleset, region, year, source, "
                "params, n_rows, checksum, status, created_at, created_by) "
                "VALUES (?, 'dip', ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?)",
                [version, catalog.ruleset, region, year or datetime.now().year, source,
                 json.dumps(params, ensure_ascii=False), groups.height, _checksum(catalog),
                 datetime.now(), who or current_user()])
            con.register("dip_groups_in", groups.to_arrow())
            con.execute(f"INSERT INTO dip_catalog ({', '.join(groups.columns)}) "
                        "SELECT * FROM dip_groups_in")
            con.unregister("dip_groups_in")
            if aux.height:
                con.register("dip_aux_in", aux.to_arrow())
                con.execute(f"INSERT INTO dip_aux ({', '.join(aux.columns)}) "
                            "SELECT * FROM dip_aux_in")
                con.unregister("dip_aux_in")
            record(con, who=who, action="create", entity="weight_versions",
                   entity_key=version, why=why or source,
                   detail={"kind": "dip", "groups": groups.height, "aux": aux.height})
    finally:
        con.close()


def load_catalog(db: str | Path, version: str) -> DipCatalog:
    """The `dip` version `version` of the store as a catalogue ready for `group_dip`."""
    con = open_store(db, read_only=True)
    try:
        rows = con.execute("SELECT kind, params FROM weight_versions WHERE version = ?",
                           [version]).fetchall()
        row = rows[0] if rows else None
        if row is None or row[0] != "dip":
            dips = [r[0] for r in con.execute(
                "SELECT version FROM weight_versions WHERE kind = 'dip' ORDER BY created_at"
            ).fetchall()]
            raise WeightTableError(f"unknown dip version={version!r}; available: "
                                   f"{', '.join(dips) or '(none)'}")
        groups = pl.DataFrame(con.sql(
            "SELECT * EXCLUDE (version) FROM dip_catalog WHERE version = $v ORDER BY dip_code",
            params={"v": version}).to_arrow_table())
        aux = pl.DataFrame(con.sql(
            "SELECT * EXCLUDE (version) FROM dip_aux WHERE version = $v "
            "ORDER BY dip_code, dimension, level", params={"v": version}).to_arrow_table())
    finally:
        con.close()
    params = json.loads(row[1] or "{}")
    return DipCatalog(groups=groups.with_columns(pl.col("score").cast(pl.Float64),
                                                 pl.col("mean_cost").cast(pl.Float64)),
                      aux=aux.with_columns(pl.col("coef").cast(pl.Float64)),
                      version=version, **{k: v for k, v in params.items() if k in PARAMS})
