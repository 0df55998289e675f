"""The settlement batch: ingest → group → settle → store, and the annual clearing run.

A run is idempotent by `run_id` and atomic: all its rows (case_results, hospital_period_results
or clearing_results/clearing_pools, and its `runs` row marked done) are written inside ONE DuckDB
transaction that first deletes whatever the run id already had. A process killed before COMMIT
leaves nothing (DuckDB rolls the uncommitted transaction back when the file is next opened); a
re-run replaces, never duplicates. Parquet copies are written after the commit through a
temporary file and an atomic rename.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

import engine.views  # noqa: F401  (registers migrations 200/201 before the store opens)
from engine.policy import Policy, PolicyError
from engine.settlement.batch import settle_cases
from engine.settlement.clear import clear_pool, conservation_gap
from engine.settlement.cost_coef import attach_hospital_costs
from engine.settlement.inputs import attach_level_costs
from engine.settlement.presettle import clamped_prepayments, hospital_period, off_scale_pools
from engine.settlement.readmission_history import earlier_episodes
from engine.settlement.review import read_reviews
from engine.settlement.review_quota import with_year_quota_used
from engine.settlement.store_parameters import with_store_parameters
from engine.settlement.store_tables import LATEST_SETTLE_RUNS
from grouper import group_drg, load_ruleset
from grouper.dip_catalog import DipCatalog
from grouper.errors import DrgDipError, InputError, RefusedError
from weights.errors import StoreBusyError, StoreError, WeightTableError
from weights.store import open_store, query, transaction
from weights.versions import VERSIONED_TABLES, active_version, version_info, version_rows

if TYPE_CHECKING:
    from engine.executors import Executor

CHUNK_ROWS = 1_000_000
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
Progress = Callable[[str, int, int], None]  # (stage, done, total)
# Columns of the case file settlement reads; the rest (cost breakdown …) is not loaded.
CASE_COLUMNS = ("case_id", "hospital_id", "insurance_type", "patient_id", "sex", "age",
                "age_days", "birth_weight", "admit_date", "discharge_date", "los",
                "discharge_way", "diagnoses", "procedures", "icu_hours", "tcm_treatment",
                "day_surgery", "total_cost", "fund_paid", "other_fund_paid", "patient_paid",
                "ingest_status", "ingest_error_code", "ingest_error_message")


class RunError(DrgDipError):
    """A batch run cannot start (bad period, missing weights or hospitals)."""


@dataclass(frozen=True)
class Weights:
    """What settlement needs from the store: the weight table and, for DIP, the catalogue."""

    version: str
    table: pl.DataFrame
    catalog: DipCatalog | None = None


@dataclass
class RunResult:
    run_id: str
    kind: str
    summary: dict[str, Any] = field(default_factory=dict)
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)


def check_period(period: str) -> int:
    import re

    if not re.match(PERIOD_PATTERN, period or ""):
        raise RunError(f"period={period!r}; expected YYYY-MM, e.g. 2025-03")
    return int(period[:4])


def load_weights(con: duckdb.DuckDBPyConnection, policy: Policy,
                 version: str | None = None) -> Weights:
    """The named version, else the published one for the policy's ruleset and year (the policy's
    region preferred)."""
    kind = policy.method
    if version is None:
        try:
            info = active_version(con, kind, policy.policy.ruleset, policy.year,
                                  region=policy.policy.region)
        except WeightTableError:
            info = active_version(con, kind, policy.policy.ruleset, policy.year)
        version = str(info["version"])
    else:
        info = version_info(con, version)
        if info["kind"] != kind:
            raise RunError(f"weights version {version!r} is {info['kind']}, the policy pays "
                           f"{kind}")
        built_for = info.get("ruleset")
        if kind == "drg" and built_for and built_for != policy.policy.ruleset:
            from grouper.errors import RefusedError

            raise RefusedError(f"weights version {version!r} were built for ruleset {built_for}, "
                               f"the cases are grouped with {policy.policy.ruleset}: refused "
                               f"(权重与分组方案不一致)")
    rows = _with_level_costs(con, kind, version, version_rows(con, version).drop("version"))
    rows = _with_hospital_costs(con, kind, version, rows)
    if kind == "drg":
        return Weights(version, rows)
    from weights.dip_store import PARAMS

    aux = version_rows(con, version, "dip_aux").drop("version")
    params = json.loads(info.get("params") or "{}")
    catalog = DipCatalog(groups=rows.with_columns(pl.col("score", "mean_cost").cast(pl.Float64)),
                         aux=aux.with_columns(pl.col("coef").cast(pl.Float64)), version=version,
                         **{k: v for k, v in params.items() if k in PARAMS})
    return Weights(version, rows, catalog)


def _with_level_costs(con: duckdb.DuckDBPyConnection, kind: str, version: str,
                      rows: pl.DataFrame) -> pl.DataFrame:
    """The weight rows with the version's same-level mean costs (`{kind}_level_costs`) nested
    in a `level_costs` column, when the version has any (engine.settlement.inputs)."""
    table = f"{kind}_level_costs"
    if table not in {t.name for t in VERSIONED_TABLES[kind]}:
        return rows
    levels = version_rows(con, version, table)
    if levels.height == 0:
        return rows
    return attach_level_costs(rows, levels, "drg" if kind == "drg" else "dip_code")


def _with_hospital_costs(con: duckdb.DuckDBPyConnection, kind: str, version: str,
                         rows: pl.DataFrame) -> pl.DataFrame:
    """The weight rows with the version's per-hospital mean costs (`drg_hospital_costs`, for
    the DRG hospital cost coefficient) nested in a `hospital_costs` column, when it has any
    (engine.settlement.cost_coef)."""
    table = f"{kind}_hospital_costs"
    if table not in {t.name for t in VERSIONED_TABLES[kind]}:
        return rows
    costs = version_rows(con, version, table)
    if costs.height == 0:
        return rows
    return attach_hospital_costs(rows, costs, "drg")


def load_hospitals(con: duckdb.DuckDBPyConnection, path: Path | None, *,
                   on: date | None = None) -> pl.DataFrame:
    """hospital_id, level, type[, coefficient] from a file or the store: the institution
    coefficients in force on `on` (a settled period's first day, `period_start`), else today's
    (the `hospitals` view)."""
    if path is not None:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        frame = (pl.read_parquet(path) if path.suffix.lower() == ".parquet"
                 else pl.read_csv(path, infer_schema=False))
    elif on is not None:
        from weights.hospitals import coefficients_on

        frame = coefficients_on(con, on).select("hospital_id", "level", "type", "coefficient")
    else:
        frame = query(con, "SELECT hospital_id, level, type, coefficient FROM hospitals")
    if frame.height == 0 or not {"hospital_id", "level"} <= set(frame.columns):
        raise RunError("no hospital table: load one with `drgdip weights hospitals import` or "
                       "pass --hospitals FILE (hospital_id, level, type)")
    return frame.with_columns(pl.col("hospital_id").cast(pl.String))


def period_start(period: str) -> date:
    """The first day of a YYYY-MM period."""
    check_period(period)
    return date(int(period[:4]), int(period[5:7]), 1)


def coefficients_used(con: duckdb.DuckDBPyConnection, hospitals_path: Path | None,
                      period: str) -> dict[str, Any]:
    """For the run summary: where the institution coefficients came from, the date they were
    read for, and the store's coefficients that take effect later inside the period (they are
    not applied to it: a period is paid with one coefficient a hospital, the one in force on
    its first day)."""
    if hospitals_path is not None:
        return {"source": f"file {hospitals_path.name}"}
    start = period_start(period)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    later = query(con, "SELECT hospital_id, coefficient, effective_from FROM "
                       "hospital_coefficients WHERE effective_from > ? AND effective_from < ? "
                       "ORDER BY hospital_id, effective_from", [start, end])
    return {"source": "store", "on": start.isoformat(),
            "changes_within_period": {h: f"{c} from {d.isoformat()}"
                                      for h, c, d in later.iter_rows()}}


def read_case_file(path: Path, *, notes: Callable[[str], None] | None = None,
                   patient_ids: str = "pseudonymise") -> pl.DataFrame:
    """The case columns settlement reads (engine.ingest.case_file.read_case_file, the one
    reader); `notes` receives the file's header note when there is one. `patient_ids`:
    engine.pseudonym modes (`link` for the simulation, which stores no patient id)."""
    from engine.ingest.case_file import read_case_file as read

    return read(path, columns=CASE_COLUMNS, notes=notes, patient_ids=patient_ids)


def group_by_date(cases: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """`--ruleset auto` (DRG): each case grouped under the ruleset in force on its discharge
    date, by the region's calendar (`policy.ruleset_calendar`) or the manifests'. A case
    without a discharge date is held with E108, not guessed; a run with cases under another
    ruleset than the policy's (its weights') is refused with one line."""
    from grouper.by_date import group_drg_auto

    grouped = group_drg_auto(cases, policy_calendar(policy))
    refuse_other_rulesets(grouped["ruleset"].drop_nulls().value_counts().rows(), policy)
    return grouped.drop("ruleset")


def policy_calendar(policy: Policy) -> list | None:
    """The region's ruleset calendar of the policy, or None (the manifests')."""
    from grouper.by_date import calendar_from

    override = policy.policy.ruleset_calendar
    return calendar_from(sorted(override.items())) if override else None


def refuse_other_rulesets(counts: list[tuple[str, int]], policy: Policy) -> None:
    """Refuse (one line) a run whose cases are, by discharge date, under another ruleset
    than the policy's and its weights'; `counts`: (ruleset, cases) of the dated cases."""
    other = sorted(((r, n) for r, n in counts if r != policy.policy.ruleset),
                   key=lambda rn: (-rn[1], rn[0]))
    if other:
        found = ", ".join(f"{n:,} under {r}" for r, n in other)
        raise RefusedError(
            f"--ruleset auto: {found} by discharge date, but policy {policy.name} and its "
            f"weights are for {policy.policy.ruleset}; settle those cases with a policy and "
            f"weights for their ruleset / 按出院日期部分病例适用其他分组方案，请用对应的政策与权重结算")


def group_cases(cases: pl.DataFrame, policy: Policy, weights: Weights, *,
                progress: Progress | None = None, by_date: bool = False) -> pl.DataFrame:
    """DRG or DIP grouping in chunks; one row per case, in order. `by_date`: DRG cases by
    their discharge date (`group_by_date`)."""
    if by_date and policy.method == "drg":
        return group_by_date(cases, policy)
    ruleset = load_ruleset(policy.policy.ruleset) if policy.method == "drg" else None
    parts = []
    for start in range(0, max(cases.height, 1), CHUNK_ROWS):
        chunk = cases.slice(start, CHUNK_ROWS)
        if ruleset is not None:
            parts.append(group_drg(chunk, ruleset))
        else:
            from grouper import group_dip

            assert weights.catalog is not None
            parts.append(group_dip(chunk, weights.catalog))
        if progress:
            progress("group 分组", min(start + CHUNK_ROWS, cases.height), cases.height)
    return pl.concat(parts)


def settle_frame(cases: pl.DataFrame, policy: Policy, weights: Weights,
                 hospitals: pl.DataFrame, period: str, *, reviews: pl.DataFrame | None = None,
                 earlier: pl.DataFrame | None = None, progress: Progress | None = None,
                 by_date: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(case_results, hospital_period_results) of one period, without run ids. `earlier`:
    the year's earlier episodes for the readmission merge (engine.settlement.readmission_history)."""
    grouped = group_cases(cases, policy, weights, progress=progress, by_date=by_date)
    results = settle_cases(cases, grouped, weights.table, hospitals, policy, reviews=reviews,
                           earlier_episodes=earlier)
    if progress:
        progress("settle 结算", cases.height, cases.height)
    return results, hospital_period(results, policy, period)


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    arrow = frame.to_arrow()
    con.register("_incoming", arrow)
    try:
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _incoming")
    finally:
        con.unregister("_incoming")


def _json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, ensure_ascii=False, default=str, sort_keys=True)


def write_run(con: duckdb.DuckDBPyConnection, run: dict[str, Any],
              tables: dict[str, pl.DataFrame]) -> None:
    """Replace the run's rows and mark it done, in one transaction."""
    with transaction(con):
        for table in ("case_results", "hospital_period_results", "clearing_results",
                      "clearing_pools", "runs"):
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run["run_id"]])
        for table, frame in tables.items():
            _insert(con, table, frame.with_columns(pl.lit(run["run_id"]).alias("run_id")))
        _insert(con, "runs", pl.DataFrame([run]))


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Atomic: a reader sees the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.write_parquet(tmp)
    os.replace(tmp, path)


def _run_row(run_id: str, kind: str, policy: Policy, period: str, *, input_name: str,
             weights_version: str | None, n_cases: int, started: datetime,
             summary: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": run_id, "kind": kind, "status": "done", "policy": policy.name,
            "policy_version": policy.policy.version, "policy_checksum": policy.checksum,
            "region": policy.policy.region, "method": policy.method, "year": policy.year,
            "period": period, "input": input_name, "weights_version": weights_version,
            "n_cases": n_cases, "started_at": started, "finished_at": datetime.now(),
            "summary": _json(summary)}


def settle_summary(counts: pl.DataFrame, period_rows: pl.DataFrame) -> dict[str, Any]:
    """The run's figures from its case counts (`engine.executors.case_counts`: case_type,
    group_type, status, error_code, outside_period, n, fund_payable) and period rows; the
    same for every executor."""
    def by(col: str, frame: pl.DataFrame = counts) -> dict[Any, int]:
        return {k: int(n) for k, n in frame.group_by(col).agg(pl.col("n").sum())
                .sort(col, nulls_last=False).iter_rows()}

    def n_where(test: pl.Expr) -> int:
        return int(counts.filter(test)["n"].sum())

    return {"cases": int(counts["n"].sum()), "case_types": by("case_type"),
            # settled anyway; the count tells the operator
            "outside_period": n_where(pl.col("outside_period")),
            "group_types": by("group_type",  # cases per group type (DIP: core, comprehensive …)
                              counts.filter(pl.col("group_type").is_not_null())),
            "unmatched": n_where(pl.col("case_type") == "unmatched"),
            "invalid": n_where(pl.col("status") == "invalid"),
            "hospitals": period_rows["hospital_id"].n_unique(),
            "fund_payable": str(counts["fund_payable"].cast(pl.Decimal(38, 2)).sum()),
            "ffs_fund_amount": str(period_rows["ffs_fund_amount"].sum()),
            "prepayment": str(period_rows["prepayment"].sum())}


def _open_for_reading(db: Path) -> duckdb.DuckDBPyConnection:
    """The store read-only when it exists and is migrated, else read-write (created/migrated)."""
    if db.is_file():
        try:
            return open_store(db, read_only=True)
        except StoreBusyError:
            raise
        except StoreError:  # migrations pending: the read-write open applies them
            pass
    return open_store(db)


def held_codes(counts: pl.DataFrame) -> str:
    """The most frequent error codes of the held cases, e.g. 'S104 × 9,990, E101 × 10'
    (`counts` as settle_summary's)."""
    held = counts.filter(pl.col("status") == "invalid")
    top = (held.group_by("error_code").agg(pl.col("n").sum().alias("len"))
           .sort(["len", "error_code"], descending=[True, False]).head(3))
    return ", ".join(f"{code} × {n:,}" for code, n in top.iter_rows())


def check_held_share(counts: pl.DataFrame, policy: Policy, *, allow_held: bool) -> None:
    """RefusedError when the held share of the run exceeds the policy's max_held_share."""
    n = int(counts["n"].sum())
    held = int(counts.filter(pl.col("status") == "invalid")["n"].sum())
    limit = policy.policy.max_held_share
    if allow_held or n == 0 or Decimal(held) <= limit * n:
        return
    share = f"{Decimal(held * 100) / n:.1f}"
    raise RefusedError(
        f"{held:,} of {n:,} cases ({share} %) are held, more than the policy's "
        f"{limit * 100:.1f} % ({held_codes(counts)}); nothing was stored — fix the file, or "
        f"pass --allow-held to settle anyway / 被挂起病例 {held:,}/{n:,}（{share}%）超过政策上限 "
        f"{limit * 100:.1f}%，未入库；请修正文件，或加 --allow-held 仍然结算")


def run_settle(db: Path, policy: Policy, cases_path: Path, *, period: str, run_id: str,
               weights_version: str | None = None, hospitals_path: Path | None = None,
               reviews_path: Path | None = None, out_dir: Path | None = None,
               progress: Progress | None = None, cases: pl.DataFrame | None = None,
               allow_held: bool = False, by_date: bool = False,
               executor: Executor | None = None) -> RunResult:
    """Settle one period's case file into the store (and Parquet under `out_dir`).

    `executor` (engine.executors): where the cases are settled, this machine (default) or
    Spark; everything else here is the same for both. Refused (RefusedError, nothing
    written) when more than the policy's `max_held_share` of the cases is held (invalid),
    unless `allow_held`."""
    from engine.executors import PolarsExecutor

    ex = executor or PolarsExecutor()
    year = check_period(period)
    if year != policy.year:
        raise RunError(f"period {period} is outside the policy year {policy.year}")
    started = datetime.now()
    handle = ex.read(cases_path, cases)
    reviews = read_reviews(reviews_path) if reviews_path is not None else None
    target = out_dir / run_id if out_dir is not None else None
    con = open_store(db)  # (merge: main's single connection kept; see the jobs report)
    try:
        policy, parameters = with_store_parameters(con, policy, period=period)
        weights = load_weights(con, policy, weights_version)
        hospitals = with_year_quota_used(con, load_hospitals(con, hospitals_path,
                                                            on=period_start(period)), policy,
                                         period=period, run_id=run_id)
        earlier = earlier_episodes(con, policy, period=period, run_id=run_id,
                                   cases=ex.history_cases(handle))
        coefficients = coefficients_used(con, hospitals_path, period)
        if not ex.holds_store:
            con.close()
        settled = ex.settle(handle, policy, weights, hospitals, period, reviews=reviews,
                            earlier=earlier, progress=progress, by_date=by_date, target=target)
        summary = settle_summary(settled.counts, settled.period_rows) | {
            "parameters": parameters,
            "prepayments_clamped": clamped_prepayments(settled.period_rows, policy),
            "off_scale_pools": off_scale_pools(settled.period_rows, policy),
            "hospital_coefficients": coefficients}
        try:
            check_held_share(settled.counts, policy, allow_held=allow_held)
            run = _run_row(run_id, "settle", policy, period, input_name=str(cases_path),
                           weights_version=weights.version, n_cases=summary["cases"],
                           started=started, summary=summary)
            if ex.load_store:
                if not ex.holds_store:
                    con = open_store(db)
                ex.store(con, run, settled)
        except BaseException:
            ex.discard(settled)  # a refused or failed run leaves no files behind
            raise
    finally:
        con.close()
    if progress:
        progress("store 入库", summary["cases"], summary["cases"])
    ex.write_files(settled, out_dir, run_id)
    frames = {"hospital_period_results": settled.period_rows}
    if settled.results is not None:
        frames = {"case_results": settled.results} | frames
    return RunResult(run_id, "settle", summary, frames)


def year_inputs(con: duckdb.DuckDBPyConnection, policy: Policy, year: int) -> pl.DataFrame:
    """Per fund pool × hospital: the year's sums over the latest done settle run of each period
    under this policy (clear's INPUT_COLUMNS)."""
    sql = f"""
        WITH latest AS ({LATEST_SETTLE_RUNS.format(exclude="")})
        SELECT fund_pool, hospital_id, sum(points) AS points, sum(fixed_amount) AS fixed_amount,
               sum(payment_standard) AS payment_standard, sum(liability) AS liability,
               sum(ffs_fund_amount) AS ffs_fund_amount, sum(total_cost) AS total_cost,
               sum(prepayment) AS prepaid, sum(deduction) AS deduction,
               count(DISTINCT period) AS periods
        FROM hospital_period_results WHERE run_id IN (SELECT run_id FROM latest)
        GROUP BY fund_pool, hospital_id ORDER BY fund_pool, hospital_id"""
    return query(con, sql, [policy.name, year])


def clamps(result: Any, policy: Policy, pool: str) -> dict[str, Any]:
    """What the clearing of a pool clamped or capped (payment-rules §4.3 'each such clamp is
    listed in the run's summary and stored'): hospitals whose payable P is negative (no
    overspend share, no ratio, no redistributed reserve) and whether the point-value cap
    against last year bound."""
    from engine.settlement.money import round4

    rows = result.hospitals
    negative = rows.filter(pl.col("payable") < 0).select("hospital_id", "payable")
    params = policy.pool_params(pool)
    cap = (round4(params.pv_prev_year * params.pv_cap_ratio)
           if params.pv_prev_year is not None and params.pv_cap_ratio is not None else None)
    return {"negative_payables": {h: str(v) for h, v in negative.iter_rows()},
            "point_value_cap": None if cap is None else str(cap),
            "point_value_cap_binding": cap is not None and not policy.fixed_point_value
            and result.summary["point_value"] == cap}


def missing_months(con: duckdb.DuckDBPyConnection, policy: Policy, year: int) -> list[str]:
    """The months YYYY-MM of `year` without a done settle run of the policy."""
    sql = (f"SELECT DISTINCT period FROM runs WHERE run_id IN "
           f"({LATEST_SETTLE_RUNS.format(exclude='')})")
    done = set(query(con, sql, [policy.name, year])["period"].to_list())
    return [m for m in (f"{year}-{i:02d}" for i in range(1, 13)) if m not in done]


def run_clear(db: Path, policy: Policy, *, year: int, run_id: str | None = None,
              out_dir: Path | None = None, partial: bool = False) -> RunResult:
    """Annual clearing of every fund pool of the policy from the year's settle runs.

    Refused (RefusedError) while months of the year have no settle run, naming them, unless
    `partial`; a partial clearing records the missing months in its summary."""
    if year != policy.year:
        raise RunError(f"year {year} is not the policy year {policy.year}")
    run_id = run_id or f"clear-{policy.name}-{year}"
    started = datetime.now()
    con = open_store(db, create=False)  # clearing needs the settle runs of a store
    try:
        policy, parameters = with_store_parameters(con, policy, clearing=True)
        inputs = year_inputs(con, policy, year)
        if inputs.height == 0:
            raise RunError(f"no settle runs for policy {policy.name} in {year}; run "
                           f"`drgdip settle` for its periods first")
        missing = missing_months(con, policy, year)
        if missing and not partial:
            raise RefusedError(
                f"{len(missing)} month(s) of {year} have no settle run under {policy.name}: "
                f"{', '.join(missing)}; settle them, or pass --partial to clear what is there "
                f"/ {year} 年有 {len(missing)} 个月未结算：{', '.join(missing)}；请先结算，"
                f"或加 --partial 按已结算月份清算")
        hospitals, pools = [], []
        summary: dict[str, Any] = {}
        for pool in sorted(set(inputs["fund_pool"])):
            if pool not in policy.pool:
                raise PolicyError(f"policy {policy.name} has no fund pool {pool!r}")
            result = clear_pool(inputs.filter(pl.col("fund_pool") == pool), policy, pool)
            gap = conservation_gap(result.summary)
            hospitals.append(result.hospitals.with_columns(pl.lit(year).alias("year"),
                                                           pl.lit(pool).alias("fund_pool")))
            pools.append({**result.summary, "year": year})
            summary[pool] = {k: str(v) for k, v in result.summary.items()} | {
                "conservation_gap": str(gap)}
            summary[pool].update(clamps(result, policy, pool))
        pool_frame = pl.DataFrame(pools, infer_schema_length=None).with_columns(
            pl.col(c).cast(pl.Decimal(18, 2)) for c in pools[0]
            if isinstance(pools[0][c], Decimal) and c not in ("point_value", "points"))
        tables = {"clearing_results": pl.concat(hospitals), "clearing_pools": pool_frame}
        if missing:
            summary["missing_months"] = missing
        for pool, used in parameters.items():
            if pool in summary:
                summary[pool]["parameters"] = used
        run = _run_row(run_id, "clear", policy, str(year), input_name="settle runs",
                       weights_version=None, n_cases=int(inputs.height), started=started,
                       summary=summary)
        write_run(con, run, tables)
    finally:
        con.close()
    if out_dir is not None:
        write_parquet(tables["clearing_results"].with_columns(pl.lit(run_id).alias("run_id")),
                      out_dir / run_id / "clearing_results.parquet")
    return RunResult(run_id, "clear", summary, tables)
