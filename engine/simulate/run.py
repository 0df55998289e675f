"""The simulation run: the same cases settled under a baseline and each scenario, compared, and
stored in the sim tables (never in the settlement tables) with what a repeat needs.

Grouping is done once per (method, ruleset) for DRG and once per catalogue version for DIP, and
reused by every scenario that keeps it. Settlement is `engine.settlement.batch.settle_cases`, the
batch's own rules; a simulation has no earlier months, so readmissions merge within the cases
given and the special-review quota counts these cases only. A scenario (or sweep point, or
solver step) whose validated policy and weight version are the baseline's is not settled again:
the baseline's result is its result (`same_as_baseline`, `reused_settlements`). Rates, point
values and budgets set in the store (`drgdip weights set-rate` / `set-budget`, the annual rows)
apply over the policy files as in `drgdip settle` / `clear`; a scenario's `--set pool.…`
overrides them (`summary.parameters` records each value's source).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from engine.pipeline import (
    Weights,
    group_cases,
    load_hospitals,
    load_weights,
    read_case_file,
)
from engine.policy import Policy
from engine.settlement.batch import settle_cases
from engine.settlement.presettle import HELD
from engine.settlement.review import read_reviews
from engine.settlement.store_parameters import with_store_parameters
from engine.simulate import compare
from engine.simulate.scenario import Scenario, scenario
from engine.simulate.solve import Solution, solve_budget, unit_variable
from engine.simulate.tables import SIM_TABLES
from grouper.errors import InputError
from weights.store import open_store, transaction

Progress = Callable[[str, int, int], None]
CASE_ROWS = ("changed", "all", "none")  # which cases get a sim_case row


@dataclass
class SimResult:
    sim_id: str
    summary: dict[str, Any] = field(default_factory=dict)
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)


class _Settler:
    """Settles the cases under a scenario, caching weights and groupings."""

    def __init__(self, con: duckdb.DuckDBPyConnection, cases: pl.DataFrame,
                 hospitals: pl.DataFrame, reviews: pl.DataFrame | None) -> None:
        self.con, self.cases, self.hospitals, self.reviews = con, cases, hospitals, reviews
        self._weights: dict[tuple[Any, ...], Weights] = {}
        self._groups: dict[tuple[str, str], pl.DataFrame] = {}
        self._kept: dict[str, pl.DataFrame] = {}  # the baseline's result, by identity
        self.groupings = 0
        self.settlements = 0
        self.reused = 0

    def weights(self, sc: Scenario) -> Weights:
        p = sc.policy
        key = (p.method, p.policy.ruleset, p.policy.region, p.year, sc.weights_version)
        if key not in self._weights:
            self._weights[key] = load_weights(self.con, p, sc.weights_version)
        return self._weights[key]

    def grouped(self, sc: Scenario, weights: Weights) -> pl.DataFrame:
        p = sc.policy
        key = (("drg", p.policy.ruleset) if p.method == "drg" else ("dip", weights.version))
        if key not in self._groups:
            self._groups[key] = group_cases(self.cases, p, weights)
            self.groupings += 1
        return self._groups[key]

    def effective(self, sc: Scenario) -> tuple[Policy, dict[str, Any]]:
        """The policy a settlement pays with: the store's annual rates / point values and fund
        budgets over the file's (as `drgdip settle` and `clear` take them), then the scenario's
        own `pool.*` overrides over the store's; with the record of which value came from
        where."""
        policy, used = with_store_parameters(self.con, sc.policy, clearing=True)
        pools = dict(policy.pool)
        for key, _ in sc.sets:
            parts = key.split(".")
            if parts[0] != "pool" or len(parts) != 3:
                continue
            for name in (list(pools) if parts[1] == "*" else [parts[1]]):
                if name in pools and name in sc.policy.pool:
                    value = getattr(sc.policy.pool[name], parts[2])
                    pools[name] = pools[name].model_copy(update={parts[2]: value})
                    if parts[2] in used.get(name, {}):
                        used[name][parts[2]] = {"value": str(value), "source": f"--set {key}"}
        return policy.model_copy(update={"pool": pools}), used

    def identity(self, sc: Scenario) -> str:
        """What a settlement depends on besides the cases: the policy it pays with (every
        field, whichever file, store value or override it came from) and the weight version."""
        policy = self.effective(sc)[0].model_dump(mode="json", exclude={"name", "checksum"})
        return json.dumps([policy, self.weights(sc).version], sort_keys=True, default=str)

    def keep(self, sc: Scenario, result: pl.DataFrame) -> None:
        self._kept[self.identity(sc)] = result

    def settle(self, sc: Scenario) -> pl.DataFrame:
        """The cases settled under `sc`; a scenario identical to a kept one (the baseline) is
        not settled again."""
        kept = self._kept.get(self.identity(sc))
        if kept is not None:
            self.reused += 1
            return kept
        weights = self.weights(sc)
        self.settlements += 1
        settled = settle_cases(self.cases, self.grouped(sc, weights), weights.table,
                               self.hospitals, self.effective(sc)[0], reviews=self.reviews)
        return settled.select(compare.SETTLED_COLUMNS)  # what the comparison reads, no more

    def pool_payables(self, sc: Scenario) -> dict[str, Decimal]:
        results = self.settle(sc)
        paid = results.filter(~pl.col("case_type").is_in(HELD) & pl.col("fund_pool").is_not_null())
        sums = paid.group_by("fund_pool").agg(pl.col("fund_payable").sum())
        return {r[0]: r[1] for r in sums.iter_rows()}


def _checksum(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def read_cases_files(paths: list[Path]) -> pl.DataFrame:
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: no such file / 病例文件不存在")
    # the simulation stores no patient id: run-local tokens link readmissions (no key needed)
    frames = [read_case_file(p, patient_ids="link") for p in paths]
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def _tag(frame: pl.DataFrame, sim_id: str, label: str) -> pl.DataFrame:
    return frame.select(pl.lit(sim_id).alias("sim_id"), pl.lit(label).alias("scenario"),
                        pl.all())


def _solve(settler: _Settler, sc: Scenario, pools: list[str]) -> list[Solution]:
    variable = unit_variable(sc.policy)

    def evaluate(values: dict[str, Decimal]) -> dict[str, Decimal]:
        sets = sc.sets + tuple((f"pool.{p}.{variable}", str(v)) for p, v in values.items())
        return settler.pool_payables(scenario(sc.spec, label=sc.label, sets=sets))

    return solve_budget(settler.effective(sc)[0], evaluate, pools)  # store budgets, rates


def simulate(db: Path, case_paths: list[Path], baseline: Scenario, scenarios: list[Scenario], *,
             sim_id: str, sweep: list[tuple[tuple[str, str], ...]] | None = None,
             solve: bool = False, hospitals_path: Path | None = None,
             reviews_path: Path | None = None, progress: Progress | None = None,
             case_rows: str = "changed") -> SimResult:
    """Settle `case_paths` under the baseline and each scenario (and each sweep point, applied
    on top of the last scenario, or of the baseline when there is none); store the comparison
    under `sim_id` (replacing an earlier run of the id)."""
    cases = read_cases_files(case_paths)
    reviews = read_reviews(reviews_path) if reviews_path is not None else None
    con = open_store(db)
    try:
        hospitals = load_hospitals(con, hospitals_path)
        result, run = run_simulation(
            con, cases, baseline, scenarios, sim_id=sim_id, sweep=sweep, solve=solve,
            hospitals=hospitals, reviews=reviews, progress=progress, case_rows=case_rows,
            inputs=[str(p) for p in case_paths], input_checksum=_checksum(case_paths))
        write_sim(con, run, result.frames)
    finally:
        con.close()
    return result


def run_simulation(con: duckdb.DuckDBPyConnection, cases: pl.DataFrame, baseline: Scenario,
                   scenarios: list[Scenario], *, sim_id: str, inputs: list[str],
                   input_checksum: str, hospitals: pl.DataFrame,
                   reviews: pl.DataFrame | None = None,
                   sweep: list[tuple[tuple[str, str], ...]] | None = None, solve: bool = False,
                   progress: Progress | None = None, case_rows: str = "changed"
                   ) -> tuple[SimResult, dict[str, Any]]:
    """The simulation of `cases` with weights read from `con` (read-only is enough): the result
    and its `sim_runs` row, not yet stored (`write_sim`). `inputs` names the case files as the
    user knows them (recorded for a repeat). `case_rows`: which cases get a `sim_case` row —
    `changed` (cause ≠ none: the cases that explain the change; the default), `all`, `none`."""
    if case_rows not in CASE_ROWS:
        raise ValueError(f"case_rows={case_rows!r}; one of {', '.join(CASE_ROWS)}")
    settler = _Settler(con, cases, hospitals, reviews)
    base = settler.settle(baseline)
    settler.keep(baseline, base)
    same = settler.identity(baseline)
    if progress:
        progress("baseline 基线", 1, 1)
    frames: dict[str, list[pl.DataFrame]] = {t: [] for t in SIM_TABLES if t != "sim_runs"}
    summary: dict[str, Any] = {"scenarios": {}}
    pools = sorted(p for p in base["fund_pool"].drop_nulls().unique())
    for i, sc in enumerate(scenarios, 1):
        rows = compare.case_rows(base, settler.settle(sc))
        hosp = compare.hospital_rows(rows)
        summary["scenarios"][sc.label] = {**compare.summary(rows, hosp),
                                          "same_as_baseline": settler.identity(sc) == same,
                                          "payment_cost_bins": compare.ratio_bins(rows)}
        if case_rows != "none":
            kept = rows if case_rows == "all" else rows.filter(pl.col("cause") != "none")
            frames["sim_case"].append(_tag(kept.drop("weight"), sim_id, sc.label))
        frames["sim_hospital"].append(_tag(hosp, sim_id, sc.label))
        frames["sim_group"].append(_tag(compare.group_rows(rows), sim_id, sc.label))
        frames["sim_cause"].append(_tag(compare.cause_rows(rows), sim_id, sc.label))
        if progress:
            progress("scenarios 情景", i, len(scenarios))
    for sc in (scenarios or [baseline]) if solve else []:
        solutions = _solve(settler, sc, [p for p in pools if p in sc.policy.pool])
        summary.setdefault("solutions", {})[sc.label] = [
            {k: str(v) for k, v in s.__dict__.items()} for s in solutions]
        frames["sim_solution"].append(_tag(pl.DataFrame(
            [s.__dict__ for s in solutions],
            schema={"fund_pool": pl.String, "variable": pl.String,
                    "budget": pl.Decimal(18, 2), "value": pl.Decimal(18, 4),
                    "fund_payable": pl.Decimal(18, 2), "gap": pl.Decimal(18, 2),
                    "step_payable": pl.Decimal(18, 2), "evaluations": pl.Int32}),
            sim_id, sc.label))
    template = scenarios[-1] if scenarios else baseline
    for n, point in enumerate(sweep or [], 1):
        sc = scenario(template.spec, label=f"sweep-{n}", sets=template.sets + point)
        rows = compare.case_rows(base, settler.settle(sc))
        s = compare.summary(rows, compare.hospital_rows(rows))
        frames["sim_sweep"].append(pl.DataFrame([{
            "sim_id": sim_id, "scenario": template.label, "point": n,
            "params": ", ".join(f"{k}={v}" for k, v in point),
            "fund_payable": s["fund_payable"], "change": s["change"],
            "change_pct": s["change_pct"], "hospitals_gaining": s["hospitals_gaining"],
            "hospitals_losing": s["hospitals_losing"], "outlier_share": s["outlier_share"]}],
            schema=SWEEP_SCHEMA))
        if progress:
            progress("sweep 扫描", n, len(sweep or []))
    summary["parameters"] = {sc.label: settler.effective(sc)[1]
                             for sc in [baseline, *scenarios]}
    summary.update(groupings=settler.groupings, settlements=settler.settlements,
                   reused_settlements=settler.reused, case_rows=case_rows)
    tables = {t: pl.concat(f) for t, f in frames.items() if f}
    run = {"sim_id": sim_id, "status": "done",
           "created_at": datetime.now(UTC).replace(tzinfo=None),
           "input": json.dumps(inputs, ensure_ascii=False),
           "input_checksum": input_checksum, "n_cases": cases.height,
           "baseline": json.dumps(baseline.record(), ensure_ascii=False),
           "scenarios": json.dumps([s.record() for s in scenarios], ensure_ascii=False),
           "sweep": json.dumps([[f"{k}={v}" for k, v in p] for p in sweep or []],
                               ensure_ascii=False) if sweep else None,
           "solve": solve, "summary": json.dumps(summary, ensure_ascii=False, default=str,
                                                 sort_keys=True)}
    return SimResult(sim_id, summary, tables), run


SWEEP_SCHEMA: dict[str, Any] = {
    "sim_id": pl.String, "scenario": pl.String, "point": pl.Int32, "params": pl.String,
    "fund_payable": pl.Decimal(18, 2), "change": pl.Decimal(18, 2),
    "change_pct": pl.Decimal(18, 4), "hospitals_gaining": pl.Int32,
    "hospitals_losing": pl.Int32, "outlier_share": pl.Decimal(18, 4)}


def write_sim(con: duckdb.DuckDBPyConnection, run: dict[str, Any],
              tables: dict[str, pl.DataFrame]) -> None:
    """Replace the simulation's rows, in one transaction."""
    frames = {**tables, "sim_runs": pl.DataFrame([run])}
    for table, frame in frames.items():
        con.register(f"_incoming_{table}", frame.to_arrow())
    try:
        with transaction(con):
            for table in SIM_TABLES:
                con.execute(f"DELETE FROM {table} WHERE sim_id = ?", [run["sim_id"]])
            for table, frame in frames.items():
                cols = ", ".join(f'"{c}"' for c in frame.columns)
                con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _incoming_{table}")
    finally:
        for table in frames:
            con.unregister(f"_incoming_{table}")
