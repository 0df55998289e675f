"""Weight versions: save a draft, edit drafts, publish atomically, retire, diff.

A version (`weight_versions` row) owns rows in the tables of its kind: `drg_weights` for `drg`,
`dip_catalog` (and whatever the DIP build registers: `dip_aux`, `dip_level_costs`) for `dip`. Lifecycle:
draft → published → retired. Drafts can be replaced or edited; published and retired versions
are immutable (every write path here refuses them), a revision is a new version
(`copy_version`). Publishing retires the previously published version of the same
(kind, ruleset, region, year) in the same transaction, so a reader's single query sees either
the old or the new version, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from weights.audit import current_user, record
from weights.errors import PublishedVersionError, WeightTableError
from weights.store import first_row, query, transaction

KINDS = ("drg", "dip")
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


@dataclass(frozen=True)
class VersionedTable:
    """A table whose rows belong to a weight version (column `version`)."""

    name: str
    key: tuple[str, ...]
    value: str  # the column a diff compares (rw, score, coef)
    # Added after versions were stored: left out of the checksum while a version has no rows
    # in it, so the checksums of older versions stay valid.
    optional: bool = False
    # Columns added after versions were stored: left out of the checksum while all null in a
    # version's rows, for the same reason.
    optional_columns: tuple[str, ...] = ()


# The first table of a kind is its main table (diff, row counts). Other areas append their
# version-owned tables here (e.g. DIP: VersionedTable("dip_aux", (...), "coef")).
VERSIONED_TABLES: dict[str, list[VersionedTable]] = {
    "drg": [VersionedTable("drg_weights", ("drg",), "rw"),
            VersionedTable("drg_level_costs", ("drg", "level"), "mean_cost", optional=True),
            VersionedTable("drg_hospital_costs", ("drg", "hospital_id"), "mean_cost",
                           optional=True)],
    "dip": [VersionedTable("dip_catalog", ("dip_code",), "score", optional_columns=("avg_los",)),
            VersionedTable("dip_aux", ("dip_code", "dimension", "level"), "coef"),
            VersionedTable("dip_level_costs", ("dip_code", "level"), "mean_cost",
                           optional=True)],
}


def _main(kind: str) -> VersionedTable:
    return VERSIONED_TABLES[kind][0]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute("SELECT column_name FROM information_schema.columns "
                       "WHERE table_name = ? ORDER BY ordinal_position", [table]).fetchall()
    return [r[0] for r in rows]


def version_info(con: duckdb.DuckDBPyConnection, version: str) -> dict[str, Any]:
    """The `weight_versions` row of `version`; unknown versions raise with the known ones."""
    rows = query(con, "SELECT * FROM weight_versions WHERE version = ?", [version])
    if rows.height == 0:
        known = [r[0] for r in con.execute(
            "SELECT version FROM weight_versions ORDER BY id DESC LIMIT 10").fetchall()]
        raise WeightTableError(f"unknown weight version {version!r}; known: "
                               f"{', '.join(known) or '(none)'}")
    return rows.row(0, named=True)


def list_versions(con: duckdb.DuckDBPyConnection, kind: str | None = None) -> pl.DataFrame:
    sql = ("SELECT version, kind, ruleset, region, year, status, n_rows, source, created_at, "
           "created_by, published_at, published_by, checksum FROM weight_versions")
    args: list[Any] = []
    if kind:
        sql += " WHERE kind = ?"
        args.append(kind)
    return query(con, sql + " ORDER BY id", args)


def _refuse_frozen(info: dict[str, Any], doing: str) -> None:
    if info["status"] == "published":
        raise PublishedVersionError(
            f"cannot {doing} version {info['version']!r}: it was published "
            f"{info['published_at']:%Y-%m-%d %H:%M} by {info['published_by']} and published "
            f"versions are immutable; make a new version (drgdip weights copy "
            f"{info['version']} NEW) and publish that")
    if info["status"] == "retired":
        raise PublishedVersionError(
            f"cannot {doing} version {info['version']!r}: it is retired (immutable)")


def version_rows(con: duckdb.DuckDBPyConnection, version: str,
                 table: str | None = None) -> pl.DataFrame:
    """Rows of one version in its main table (or `table`), ordered by key."""
    info = version_info(con, version)
    spec = next((t for t in VERSIONED_TABLES[info["kind"]] if t.name == (table or t.name)), None)
    if spec is None:
        raise WeightTableError(f"table {table!r} does not hold {info['kind']} versions")
    return query(con, f"SELECT * FROM {spec.name} WHERE version = ? "
                       f"ORDER BY {', '.join(spec.key)}", [version])


def checksum(con: duckdb.DuckDBPyConnection, kind: str, version: str) -> str:
    """sha256 over the version's rows in every table of its kind (key order, CSV form)."""
    digest = hashlib.sha256()
    for spec in VERSIONED_TABLES[kind]:
        cols = [c for c in _columns(con, spec.name) if c != "version"]
        rows = query(con, f"SELECT {', '.join(cols)} FROM {spec.name} WHERE version = ? "
                           f"ORDER BY {', '.join(spec.key)}", [version])
        if spec.optional and rows.height == 0:
            continue
        unset = [c for c in spec.optional_columns if c in rows.columns
                 and rows[c].null_count() == rows.height]
        rows = rows.drop(unset)
        digest.update(spec.name.encode())
        digest.update(rows.write_csv().encode())
    return digest.hexdigest()


def _insert(con: duckdb.DuckDBPyConnection, spec: VersionedTable, version: str,
            rows: pl.DataFrame) -> int:
    cols = [c for c in _columns(con, spec.name) if c != "version" and c in rows.columns]
    missing = [k for k in (*spec.key, spec.value) if k not in rows.columns]
    if missing:
        raise WeightTableError(f"{spec.name} rows lack column(s) {', '.join(missing)}")
    dupes = rows.filter(pl.struct(list(spec.key)).is_duplicated())
    if dupes.height:
        raise WeightTableError(f"{spec.name}: duplicate key(s) "
                               f"{dupes.select(spec.key).unique().head(5).rows()}")
    staged = rows.select(cols)  # noqa: F841 - read by DuckDB through the name
    con.execute(f"INSERT INTO {spec.name} (version, {', '.join(cols)}) "
                f"SELECT ?, {', '.join(cols)} FROM staged", [version])
    return rows.height


def save_weight_version(con: duckdb.DuckDBPyConnection, version: str, kind: str,
                        rows: pl.DataFrame, *, ruleset: str, region: str, year: int,
                        source: str, params: Mapping[str, Any] | None = None,
                        extra: Mapping[str, pl.DataFrame] | None = None, who: str = "",
                        why: str = "", replace: bool = False) -> dict[str, Any]:
    """Store `rows` (the main table of `kind`) and `extra` tables as draft `version`.

    An existing draft is replaced only with `replace=True`; published/retired versions never.
    Returns the new `weight_versions` row.
    """
    if kind not in KINDS:
        raise WeightTableError(f"kind={kind!r}; accepted: {', '.join(KINDS)}")
    if not re.match(VERSION_PATTERN, version):
        raise WeightTableError(f"version={version!r}: use letters, digits, '.', '_', '-' "
                               f"(at most 64, starting with a letter or digit)")
    tables = {t.name: t for t in VERSIONED_TABLES[kind]}
    unknown = sorted(set(extra or {}) - set(tables))
    if unknown:
        raise WeightTableError(f"tables {unknown} do not hold {kind} versions")
    who = who or current_user()
    with transaction(con):
        old = first_row(con, "SELECT version FROM weight_versions WHERE version = ?",
                          [version])
        if old is not None:
            info = version_info(con, version)
            _refuse_frozen(info, "replace")
            if not replace:
                raise WeightTableError(f"version {version!r} exists (draft); pass replace "
                                       f"(--replace) to overwrite it or choose a new name")
            if info["kind"] != kind:
                raise WeightTableError(f"version {version!r} is a {info['kind']} version")
            for spec in tables.values():
                con.execute(f"DELETE FROM {spec.name} WHERE version = ?", [version])
            con.execute("DELETE FROM weight_versions WHERE version = ?", [version])
        n = _insert(con, _main(kind), version, rows)
        for name, frame in (extra or {}).items():
            _insert(con, tables[name], version, frame)
        digest = checksum(con, kind, version)
        con.execute(
            "INSERT INTO weight_versions (version, kind, ruleset, region, year, source, params, "
            "n_rows, checksum, status, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?)",
            [version, kind, ruleset, region, int(year), source,
             json.dumps(params, ensure_ascii=False, default=str) if params else None,
             n, digest, datetime.now(), who])
        record(con, who=who, action="replace" if old else "create", entity="weight_versions",
               entity_key=version, why=why,
               detail={"kind": kind, "ruleset": ruleset, "region": region, "year": year,
                       "rows": n, "source": source, "checksum": digest})
    return version_info(con, version)


def edit_rows(con: duckdb.DuckDBPyConnection, version: str, *,
              upsert: pl.DataFrame | None = None, delete: Sequence[str] = (),
              who: str = "", why: str = "") -> dict[str, Any]:
    """Change rows of a draft's main table: `upsert` rows by key (other columns of existing
    rows are kept), `delete` keys. Refused for published/retired versions."""
    who = who or current_user()
    with transaction(con):
        info = version_info(con, version)
        _refuse_frozen(info, "edit")
        spec = _main(info["kind"])
        (key,) = spec.key
        current = query(con, f"SELECT * FROM {spec.name} WHERE version = ?", [version])
        if delete:
            absent = sorted(set(delete) - set(current[key].to_list()))
            if absent:
                raise WeightTableError(f"version {version!r} has no {key} {absent[:5]}")
            current = current.filter(~pl.col(key).is_in(list(delete)))
        if upsert is not None and upsert.height:
            merged = upsert.join(current.drop([c for c in upsert.columns if c != key]),
                                 on=key, how="left")
            current = pl.concat([current.filter(~pl.col(key).is_in(upsert[key].to_list())),
                                 merged.select(current.columns)], how="vertical_relaxed")
        con.execute(f"DELETE FROM {spec.name} WHERE version = ?", [version])
        n = _insert(con, spec, version, current.drop("version"))
        digest = checksum(con, info["kind"], version)
        con.execute("UPDATE weight_versions SET n_rows = ?, checksum = ? WHERE version = ?",
                    [n, digest, version])
        record(con, who=who, action="edit", entity="weight_versions", entity_key=version,
               why=why, detail={"upserted": [] if upsert is None else upsert[key].to_list(),
                                "deleted": list(delete), "checksum": digest})
    return version_info(con, version)


def copy_version(con: duckdb.DuckDBPyConnection, source: str, version: str, *,
                 who: str = "", why: str = "") -> dict[str, Any]:
    """A new draft `version` with the rows of `source` (the way to revise a published one)."""
    info = version_info(con, source)
    extra = {t.name: query(con, f"SELECT * FROM {t.name} WHERE version = ?",
                                 [source]).drop("version")
             for t in VERSIONED_TABLES[info["kind"]][1:]}
    return save_weight_version(
        con, version, info["kind"], version_rows(con, source).drop("version"),
        ruleset=info["ruleset"], region=info["region"], year=info["year"],
        source=f"copy of {source}", params=json.loads(info["params"] or "null"), extra=extra,
        who=who, why=why)


def publish(con: duckdb.DuckDBPyConnection, version: str, who: str = "",
            why: str = "") -> dict[str, Any]:
    """Activate a draft atomically; the previously published version of the same
    (kind, ruleset, region, year) is retired in the same transaction."""
    who = who or current_user()
    with transaction(con):
        info = version_info(con, version)
        if info["status"] == "published":
            raise PublishedVersionError(
                f"version {version!r} is already published "
                f"({info['published_at']:%Y-%m-%d %H:%M} by {info['published_by']}); "
                f"publishing twice is refused")
        _refuse_frozen(info, "publish")
        if not info["n_rows"]:
            raise WeightTableError(f"version {version!r} has no rows; nothing to publish")
        digest = checksum(con, info["kind"], version)
        previous = [r[0] for r in con.execute(
            "SELECT version FROM weight_versions WHERE status = 'published' AND kind = ? "
            "AND ruleset = ? AND region = ? AND year = ?",
            [info["kind"], info["ruleset"], info["region"], info["year"]]).fetchall()]
        now = datetime.now()
        for old in previous:
            con.execute("UPDATE weight_versions SET status = 'retired', retired_at = ? "
                        "WHERE version = ?", [now, old])
            record(con, who=who, action="retire", entity="weight_versions", entity_key=old,
                   why=f"superseded by {version}")
        con.execute("UPDATE weight_versions SET status = 'published', published_at = ?, "
                    "published_by = ?, checksum = ? WHERE version = ?",
                    [now, who, digest, version])
        record(con, who=who, action="publish", entity="weight_versions", entity_key=version,
               why=why, detail={"checksum": digest, "retired": previous})
    return version_info(con, version)


def retire(con: duckdb.DuckDBPyConnection, version: str, who: str = "",
           why: str = "") -> dict[str, Any]:
    """Withdraw a published version (no version is active for its key afterwards)."""
    who = who or current_user()
    with transaction(con):
        info = version_info(con, version)
        if info["status"] != "published":
            raise WeightTableError(f"version {version!r} is {info['status']}; only a "
                                   f"published version can be retired")
        con.execute("UPDATE weight_versions SET status = 'retired', retired_at = ? "
                    "WHERE version = ?", [datetime.now(), version])
        record(con, who=who, action="retire", entity="weight_versions", entity_key=version,
               why=why)
    return version_info(con, version)


def verify(con: duckdb.DuckDBPyConnection, version: str) -> bool:
    """True when the stored rows still match the version's checksum."""
    info = version_info(con, version)
    return bool(checksum(con, info["kind"], version) == info["checksum"])


def diff(con: duckdb.DuckDBPyConnection, v1: str, v2: str, *,
         include_unchanged: bool = False) -> pl.DataFrame:
    """Groups added, retired and re-scored from `v1` to `v2`:
    (code, change, old, new, abs_change, rel_change), ordered by change then code."""
    a, b = version_info(con, v1), version_info(con, v2)
    if a["kind"] != b["kind"]:
        raise WeightTableError(f"cannot diff a {a['kind']} version with a {b['kind']} version")
    spec = _main(a["kind"])
    (key,) = spec.key
    val = spec.value
    sql = f"""
        WITH o AS (SELECT {key} AS code, {val} AS v FROM {spec.name} WHERE version = ?),
             n AS (SELECT {key} AS code, {val} AS v FROM {spec.name} WHERE version = ?)
        SELECT coalesce(o.code, n.code) AS code,
               CASE WHEN o.code IS NULL THEN 'added' WHEN n.code IS NULL THEN 'retired'
                    WHEN o.v <> n.v THEN 'rescored' ELSE 'unchanged' END AS change,
               o.v AS old, n.v AS new, n.v - o.v AS abs_change,
               round(CAST(n.v - o.v AS DOUBLE) / nullif(CAST(o.v AS DOUBLE), 0), 4)
                   AS rel_change
        FROM o FULL OUTER JOIN n ON o.code = n.code"""
    out = query(con, sql, [v1, v2]).rename({"code": key})
    if not include_unchanged:
        out = out.filter(pl.col("change") != "unchanged")
    order = {"added": 0, "retired": 1, "rescored": 2, "unchanged": 3}
    return out.sort(pl.col("change").replace_strict(order, return_dtype=pl.Int8), key)


def active_version(con: duckdb.DuckDBPyConnection, kind: str, ruleset: str, year: int, *,
                   region: str | None = None) -> dict[str, Any]:
    sql = ("SELECT version FROM weight_versions WHERE status = 'published' AND kind = ? "
           "AND ruleset = ? AND year = ?")
    args: list[Any] = [kind, ruleset, int(year)]
    if region is not None:
        sql += " AND region = ?"
        args.append(region)
    found = [r[0] for r in con.execute(sql, args).fetchall()]
    _one(found, kind, ruleset, year, region)
    return version_info(con, found[0])


def _one(found: list[str], kind: str, ruleset: str, year: int, region: str | None) -> None:
    where = f"kind={kind}, ruleset={ruleset}, year={year}" + (
        f", region={region}" if region is not None else "")
    if not found:
        raise WeightTableError(f"no published weight version for {where}; publish one with "
                               f"`drgdip weights publish VERSION`")
    if len(set(found)) > 1:
        raise WeightTableError(f"several published versions for {where} "
                               f"({', '.join(sorted(set(found)))}); pass a region")


def active_rows(con: duckdb.DuckDBPyConnection, kind: str, ruleset: str, year: int, *,
                region: str | None = None) -> pl.DataFrame:
    """Rows of the published version, read in ONE statement (a consistent snapshot)."""
    spec = _main(kind)
    sql = (f"SELECT t.* FROM {spec.name} t JOIN weight_versions v ON v.version = t.version "
           f"WHERE v.status = 'published' AND v.kind = ? AND v.ruleset = ? AND v.year = ?")
    args: list[Any] = [kind, ruleset, int(year)]
    if region is not None:
        sql += " AND v.region = ?"
        args.append(region)
    rows = query(con, sql + f" ORDER BY t.{', t.'.join(spec.key)}", args)
    _one(rows["version"].unique().to_list(), kind, ruleset, year, region)
    return rows


def active_drg_weights(con: duckdb.DuckDBPyConnection, ruleset: str, year: int, *,
                       region: str | None = None) -> pl.DataFrame:
    """The published DRG weights for (ruleset, year[, region]): version, drg, rw, base_points,
    mean_cost, …; raises when none or several are published."""
    return active_rows(con, "drg", ruleset, year, region=region)
