"""DIP commands: `weights build-dip`, `weights import-dip`, and the DIP branches of `group` and
`explain` (`--method dip --catalog V`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import polars as pl

from engine.case_output import output_format, write_table
from engine.commands.db_option import DB_OPTION
from engine.settings import get_settings
from grouper.dip import group_dip
from grouper.dip_catalog import DipCatalog
from grouper.dip_explain import explain_dip
from grouper.errors import InputError
from weights.dip_build import TRIM_METHODS, DipBuildParams, build_dip_catalog
from weights.dip_catalog_io import import_catalog, rejected_summary

CHUNK_ROWS = 1_000_000


def _db(db: Path | None) -> Path:
    return db if db is not None else get_settings().db


def _read_cases(path: Path) -> pl.DataFrame:
    from engine.commands.grouping import read_case_file  # one reader for every case file

    if not path.exists():
        raise InputError(f"{path}: no such file")
    return read_case_file(path)


def _hospital_levels(db: Path, path: Path | None) -> pl.DataFrame | None:
    """hospital_id, level for the build's same-level mean costs: `path`, else the store's
    hospitals when it has any (as `drgdip weights build-drg`), else None."""
    from engine.pipeline import load_hospitals
    from weights.store import open_store, query

    con = open_store(db)
    try:
        if path is None and not query(con, "SELECT count(*) AS n FROM hospitals")["n"][0]:
            return None
        return load_hospitals(con, path)
    finally:
        con.close()


def load_dip_catalog(catalog: str, db: Path | None = None) -> DipCatalog:
    """A catalogue file in the official layout (.csv/.xlsx) or a `dip` version of the store."""
    path = Path(catalog)
    if path.suffix.lower() in (".csv", ".xlsx", ".xlsm") and path.is_file():
        from weights.dip_catalog_io import require_clean

        return require_clean(import_catalog(path, version=path.stem))
    from weights.dip_store import load_catalog

    return load_catalog(_db(db), catalog)


def group_dip_file(input_path: Path, output_path: Path, catalog: str,
                   db: Path | None = None, *, bom: bool = True) -> pl.DataFrame:
    """`drgdip group --method dip --catalog V INPUT OUTPUT`: group a case file, write OUTPUT."""
    output_format(output_path)
    cat = load_dip_catalog(catalog, db)
    from engine.ingest.one_case import hold_ingest_errors

    cases = _read_cases(input_path)
    parts = [group_dip(cases.slice(start, CHUNK_ROWS), cat)
             for start in range(0, max(cases.height, 1), CHUNK_ROWS)]
    result = hold_ingest_errors(pl.concat(parts), cases)  # as settlement marks them
    write_table(result, output_path, bom=bom)
    counts = result["status"].value_counts().sort("status")
    summary = ", ".join(f"{s} {n:,}" for s, n in counts.iter_rows())
    click.echo(f"DIP-grouped {result.height:,} cases with catalogue {catalog} → {output_path} "
               f"({summary})")
    return result


def explain_dip_case(case: dict[str, Any], catalog: str, db: Path | None = None, *,
                     as_json: bool = False) -> str:
    """Text (or JSON) of `explain_dip` for `drgdip explain --method dip --catalog V`."""
    trace = explain_dip(case, load_dip_catalog(catalog, db))
    if as_json:
        return json.dumps(trace.to_dict(), ensure_ascii=False, indent=2, default=str)
    lines = [f"case {trace.case_id}: {trace.result['status']} {trace.result['dip_code'] or ''}"]
    lines += [f"  {i}. {step}" for i, step in enumerate(trace.steps, 1)]
    for c in trace.candidates:
        mark = "✓" if c["matched"] else "·"
        lines.append(f"     {mark} {c['dip_code']} {c['dip_type']} {c['principal_dx']} "
                     f"[{c['procedures'] or '保守治疗'}] {c['score']}: {c['why']}")
    return "\n".join(lines)


@click.command("build-dip")
@click.option("--history", "history_path", required=True, type=click.Path(path_type=Path),
              help="case file with total_cost (and year or discharge_date)")
@click.option("--version", "version", required=True, help="label of the new dip version")
@DB_OPTION
@click.option("--region", default="", help="region the catalogue is for")
@click.option("--year", type=int, default=None, help="year the catalogue applies to")
@click.option("--ruleset", default="chs_drg_11", show_default=True,
              help="ruleset whose MCC/CC tables drive the CCI")
@click.option("--core-threshold", type=int, default=15, show_default=True)
@click.option("--score-scale", type=float, default=1000.0, show_default=True)
@click.option("--trim", "trim_method", type=click.Choice(TRIM_METHODS), default="iqr",
              show_default=True)
@click.option("--aux-combine", type=click.Choice(["max", "priority"]), default="max",
              show_default=True)
@click.option("--aux-min-cases", type=int, default=10, show_default=True)
@click.option("--day-surgery-ratio", type=float, default=1.0, show_default=True)
@click.option("--catalog-out", type=click.Path(path_type=Path), default=None,
              help="also write the groups as CSV")
@click.option("--hospitals", "hospitals_path", type=click.Path(path_type=Path), default=None,
              help="hospital_id, level of the history's hospitals, for same-level mean costs "
                   "(default: the store's hospitals)")
def build_dip_command(history_path: Path, version: str, db: Path | None, region: str,
                      year: int | None, ruleset: str, core_threshold: int, score_scale: float,
                      trim_method: str, aux_combine: str, aux_min_cases: int,
                      day_surgery_ratio: float, catalog_out: Path | None,
                      hospitals_path: Path | None) -> None:
    """Build a DIP catalogue (病种分值目录) and its same-level mean costs from history and
    store them as a dip version."""
    params = DipBuildParams(core_threshold=core_threshold, score_scale=score_scale,
                            trim_method=trim_method, aux_combine=aux_combine,
                            aux_min_cases=aux_min_cases,
                            day_surgery_score_ratio=day_surgery_ratio, ruleset=ruleset)
    history = _read_cases(history_path)
    build = build_dip_catalog(history, params, version=version,
                              hospitals=_hospital_levels(_db(db), hospitals_path))
    from weights.dip_store import save_catalog

    save_catalog(_db(db), build.catalog, version, region=region, year=year,
                 source=f"build-dip {history_path.name}", level_costs=build.level_costs)
    if catalog_out is not None:
        write_table(build.catalog.groups, catalog_out)
    r = build.report
    click.echo(f"dip version {version}: {r['groups']:,} groups {r['by_type']} from "
               f"{r['cases_used']:,} cases ({r['cases_skipped']:,} skipped), mean cost "
               f"{r['mean_cost_all']:,.2f}, {r['aux_rows']} aux coefficients, "
               f"{r['level_cost_rows']:,} same-level mean costs, "
               f"{r['cv_over_1']} groups with CV > 1")


@click.command("import-dip")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--version", "version", required=True, help="label of the new dip version")
@DB_OPTION
@click.option("--region", default="")
@click.option("--year", type=int, default=None)
@click.option("--score-scale", type=float, default=1000.0, show_default=True)
@click.option("--region-avg-cost", default=None,
              help="regional average cost (yuan) for score 1000 (scale): derives the mean cost "
                   "of groups the file publishes none for (score × this / scale)")
@click.option("--ignored-ops", "ignored_path", type=click.Path(path_type=Path), default=None,
              help="operations that do not count for grouping (CSV/xlsx column 手术操作编码, or "
                   "one code per line; a stem such as 99.18 takes every code it starts with)")
@click.option("--aux", "aux_path", type=click.Path(path_type=Path), default=None,
              help="auxiliary catalogue (辅助目录): 病种编码 (* = all), 辅助目录类型, 等级, 调整系数")
@click.option("--skip-invalid", is_flag=True, help="import the good rows, report the bad ones")
@click.option("--rejects", type=click.Path(path_type=Path), default=None,
              help="write the rejected rows (row, column, value, reason) as CSV")
@click.option("--procedure-classes", "classes_path", type=click.Path(path_type=Path),
              default=None,
              help="the region's operation-class table (手术操作编码, 手术操作类别: 手术/介入治疗/"
                   "治疗性操作/诊断性操作) instead of the shipped one; the version keeps its path")
def import_dip_command(file: Path, version: str, db: Path | None, region: str,
                       year: int | None, score_scale: float, region_avg_cost: str | None,
                       ignored_path: Path | None, aux_path: Path | None, skip_invalid: bool,
                       rejects: Path | None, classes_path: Path | None) -> None:
    """Import an official DIP catalogue as shipped (病种编码, 病种名称, 主要诊断编码, 手术操作编码 or
    主要/其他手术操作编码, 病种类型, 治疗方式, 病种分值, 次均费用, 例数, 变异系数, 平均住院日); headers
    and values as in grouper/dip_data/catalog_aliases.toml."""
    from decimal import Decimal, InvalidOperation

    from weights.dip_catalog_io import read_ignored_operations, require_clean
    from weights.dip_store import save_catalog

    ignored = read_ignored_operations(ignored_path) if ignored_path is not None else ()
    region_avg = None
    if region_avg_cost is not None:
        try:
            region_avg = Decimal(region_avg_cost)
        except InvalidOperation as exc:
            raise click.BadParameter(f"{region_avg_cost!r} is not a number",
                                     param_hint="--region-avg-cost") from exc
    result = import_catalog(file, version=version, score_scale=score_scale,
                            region_avg_cost=region_avg, ignored_procedures=ignored,
                            aux_path=aux_path, procedure_classes=classes_path)
    if rejects is not None:
        result.rejected.write_csv(rejects)
    if result.rejected.height:
        for row in result.rejected.head(20).iter_rows(named=True):
            click.echo(f"row {row['row']}: {row['column']}={row['value']!r}: {row['reason']}",
                       err=True)
        if not skip_invalid:
            require_clean(result)  # raises with the one-line summary
        click.echo(rejected_summary(result), err=True)
    if result.catalog is None:
        raise InputError(f"{file}: no usable catalogue row")
    save_catalog(_db(db), result.catalog, version, region=region, year=year,
                 source=f"import-dip {file.name}")
    groups = result.catalog.groups
    by_type = ", ".join(f"{t} {n:,}" for t, n in groups.group_by("dip_type").len()
                        .sort("dip_type").iter_rows())
    click.echo(f"dip version {version}: imported {groups.height:,} groups ({by_type}) "
               f"from {file.name} ({result.rejected['row'].n_unique()} rows rejected)")
    click.echo(result.mean_cost_note())
    if aux_path is not None:
        click.echo(f"{result.catalog.aux.height:,} auxiliary coefficients from {aux_path.name}")
    if classes_path is not None:
        from grouper.dip_procedure_class import load_procedure_classes

        n = load_procedure_classes(result.catalog.procedure_classes).height
        click.echo(f"operation classes: {n:,} codes from {classes_path.name} "
                   f"(codes it lacks: by their base code, else the chapter rules)")
    if ignored:
        click.echo(f"{len(ignored)} operations do not count for grouping: "
                   f"{', '.join(ignored[:10])}{' …' if len(ignored) > 10 else ''}")
