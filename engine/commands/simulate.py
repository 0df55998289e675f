"""`drgdip simulate`: what-if settlement (测算) of the same cases under a baseline and scenarios."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
import polars as pl

from engine.commands.db_option import DB_OPTION
from engine.commands.table_output import print_table
from engine.settings import get_settings

HOSPITAL_ROWS = 30  # per scenario on the terminal; every hospital is in sim_hospital and --out
HOSPITAL_HEADERS = ["hospital 医院", "cases", "baseline 基线", "scenario 情景", "change 变化", "%",
                    "surplus 结余", "CMI"]
SWEEP_HEADERS = ["point", "parameters", "payable 应偿付", "change 变化", "%", "+5 %", "−5 %",
                 "outliers 极值"]


@click.command("simulate")
@click.option("--cases", "case_paths", required=True, multiple=True,
              type=click.Path(path_type=Path), help="case file(s) (Parquet/CSV/JSONL/xlsx)")
@click.option("--baseline", required=True, help="POLICY[@WEIGHTS] paid today")
@click.option("--scenario", "scenario_specs", multiple=True,
              help="POLICY[@WEIGHTS] to compare (repeatable; default: the baseline with --set)")
@click.option("--set", "sets", multiple=True,
              help="section.key=value override of every scenario's policy (repeatable), "
                   "e.g. outliers.k_high=2.5, pool.*.pv_budget=21.5")
@click.option("--ruleset", default=None, help="group the scenarios with this ruleset")
@click.option("--sweep", "sweeps", multiple=True,
              help="key=v1,v2,… (one or two): one settlement per point on top of the scenario")
@click.option("--solve", is_flag=True,
              help="find the budget-neutral base rate / point value of each fund pool")
@click.option("--sim-id", default=None, help="re-running an id replaces it (default sim-<time>)")
@click.option("--hospitals", "hospitals_path", default=None, type=click.Path(path_type=Path),
              help="hospital table file (default: the store's hospitals)")
@click.option("--reviews", "reviews_path", default=None, type=click.Path(path_type=Path),
              help="special-review outcomes (case_id, review_outcome, deduction)")
@click.option("--out", "out_dir", default=None, type=click.Path(path_type=Path),
              help="folder for CSV/xlsx tables and report.html")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True, help="table files written to --out")
@click.option("--case-rows", type=click.Choice(["changed", "all", "none"]), default="changed",
              show_default=True,
              help="which cases get a sim_case row: those whose payment changes, all, none "
                   "(per hospital, group and cause tables are always complete)")
@DB_OPTION
def simulate_command(case_paths: tuple[Path, ...], baseline: str,
                     scenario_specs: tuple[str, ...], sets: tuple[str, ...],
                     ruleset: str | None, sweeps: tuple[str, ...], solve: bool,
                     sim_id: str | None, hospitals_path: Path | None,
                     reviews_path: Path | None, out_dir: Path | None, fmt: str,
                     case_rows: str, db: Path | None) -> None:
    """Settle the same cases under a baseline and scenarios; store the comparison in the sim
    tables (sim_runs, sim_case, sim_hospital, sim_group …), never in the settlement tables."""
    from engine.simulate.run import simulate
    from engine.simulate.scenario import plan

    p = plan(baseline, scenario_specs, sets, ruleset, sweeps, solve)
    scenarios, sweep = p.scenarios, p.sweep
    sim_id = sim_id or datetime.now(UTC).strftime("sim-%Y%m%dT%H%M%SZ")
    store = db if db is not None else get_settings().db
    result = simulate(store, list(case_paths), p.baseline, scenarios, sim_id=sim_id, sweep=sweep,
                      solve=solve, hospitals_path=hospitals_path, reviews_path=reviews_path,
                      case_rows=case_rows)
    click.echo(f"simulation {sim_id}: {result.summary['groupings']} grouping(s) and "
               f"{result.summary['settlements']} settlement(s) for {len(scenarios)} "
               f"scenario(s) and {len(sweep)} sweep point(s)")
    for label, s in result.summary["scenarios"].items():
        click.echo(f"{label}: fund payable {s['base_fund_payable']} → {s['fund_payable']} "
                   f"({s['change']:+}, {_pct(s['change_pct'])}); hospitals gaining >5 % "
                   f"{s['hospitals_gaining']}, losing >5 % {s['hospitals_losing']}; "
                   f"outlier share {_pct(s['outlier_share'], False)}; cases moving group "
                   f"{s['moved_cases']:,}")
        if s.get("same_as_baseline"):
            click.echo(f"note: {label} has the baseline's policy and weights: not settled "
                       f"again, nothing changes / 该情景与基线设置相同，未重复结算")
        elif s["changed_cases"] == 0:
            click.echo(f"note: {label} pays every case exactly as the baseline: its settings "
                       f"change nothing on these cases / 该情景与基线结果完全相同")
    hospitals = result.frames.get("sim_hospital")
    if hospitals is not None:
        for label in result.summary["scenarios"]:
            rows = hospitals.filter(pl.col("scenario") == label).sort(
                pl.col("change").abs(), "hospital_id", descending=[True, False])
            print_table(pl.DataFrame([
                [r["hospital_id"], f"{r['cases']:,}", f"{r['base_fund_payable']:,}",
                 f"{r['fund_payable']:,}", f"{r['change']:+,}", _pct(r["change_pct"]),
                 f"{r['surplus']:+,}", str(r["cmi"])] for r in rows.iter_rows(named=True)],
                orient="row", schema=HOSPITAL_HEADERS),
                limit=HOSPITAL_ROWS, title=f"{label}: hospitals, largest change first "
                                          f"医院（变化由大到小）")
    for label, solutions in result.summary.get("solutions", {}).items():
        for s in solutions:
            click.echo(f"{label} {s['fund_pool']}: budget-neutral {s['variable']} {s['value']} "
                       f"(fund payable {s['fund_payable']}, {s['gap']} under the budget "
                       f"{s['budget']}; one step of 0.0001 adds {s['step_payable']})")
    sweep_rows = result.frames.get("sim_sweep")
    if sweep_rows is not None:
        print_table(pl.DataFrame([
            [str(r["point"]), r["params"], f"{r['fund_payable']:,}", f"{r['change']:+,}",
             _pct(r["change_pct"]), str(r["hospitals_gaining"]), str(r["hospitals_losing"]),
             _pct(r["outlier_share"], False)] for r in sweep_rows.iter_rows(named=True)],
            orient="row", schema=SWEEP_HEADERS), title="sweep 参数扫描")
    if out_dir is not None:
        from engine.simulate.output import write_report, write_tables

        paths = write_tables(result.frames, out_dir, fmt=fmt)
        paths.append(write_report(result, out_dir))
        click.echo("wrote " + ", ".join(str(p) for p in paths))


def _pct(value: object, signed: bool = True) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:{'+' if signed else ''}.2f} %"  # display only
