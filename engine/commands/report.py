"""`drgdip report`: supervision indicators and flags into the store, and the offline report."""

from __future__ import annotations

from pathlib import Path

import click
import duckdb
import polars as pl

from engine.report import ReportData, build_report
from engine.report.build import latest_year
from engine.report.sources import clearing_for, group_counts, hospital_names
from engine.settings import get_settings
from engine.supervision import (
    DEFAULT_THRESHOLDS,
    SupervisionThresholds,
    flags_for,
    indicators_for,
    supervise,
    supervision_runs,
    write_supervision,
)
from engine.supervision.inputs import from_case_file, from_settled_run, read_hospitals
from grouper import load_ruleset
from grouper.errors import InputError
from weights.store import open_store, query


def _thresholds(policy: str | None, con: duckdb.DuckDBPyConnection,
                run_id: str | None, store: Path | None = None) -> SupervisionThresholds:
    from engine.policy import PolicyError, load_policy
    if policy is not None:
        return load_policy(policy, store=store).supervision
    if run_id is not None:
        run = query(con, "SELECT policy FROM runs WHERE run_id = ?", [run_id])
        if run.height:
            try:
                return load_policy(str(run["policy"][0]), store=store).supervision
            except PolicyError as exc:  # a run whose policy file moved: built-in defaults
                click.echo(f"note: {exc}; using default supervision thresholds", err=True)
    return DEFAULT_THRESHOLDS


def _latest_run(con: duckdb.DuckDBPyConnection) -> str | None:
    """The newest clear run (a whole year), else the newest settle run."""
    try:
        runs = query(con, "SELECT run_id FROM runs ORDER BY kind = 'clear' DESC, "
                          "finished_at DESC, run_id DESC LIMIT 1")
    except duckdb.CatalogException:
        return None
    return str(runs["run_id"][0]) if runs.height else None


def _settled(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    try:
        return bool(query(con, "SELECT 1 FROM runs WHERE run_id = ?",
                          [run_id]).height)
    except duckdb.CatalogException:
        return False


@click.command("report")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="folder for report.html, CSV files and report.xlsx")
@click.option("--run-id", default=None, help="a settle run, or a clear run for its whole year "
              "(default: the newest clear run, else the newest settle run)")
@click.option("--hospital", default=None, help="a hospital's own report (本院报告)")
@click.option("--cases", "cases_path", default=None, type=click.Path(path_type=Path),
              help="case file: supervise it directly (no settlement needed), or the case file "
                   "of --run-id when runs.input moved")
@click.option("--hospitals", "hospitals_path", default=None, type=click.Path(path_type=Path),
              help="hospital table (hospital_id, level); default: the store's hospitals")
@click.option("--ruleset", default=None, help="DRG ruleset of --cases (default: settings)")
@click.option("--policy", default=None, help="policy whose [supervision] thresholds apply "
              "(default: the run's policy, else built-in defaults)")
@click.option("--period", default=None, help="period shown (2025 or 2025-03; default: the year)")
@click.option("--recompute", is_flag=True, help="recompute stored indicators of the run")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="store file (default: DRGDIP_DB, else ./drgdip.duckdb)")
def report_command(out_dir: Path, run_id: str | None, hospital: str | None,
                   cases_path: Path | None, hospitals_path: Path | None, ruleset: str | None,
                   policy: str | None, period: str | None, recompute: bool,
                   db: Path | None) -> None:
    """Supervision indicators and flags (stored in the store) and an offline HTML report in
    Chinese with charts, plus the same numbers as CSV and Excel (监管指标与报告)."""
    settings = get_settings()
    # supervising a case file writes its results into the store (made if needed, like settle);
    # reporting on stored runs needs an existing store
    con = open_store(db if db is not None else settings.db, create=cases_path is not None)
    hospitals = read_hospitals(hospitals_path)
    groups: pl.DataFrame | None = None
    if cases_path is not None and (run_id is None or not _settled(con, run_id)):
        run_id = run_id or f"supervision-{cases_path.stem}"
        th = _thresholds(policy, con, None, db)
        ruleset = ruleset or settings.default_ruleset
        frame, notes = from_case_file(cases_path, ruleset=ruleset,
                                      thresholds=th, hospitals=hospitals, con=con)
        write_supervision(con, run_id, supervise(frame, th))
        groups = _groups_of(frame, ruleset)
        click.echo(f"supervised {frame.height:,} cases of {cases_path} (weights {notes['weights']})")
    else:
        run_id = run_id or _latest_run(con) or next(iter(supervision_runs(con)), None)
        if run_id is None:
            raise InputError("nothing to report: the store has no settled run and no "
                             "supervision results; settle first or pass --cases FILE")
        th = _thresholds(policy, con, run_id, db)
        stored = run_id in supervision_runs(con)
        if _settled(con, run_id) and (recompute or not stored):
            frame, _ = from_settled_run(con, run_id, thresholds=th, cases_path=cases_path,
                                        hospitals=hospitals, ruleset=ruleset)
            write_supervision(con, run_id, supervise(frame, th))
            click.echo(f"supervised {frame.height:,} settled cases of run {run_id}")
        elif not stored:
            raise InputError(f"unknown run_id={run_id!r}: neither a settled run nor stored "
                             f"supervision results")
        groups = group_counts(con, run_id)
    indicators = indicators_for(con, run_id=run_id)
    flags = flags_for(con, run_id=run_id)
    data = ReportData(run_id=run_id, indicators=indicators, flags=flags, groups=groups,
                      thresholds=th, hospital_names=hospital_names(con, hospitals))
    shown = period or latest_year(indicators)
    data.clearing = clearing_for(con, shown[:4])
    files = build_report(data, out_dir, hospital=hospital, period=shown)
    con.close()
    shown_flags = flags if hospital is None else flags.filter(pl.col("hospital_id") == hospital)
    counts = shown_flags.group_by("kind").len().sort("kind")
    summary = ", ".join(f"{k} {n}" for k, n in counts.iter_rows()) or "none"
    click.echo(f"flags: {summary}")
    click.echo(f"report: {files.html} (+ {len(files.csv)} CSV, {files.xlsx.name})")


def _groups_of(frame: pl.DataFrame, ruleset: str) -> pl.DataFrame:
    names = load_ruleset(ruleset).drg_names
    return (frame.filter((pl.col("status") == "ok") & pl.col("group_code").is_not_null())
            .group_by("group_code").agg(pl.len().alias("n"))
            .with_columns(pl.col("group_code").replace_strict(names, default=None,
                                                              return_dtype=pl.String)
                          .alias("group_name")))
