"""`drgdip weights …` (versioned weight tables, hospitals, rates, budgets, audit) and
`drgdip sql`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click
import duckdb
import polars as pl

from engine.commands.db_option import DB_OPTION
from engine.commands.dip import build_dip_command, import_dip_command
from engine.commands.table_output import emit, format_options, print_table, resolve_format
from engine.settings import get_settings
from grouper.errors import InputError
from weights import funding, hospitals, io, versions
from weights.audit import audit_log, current_user
from weights.drg_build import DrgBuildParams, build_drg
from weights.errors import WeightTableError
from weights.store import open_store, query
from weights.trimming import TRIM_METHODS

WHO_OPTION = click.option("--who", default=None, help="who makes the change (default: OS user)")


def _store(db: Path | None, *, read_only: bool = False,
           create: bool = False) -> duckdb.DuckDBPyConnection:
    """Read verbs open read-only; writes need an existing store unless `create` (build-*) or
    `drgdip --create`."""
    return open_store(db if db is not None else get_settings().db, read_only=read_only,
                      create=create)


def print_frame(frame: pl.DataFrame, *, limit: int | None = 50, title: str | None = None) -> None:
    """A frame as a rich table (first `limit` rows) that fits the terminal."""
    print_table(frame, limit=limit, title=title)


def _report_rejected(result: io.TableImport, rejects: Path | None, skip_invalid: bool) -> None:
    if rejects is not None:
        result.rejected.write_csv(rejects)
    if not result.rejected.height:
        return
    for row in result.rejected.head(20).iter_rows(named=True):
        click.echo(f"row {row['row']}: {row['column']}={row['value']!r}: {row['reason']}",
                   err=True)
    if not skip_invalid:
        raise WeightTableError(result.summary() + " (nothing imported; fix the file or pass "
                               "--skip-invalid)")
    click.echo(result.summary(), err=True)


@click.group("weights")
def weights_command() -> None:
    """Versioned weight tables, hospitals, rates and budgets in the store (权重/系数/费率/预算)."""


weights_command.add_command(build_dip_command)
weights_command.add_command(import_dip_command)


def _year_weights(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        return tuple(float(x) for x in text.replace(",", ":").split(":"))
    except ValueError as exc:
        raise WeightTableError(f"--year-weights={text!r}; expected e.g. 1:2:7") from exc


def _cost_growth(text: str | None) -> float | dict[int, float] | None:
    """`0.05` (every year) or `2022=0.04,2023=0.06` (growth into each year)."""
    if not text:
        return None
    try:
        if "=" not in text:
            return float(text)
        return {int(k): float(v) for k, v in (p.split("=") for p in text.split(","))}
    except ValueError as exc:
        raise WeightTableError(f"--cost-growth={text!r}; expected 0.05 or "
                               f"2022=0.04,2023=0.06") from exc


def _adjustments(path: Path | None) -> dict[str, float]:
    """Policy adjustments file: columns drg (or adrg / DRG编码) and adj (调整系数)."""
    if path is None:
        return {}
    table = io.read_weight_file(path, {"code": ("drg", "adrg", "DRG编码", "ADRG编码", "code"),
                                       "adj": ("adj", "调整系数", "adjustment")}, ("code", "adj"))
    try:
        return {c: float(a) for c, a in table.select("code", "adj").iter_rows()}
    except (TypeError, ValueError) as exc:
        raise WeightTableError(f"{path}: adj must be numbers") from exc


@weights_command.command("build-drg")
@click.option("--history", "history_path", required=True, type=click.Path(path_type=Path),
              help="case file with total_cost, los and year or discharge_date")
@click.option("--ruleset", default="chs_drg_11", show_default=True)
@click.option("--version", "version", required=True, help="label of the new drg version")
@click.option("--year", type=int, default=None,
              help="year the weights apply to (default: newest year of the history)")
@click.option("--region", default="", help="region the weights are for")
@click.option("--trim", "trim_method", type=click.Choice(TRIM_METHODS), default="iqr",
              show_default=True)
@click.option("--year-weights", default=None, help="e.g. 1:2:7 (oldest → newest)")
@click.option("--cost-growth", default=None, help="0.05, or 2022=0.04,2023=0.06")
@click.option("--target-year", type=int, default=None, help="restate costs to this year")
@click.option("--min-cases", type=int, default=5, show_default=True)
@click.option("--max-cv", type=float, default=1.0, show_default=True)
@click.option("--unstable-rw", type=click.Choice(["own", "adrg"]), default="own",
              show_default=True, help="RW of unstable groups: their own or their ADRG's")
@click.option("--adjust", "adjust_path", type=click.Path(path_type=Path), default=None,
              help="policy adjustments (CSV/xlsx: drg or adrg, adj)")
@click.option("--hospitals", "hospitals_path", type=click.Path(path_type=Path), default=None,
              help="hospital_id, level of the history's hospitals, for same-level mean costs "
                   "(default: the store's hospitals)")
@click.option("--replace", is_flag=True, help="overwrite an existing draft of that name")
@click.option("--why", default="", help="reason recorded in the audit log")
@WHO_OPTION
@DB_OPTION
def build_drg_command(history_path: Path, ruleset: str, version: str, year: int | None,
                      region: str, trim_method: str, year_weights: str | None,
                      cost_growth: str | None, target_year: int | None, min_cases: int,
                      max_cv: float, unstable_rw: str, adjust_path: Path | None,
                      hospitals_path: Path | None, replace: bool, why: str, who: str | None,
                      db: Path | None) -> None:
    """Build DRG relative weights (and same-level and per-hospital mean costs) from history and
    store them as a draft version."""
    from engine.commands.grouping import read_case_file  # one reader for every case file
    from engine.pipeline import load_hospitals

    params = DrgBuildParams(trim_method=trim_method, year_weights=_year_weights(year_weights),
                            cost_growth=_cost_growth(cost_growth), target_year=target_year,
                            min_cases=min_cases, max_cv=max_cv,
                            adjustments=_adjustments(adjust_path), unstable_rw=unstable_rw)
    con = _store(db, create=True)  # fail on a locked store before the long build
    if not history_path.is_file():
        raise InputError(f"{history_path}: no such file")
    levels = None
    if hospitals_path is not None or query(con, "SELECT count(*) AS n FROM hospitals")["n"][0]:
        levels = load_hospitals(con, hospitals_path)
    build = build_drg(read_case_file(history_path), ruleset, params=params, hospitals=levels)
    r = build.report
    year = year or r["target_year"] or date.today().year
    extra = build.extra_tables() or None
    info = versions.save_weight_version(
        con, version, "drg", build.weights, ruleset=ruleset, region=region, year=year,
        source=f"build-drg {history_path.name}", params={**r["params"], "report": r},
        extra=extra, who=who or current_user(), why=why, replace=replace)
    click.echo(f"drg version {version} (draft, {ruleset}, year {year}): {r['groups']:,} DRGs "
               f"from {r['cases_used']:,} of {r['cases_input']:,} cases "
               f"({r['cases_trimmed']:,} trimmed by {trim_method}; statuses {r['by_status']}); "
               f"mean cost {r['mean_all']:,.2f}; {r['unstable']} unstable; "
               f"renormalisation {r['renormalisation']}; {r['level_cost_rows']:,} same-level "
               f"and {r['hospital_cost_rows']:,} hospital mean costs; checksum "
               f"{info['checksum'][:12]}")


@weights_command.command("list")
@click.option("--kind", type=click.Choice(versions.KINDS), default=None)
@format_options
@DB_OPTION
def list_command(kind: str | None, fmt: str | None, out_path: Path | None,
                 db: Path | None) -> None:
    """Weight versions with their status (as a table, CSV, JSON lines or .xlsx)."""
    frame = versions.list_versions(_store(db, read_only=True), kind)
    if (fmt or "table") == "table" and out_path is None:  # files keep every column whole
        frame = frame.with_columns(pl.col("checksum").str.slice(0, 12)).drop(
            "published_by", "created_by")
    emit(frame, fmt, out_path, sheet="weight_versions")


@weights_command.command("show")
@click.argument("version")
@click.option("--limit", type=int, default=50, show_default=True)
@DB_OPTION
def show_command(version: str, limit: int, db: Path | None) -> None:
    """Rows of one version."""
    con = _store(db, read_only=True)
    info = versions.version_info(con, version)
    click.echo(f"{version}: {info['kind']} {info['ruleset']} {info['region'] or '-'} "
               f"{info['year']} {info['status']} ({info['n_rows']} rows, {info['source']})")
    print_frame(versions.version_rows(con, version).drop("version"), limit=limit)


@weights_command.command("diff")
@click.argument("v1")
@click.argument("v2")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None,
              help="also write the differences as CSV")
@click.option("--all", "include_unchanged", is_flag=True, help="include unchanged groups")
@click.option("--limit", type=int, default=100, show_default=True)
@DB_OPTION
def diff_command(v1: str, v2: str, csv_path: Path | None, include_unchanged: bool, limit: int,
                 db: Path | None) -> None:
    """Groups added, retired and re-scored from V1 to V2 (old/new value, relative change)."""
    out = versions.diff(_store(db, read_only=True), v1, v2, include_unchanged=include_unchanged)
    counts = dict(out.group_by("change").len().iter_rows())
    print_frame(out, limit=limit, title=f"{v1} → {v2}")
    click.echo(f"{v1} → {v2}: " + ", ".join(f"{counts.get(k, 0)} {k}"
                                           for k in ("added", "retired", "rescored")))
    if csv_path is not None:
        io.export_table(out, csv_path)
        click.echo(f"wrote {csv_path}")


@weights_command.command("publish")
@click.argument("version")
@click.option("--why", required=True, help="reason recorded in the audit log")
@WHO_OPTION
@DB_OPTION
def publish_command(version: str, why: str, who: str | None, db: Path | None) -> None:
    """Activate a draft version atomically; published versions are immutable."""
    info = versions.publish(_store(db), version, who or current_user(), why)
    click.echo(f"published {version} ({info['kind']} {info['ruleset']} {info['year']}, "
               f"checksum {info['checksum'][:12]})")


@weights_command.command("retire")
@click.argument("version")
@click.option("--why", required=True)
@WHO_OPTION
@DB_OPTION
def retire_command(version: str, why: str, who: str | None, db: Path | None) -> None:
    """Withdraw a published version."""
    versions.retire(_store(db), version, who or current_user(), why)
    click.echo(f"retired {version}")


@weights_command.command("copy")
@click.argument("source")
@click.argument("version")
@click.option("--why", default="")
@WHO_OPTION
@DB_OPTION
def copy_command(source: str, version: str, why: str, who: str | None, db: Path | None) -> None:
    """Start a new draft VERSION from SOURCE (the way to revise a published version)."""
    versions.copy_version(_store(db), source, version, who=who or current_user(), why=why)
    click.echo(f"draft {version} copied from {source}")


@weights_command.command("verify")
@click.argument("version")
@DB_OPTION
def verify_command(version: str, db: Path | None) -> None:
    """Check that a version's rows still match its checksum."""
    if not versions.verify(_store(db, read_only=True), version):
        raise WeightTableError(f"version {version!r}: rows do not match the checksum")
    click.echo(f"{version}: checksum ok")


@weights_command.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--version", "version", required=True, help="label of the new drg version")
@click.option("--ruleset", default="chs_drg_11", show_default=True)
@click.option("--year", type=int, required=True)
@click.option("--region", default="")
@click.option("--replace", is_flag=True, help="overwrite an existing draft of that name")
@click.option("--skip-invalid", is_flag=True, help="import the good rows, report the bad ones")
@click.option("--rejects", type=click.Path(path_type=Path), default=None,
              help="write the rejected rows (row, column, value, reason) as CSV")
@click.option("--why", default="")
@WHO_OPTION
@DB_OPTION
def import_command(file: Path, version: str, ruleset: str, year: int, region: str,
                   replace: bool, skip_invalid: bool, rejects: Path | None, why: str,
                   who: str | None, db: Path | None) -> None:
    """Import a DRG weight table (DRG编码, DRG名称, 权重, 基准点数 … as CSV/xlsx) as a draft.
    DIP catalogues: `drgdip weights import-dip`."""
    result = io.import_drg_weights(file, ruleset)
    _report_rejected(result, rejects, skip_invalid)
    if not result.rows.height:
        raise InputError(f"{file}: no usable row")
    versions.save_weight_version(_store(db), version, "drg", result.rows, ruleset=ruleset,
                                 region=region, year=year, source=f"import {file.name}",
                                 who=who or current_user(), why=why, replace=replace)
    click.echo(f"drg version {version} (draft): {result.summary()}")


@weights_command.command("export")
@click.argument("version")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--layout", type=click.Choice(["bureau", "store"]), default="bureau",
              show_default=True, help="Chinese headers as bureaus publish, or column names")
@DB_OPTION
def export_command(version: str, file: Path, layout: str, db: Path | None) -> None:
    """Write a version's table as CSV or .xlsx."""
    con = _store(db, read_only=True)
    info = versions.version_info(con, version)
    rows = versions.version_rows(con, version).drop("version")
    if info["kind"] == "drg":
        rows = rows.select("drg", "drg_name", "rw", "base_points", "mean_cost", "mean_los",
                           "n_cases", "cv", "stable", "adrg", "mdc", "rw_base", "adj")
        if layout == "bureau":
            rows = io.bureau_headers(rows, io.DRG_HEADERS)
    io.export_table(rows, file)
    click.echo(f"wrote {rows.height:,} rows of {version} to {file}")


@weights_command.command("import-hospitals")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--effective-from", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="date for coefficient rows without one")
@click.option("--reason", default="", help="reason for coefficient rows without one")
@click.option("--skip-invalid", is_flag=True)
@click.option("--rejects", type=click.Path(path_type=Path), default=None)
@WHO_OPTION
@DB_OPTION
def import_hospitals_command(file: Path, effective_from: Any, reason: str, skip_invalid: bool,
                             rejects: Path | None, who: str | None, db: Path | None) -> None:
    """Import hospitals and institution coefficients (医疗机构编码, 名称, 等级, 系数, 生效日期,
    调整原因)."""
    result = io.import_hospitals(file, default_from=effective_from.date() if effective_from
                                 else None, default_reason=reason)
    _report_rejected(result, rejects, skip_invalid)
    con = _store(db)
    who = who or current_user()
    n = hospitals.upsert_hospitals(con, result.rows, who=who, why=f"import {file.name}")
    coefs = result.rows.filter(pl.col("coefficient").is_not_null())
    hospitals.set_coefficients(con, coefs, who=who)
    click.echo(f"{n} hospitals, {coefs.height} coefficients imported ({result.summary()})")


@weights_command.command("export-hospitals")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--on", "on", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="coefficients in force on this date (default today)")
@click.option("--layout", type=click.Choice(["bureau", "store"]), default="bureau",
              show_default=True)
@DB_OPTION
def export_hospitals_command(file: Path, on: Any, layout: str, db: Path | None) -> None:
    """Write hospitals with their coefficients in force on a date."""
    rows = hospitals.coefficients_on(_store(db, read_only=True),
                                     on.date() if on else date.today())
    if layout == "bureau":
        rows = io.bureau_headers(rows, io.HOSPITAL_HEADERS)
    io.export_table(rows, file)
    click.echo(f"wrote {rows.height:,} hospitals to {file}")


@weights_command.command("set-coefficient")
@click.argument("hospital_id")
@click.argument("coefficient")
@click.option("--from", "effective_from", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--reason", required=True)
@WHO_OPTION
@DB_OPTION
def set_coefficient_command(hospital_id: str, coefficient: str, effective_from: Any,
                            reason: str, who: str | None, db: Path | None) -> None:
    """Set a hospital's institution coefficient from a date on."""
    row = hospitals.set_coefficient(_store(db), hospital_id, coefficient,
                                    effective_from.date(), reason, who=who or current_user())
    click.echo(f"{hospital_id}: coefficient {row['coefficient']} from "
               f"{row['effective_from']} to {row['effective_to'] or 'open'}")


POOL = click.option("--fund-pool", type=click.Choice(funding.FUND_POOLS), required=True)
SCHEME = click.option("--scheme", type=click.Choice(funding.SCHEMES), required=True)


@weights_command.command("set-rate")
@click.option("--region", default="")
@POOL
@click.option("--year", type=int, required=True)
@click.option("--period", default=funding.ANNUAL, show_default=True, help="'year' or YYYY-MM")
@SCHEME
@click.option("--kind", type=click.Choice(funding.RATE_KINDS), required=True)
@click.option("--level", default="", help="hospital level for differential rates")
@click.option("--value", required=True)
@click.option("--source", default="")
@click.option("--why", default="")
@WHO_OPTION
@DB_OPTION
def set_rate_command(region: str, fund_pool: str, year: int, period: str, scheme: str,
                     kind: str, level: str, value: str, source: str, why: str,
                     who: str | None, db: Path | None) -> None:
    """Set a base rate (费率) or point value (点值)."""
    v = funding.set_rate(_store(db), region=region, fund_pool=fund_pool, year=year,
                         period=period, scheme=scheme, kind=kind, value=value, level=level,
                         source=source, who=who or current_user(), why=why)
    click.echo(f"{kind} {region or '-'}/{fund_pool}/{year}/{period}/{scheme} = {v}")


@weights_command.command("set-budget")
@click.option("--region", default="")
@POOL
@click.option("--year", type=int, required=True)
@click.option("--period", default=funding.ANNUAL, show_default=True)
@SCHEME
@click.option("--amount", required=True, help="yuan, to the fen")
@click.option("--risk-reserve-rate", default=None)
@click.option("--note", default="")
@click.option("--why", default="")
@WHO_OPTION
@DB_OPTION
def set_budget_command(region: str, fund_pool: str, year: int, period: str, scheme: str,
                       amount: str, risk_reserve_rate: str | None, note: str, why: str,
                       who: str | None, db: Path | None) -> None:
    """Set a fund budget (总额预算)."""
    v = funding.set_budget(_store(db), region=region, fund_pool=fund_pool, year=year,
                           period=period, scheme=scheme, amount=amount,
                           risk_reserve_rate=risk_reserve_rate, note=note,
                           who=who or current_user(), why=why)
    click.echo(f"budget {region or '-'}/{fund_pool}/{year}/{period}/{scheme} = {v}")


@weights_command.command("audit")
@click.option("--entity", default=None)
@click.option("--key", "entity_key", default=None)
@click.option("--limit", type=int, default=50, show_default=True)
@DB_OPTION
def audit_command(entity: str | None, entity_key: str | None, limit: int,
                  db: Path | None) -> None:
    """The audit log (who, when, what, why), newest first."""
    print_frame(audit_log(_store(db, read_only=True), entity=entity, entity_key=entity_key,
                          limit=limit), limit=None)


@click.command("sql")
@click.argument("statement")
@click.option("--json", "as_json", is_flag=True, help="same as --format json (JSON lines)")
@click.option("--limit", type=int, default=200, show_default=True,
              help="rows printed as a table (csv/json/xlsx: every row unless --limit is given)")
@format_options
@DB_OPTION
@click.pass_context
def sql_command(ctx: click.Context, statement: str, as_json: bool, limit: int,
                fmt: str | None, out_path: Path | None, db: Path | None) -> None:
    """Run a query over the store (opened read-only) and print the result as a table, or write
    it as CSV, JSON lines or .xlsx (--format, --out).

    Sandboxed (engine.sql_sandbox, docs/store.md): one query, no files outside the store, no
    extensions, api_keys not readable, at most DRGDIP_SQL_MAX_ROWS rows and
    DRGDIP_SQL_TIMEOUT_SECONDS seconds."""
    from engine.sql_sandbox import run_query

    settings = get_settings()
    result = run_query(db if db is not None else settings.db, statement,
                       max_rows=settings.sql_max_rows,
                       timeout_seconds=settings.sql_timeout_seconds,
                       memory_limit=settings.sql_memory_limit)
    frame = result.frame
    if result.truncated:
        click.echo(f"结果超过 {result.max_rows:,} 行，只取前 {result.max_rows:,} 行 / more than "
                   f"{result.max_rows:,} rows: only the first {result.max_rows:,} were fetched "
                   "(DRGDIP_SQL_MAX_ROWS)", err=True)
    if as_json:
        fmt = fmt or "json"
    table = resolve_format(fmt, out_path) == "table"
    given = ctx.get_parameter_source("limit") is not click.core.ParameterSource.DEFAULT
    if not table and given:
        frame = frame.head(limit)
    emit(frame, fmt, out_path, limit=limit if table else None, sheet="sql")
