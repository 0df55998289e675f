"""DIP catalogues in the store: a `dip` weight version (weights.versions) whose main table is
`dip_catalog`, whose auxiliary coefficients live in `dip_aux` (schema migration 100) and whose
same-level mean costs, when the build knew the hospitals' levels, live in `dip_level_costs`
(migration 101; optional, so versions without level rows keep their checksum). The grouping
parameters travel in `weight_versions.params`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl

from grouper.dip_catalog import AUX_SCHEMA, GROUP_SCHEMA, DipCatalog
from weights.errors import WeightTableError
from weights.level_costs import LEVEL_COST_COLUMNS
from weights.store import open_store
from weights.versions import save_weight_version, version_info, version_rows

PARAMS = ("score_scale", "aux_combine", "ruleset", "severity_min_los", "ignored_procedures",
          "procedure_classes")
LEVEL_COSTS = "dip_level_costs"


def save_catalog(db: str | Path, catalog: DipCatalog, version: str, *, region: str = "",
                 year: int | None = None, source: str = "", who: str = "", why: str = "",
                 replace: bool = False, level_costs: pl.DataFrame | None = None) -> None:
    """Store `catalog` as draft `dip` version `version` (with its audit row), with the
    build's same-level mean costs (`DipBuild.level_costs`) when it has any."""
    extra = {"dip_aux": catalog.aux.select(*AUX_SCHEMA)}
    if level_costs is not None and level_costs.height:
        extra[LEVEL_COSTS] = level_costs.select("dip_code", *LEVEL_COST_COLUMNS)
    con = open_store(db)
    try:
        save_weight_version(
            con, version, "dip", catalog.groups.select(*GROUP_SCHEMA),
            ruleset=catalog.ruleset, region=region, year=year or datetime.now().year,
            source=source, params={p: getattr(catalog, p) for p in PARAMS},
            extra=extra, who=who, why=why or source, replace=replace)
    finally:
        con.close()


def load_catalog(db: str | Path, version: str) -> DipCatalog:
    """The `dip` version `version` of the store as a catalogue ready for `group_dip`."""
    con = open_store(db, read_only=True)
    try:
        info = version_info(con, version)
        if info["kind"] != "dip":
            raise WeightTableError(f"version {version!r} is a {info['kind']} version, "
                                   f"not a dip catalogue")
        groups = version_rows(con, version).drop("version")
        aux = version_rows(con, version, "dip_aux").drop("version")
    finally:
        con.close()
    params = json.loads(info["params"] or "{}")
    return DipCatalog(groups=groups.with_columns(pl.col("score", "mean_cost").cast(pl.Float64)),
                      aux=aux.with_columns(pl.col("coef").cast(pl.Float64)), version=version,
                      **{k: v for k, v in params.items() if k in PARAMS})


def load_level_costs(db: str | Path, version: str) -> pl.DataFrame:
    """(dip_code, level, mean_cost, n_cases, n_kept) of the `dip` version `version`; empty when
    it was built without hospital levels (or imported)."""
    con = open_store(db, read_only=True)
    try:
        return version_rows(con, version, LEVEL_COSTS).drop("version")
    finally:
        con.close()
