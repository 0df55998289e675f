"""Supervision inputs from files and the store: a case file (grouped here) or a settled run.

`from_case_file` needs no settlement: it groups the cases, takes the published DRG weights of the
store when there are any for the ruleset and year, and otherwise builds RW from the cases
themselves (`weights.build_drg_weights`, payment-rules §2.2), so CMI is relative to this region.
`from_settled_run` reads `case_results` of a run and joins the case file recorded in `runs.input`
(or given) for the fields settlement does not keep (patient, dates, department, codes, self-pay).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from engine.ingest import read_cases
from engine.supervision.case_frame import frame_from_case_results, supervision_frame
from engine.supervision.thresholds import SupervisionThresholds
from grouper import group_drg, load_ruleset
from grouper.errors import InputError
from weights.drg_build import build_drg_weights
from weights.errors import WeightTableError
from weights.store import query
from weights.versions import active_drg_weights


def read_hospitals(path: Path | None) -> pl.DataFrame | None:
    if path is None:
        return None
    frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    if "hospital_id" not in frame.columns or not {"level", "hospital_level"} & set(frame.columns):
        raise InputError(f"{path}: a hospital table needs hospital_id and level columns")
    return frame


def _store_hospitals(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    frame = query(con, "SELECT hospital_id, level FROM hospital_master WHERE level IS NOT NULL")
    return frame if frame.height else None


def _weights(con: duckdb.DuckDBPyConnection | None, cases: pl.DataFrame, grouped: pl.DataFrame,
             ruleset: str) -> tuple[pl.DataFrame, str]:
    year = None
    if "discharge_date" in cases.columns:
        years = cases["discharge_date"].cast(pl.Date, strict=False).dt.year().drop_nulls()
        year = int(years.mode()[0]) if years.len() else None
    if con is not None and year is not None:
        try:
            w = active_drg_weights(con, ruleset, year)
            return w, f"published {w['version'][0]}"
        except WeightTableError:
            pass
    return build_drg_weights(cases, ruleset, grouped=grouped), "built from these cases"


def from_case_file(path: Path | pl.DataFrame, *, ruleset: str, thresholds: SupervisionThresholds,
                   hospitals: pl.DataFrame | None = None,
                   con: duckdb.DuckDBPyConnection | None = None
                   ) -> tuple[pl.DataFrame, dict[str, str]]:
    """The supervision case frame of a case file, and notes on where weights came from."""
    cases = read_cases(path).cases
    grouped = group_drg(cases, ruleset)
    weights, source = _weights(con, cases, grouped, ruleset)
    if hospitals is None and con is not None:
        hospitals = _store_hospitals(con)
    frame = supervision_frame(cases, grouped, weights, hospitals=hospitals, ruleset=ruleset,
                              thresholds=thresholds)
    return frame, {"weights": source, "cases": str(path) if isinstance(path, Path) else "<frame>"}


def from_settled_run(con: duckdb.DuckDBPyConnection, run_id: str, *,
                     thresholds: SupervisionThresholds, cases_path: Path | None = None,
                     hospitals: pl.DataFrame | None = None, ruleset: str | None = None
                     ) -> tuple[pl.DataFrame, dict[str, str]]:
    """The supervision case frame of a settle run, or of every settle run of a clear run's year
    and region (a year of monthly runs): case_results joined to the runs' case files."""
    run = query(con, "SELECT * FROM runs WHERE run_id = ?", [run_id])
    if run.is_empty():
        raise InputError(f"unknown run_id={run_id!r}; see `drgdip sql \"SELECT run_id, kind, "
                         f"period FROM runs\"`")
    info = run.row(0, named=True)
    if info["kind"] == "clear":
        runs = query(con, "SELECT run_id, input FROM runs WHERE kind = 'settle' AND year = ? "
                          "AND region = ? ORDER BY run_id", [info["year"], info["region"]])
    else:
        runs = run.select("run_id", "input")
    if runs.is_empty():
        raise InputError(f"run {run_id}: no settle runs of year {info['year']} to supervise")
    sources = [cases_path] if cases_path is not None else sorted(
        {Path(p) for p in runs["input"].drop_nulls().to_list()})
    missing = [str(p) for p in sources if not p.is_file()]
    if not sources or missing:
        raise InputError(f"run {run_id}: case file(s) {', '.join(missing) or '(none recorded)'} "
                         f"not available; pass --cases FILE (supervision needs patient, dates "
                         f"and codes of the cases)")
    results = query(con, "SELECT * FROM case_results WHERE run_id IN (SELECT unnest(?))",
                    [runs["run_id"].to_list()])
    cases = pl.concat([read_cases(p).cases for p in sources], how="diagonal_relaxed")
    cases = cases.unique("case_id", keep="last", maintain_order=True)
    if hospitals is None:
        hospitals = _store_hospitals(con)
    rs = ruleset or _run_ruleset(info)
    frame = frame_from_case_results(results, cases, hospitals=hospitals,
                                    ruleset=load_ruleset(rs), thresholds=thresholds)
    return frame, {"cases": ", ".join(map(str, sources)),
                   "weights": str(info.get("weights_version") or ""),
                   "runs": ", ".join(runs["run_id"].to_list())}


def _run_ruleset(info: dict[str, object]) -> str:
    from engine.policy import PolicyError, load_policy  # the run's policy names its ruleset
    try:
        return load_policy(str(info["policy"])).policy.ruleset
    except PolicyError:  # a run whose policy file moved still reports, on the default ruleset
        return "chs_drg_11"
