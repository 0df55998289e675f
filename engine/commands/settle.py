"""`drgdip settle`, `drgdip clear` and `drgdip policies`: the settlement batch runs."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl
from rich.progress import Progress, TaskID

import engine.views  # noqa: F401  (settlement tables and views join the store schema)
from engine.commands.db_option import DB_OPTION
from engine.commands.ingest_options import MAX_BAD_LINES_OPTION
from engine.commands.table_output import emit, format_options, print_table
from engine.policy import load_policy, shipped_policies
from engine.settings import get_settings
from grouper.errors import DrgDipError


def _db(db: Path | None) -> Path:
    return db if db is not None else get_settings().db


def _out(db: Path, out: Path | None) -> Path:
    return out if out is not None else db.resolve().parent / "results"


@click.command("policies")
@format_options
def policies_command(fmt: str | None, out_path: Path | None) -> None:
    """List the shipped settlement policies (结算政策, illustrative values), as a table, CSV,
    JSON lines or .xlsx."""
    rows = []
    for name in shipped_policies():
        p = load_policy(name)
        rows.append({"name": name, "region": p.policy.region, "year": p.year,
                     "method": p.method,
                     "basis": "points" if p.method == "dip" else p.policy.payment_basis,
                     "version": p.policy.version, "pools": ",".join(p.pool),
                     "title": p.policy.title})
    emit(pl.DataFrame(rows, schema={"name": pl.String, "region": pl.String, "year": pl.Int64,
                                    "method": pl.String, "basis": pl.String,
                                    "version": pl.String, "pools": pl.String,
                                    "title": pl.String}), fmt, out_path, sheet="policies")


@click.command("settle")
@click.option("--policy", "policy_name", required=True, help="policy name or .toml path")
@click.option("--cases", "cases_path", required=True, type=click.Path(path_type=Path),
              help="case file (Parquet/CSV/JSONL/xlsx)")
@click.option("--period", required=True, help="settlement month YYYY-MM")
@click.option("--run-id", required=True, help="re-running an id replaces its results")
@click.option("--weights", "weights_version", default=None,
              help="weight/catalogue version (default: the published one)")
@click.option("--hospitals", "hospitals_path", default=None, type=click.Path(path_type=Path),
              help="hospital table file (default: the store's hospitals)")
@click.option("--reviews", "reviews_path", default=None, type=click.Path(path_type=Path),
              help="special-review outcomes (case_id, review_outcome, deduction)")
@click.option("--out", "out_dir", default=None, type=click.Path(path_type=Path),
              help="Parquet output folder (default: results/ next to the store)")
@DB_OPTION
@click.option("--engine", "engine_name", type=click.Choice(["polars", "spark"]),
              default="polars", show_default=True,
              help="polars: this machine; spark: Apache Spark (pip install 'drgdip[spark]')")
@click.option("--master", default=None,
              help="Spark master URL with --engine spark (default local[*], or spark-submit's)")
@click.option("--store/--no-store", "load_store", default=True, show_default=True,
              help="load the results into the store (else Parquet only, under --out)")
@click.option("--allow-held", is_flag=True, default=False,
              help="store the run even when more than the policy's max_held_share (default "
                   "5 %) of the cases is held")
@click.option("--ruleset", type=click.Choice(["policy", "auto"]), default="policy",
              show_default=True,
              help="policy: group with the policy's ruleset; auto: by each case's discharge "
                   "date (the policy's ruleset_calendar, else the manifests'); cases under "
                   "another ruleset than the weights' are refused, none without a date is "
                   "guessed (E108)")
@MAX_BAD_LINES_OPTION
def settle_command(policy_name: str, cases_path: Path, period: str, run_id: str,
                   weights_version: str | None, hospitals_path: Path | None,
                   reviews_path: Path | None, out_dir: Path | None, db: Path | None,
                   engine_name: str, master: str | None, load_store: bool,
                   allow_held: bool, ruleset: str) -> None:
    """Settle a period's cases into the store (按病组/病种分值结算, idempotent by run id)."""
    from engine.pipeline import run_settle

    store = _db(db)
    if master is not None and engine_name != "spark":
        raise DrgDipError("--master names a Spark master: use it with --engine spark")
    policy = load_policy(policy_name, store=store)
    out = _out(store, out_dir)
    where = ""
    files = "" if load_store else f"; Parquet {out / run_id}; store not loaded (--no-store)"
    if engine_name == "spark":  # one run path, the Spark executor: engine/executors.py (issue 17)
        from engine.executors import SparkExecutor

        spark = SparkExecutor(master, load_store=load_store, app_name=f"drgdip settle {run_id}")
        result = run_settle(store, policy, cases_path, period=period, run_id=run_id,
                            weights_version=weights_version, hospitals_path=hospitals_path,
                            reviews_path=reviews_path, out_dir=out, allow_held=allow_held,
                            by_date=ruleset == "auto", executor=spark)
        where = f" on Spark ({spark.where})"
        files = f"; Parquet {out / run_id}" + (
            "" if load_store else "; store not loaded (--no-store)")
    else:
        from engine.executors import PolarsExecutor
        from engine.pipeline import read_case_file

        with Progress(transient=True) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=max(total, 1))
                bar.update(tasks[stage], completed=done)

            cases = (read_case_file(cases_path, notes=lambda note: click.echo(note, err=True))
                     if cases_path.exists() else None)  # a missing file: run_settle says so
            result = run_settle(store, policy, cases_path, period=period, run_id=run_id,
                                weights_version=weights_version, hospitals_path=hospitals_path,
                                reviews_path=reviews_path, out_dir=out, progress=progress,
                                allow_held=allow_held, cases=cases, by_date=ruleset == "auto",
                                executor=PolarsExecutor(load_store=load_store))
    s = result.summary
    types = ", ".join(f"{k} {v:,}" for k, v in s["case_types"].items())
    click.echo(f"run {run_id}: settled {s['cases']:,} cases of {s['hospitals']} hospitals for "
               f"{period} under {policy.name}{where} ({types})")
    click.echo(f"fund payable {s['fund_payable']} yuan; FFS fund amount {s['ffs_fund_amount']}; "
               f"prepayment {s['prepayment']}; invalid {s['invalid']:,}{files}")
    if policy.method == "dip" and s.get("group_types"):
        n = sum(s["group_types"].values())
        shares = ", ".join(f"{k} {v:,} ({100 * v / n:.1f} %)" for k, v in sorted(
            s["group_types"].items(), key=lambda kv: (-kv[1], kv[0])))
        click.echo(f"DIP types of the {n:,} grouped cases: {shares}; unmatched "
                   f"{s['unmatched']:,}")
    if s["outside_period"]:
        click.echo(f"note: {s['outside_period']:,} cases were discharged outside {period} "
                   f"(settled in this run all the same)")
    warn_clamped_prepayments(s)
    warn_off_scale(s)
    warn_coefficient_changes(s)


def warn_coefficient_changes(summary: dict) -> None:
    """One warning line per store coefficient that takes effect inside the settled period."""
    used = summary.get("hospital_coefficients") or {}
    for hospital, change in sorted((used.get("changes_within_period") or {}).items()):
        click.echo(f"warning: {hospital}: institution coefficient {change} takes effect inside "
                   f"the period; the period is paid with the one in force on {used['on']} / "
                   f"机构系数在结算期内变更，本期按 {used['on']} 生效的系数结算", err=True)


def warn_off_scale(summary: dict) -> None:
    """One warning line per fund pool paid outside `[policy] scale_warning_band` of FFS."""
    for pool, found in sorted(summary.get("off_scale_pools", {}).items()):
        click.echo(f"warning: {pool}: fund payable {found['fund_payable']} is "
                   f"{found['payable_to_ffs']} × the FFS fund amount {found['ffs_fund_amount']}, "
                   f"outside the policy's band {found['band']}: check the point value or base "
                   f"rate against the weights or catalogue used / 统筹基金支付为按项目支付的 "
                   f"{found['payable_to_ffs']} 倍，超出政策区间 {found['band']}，请核对点值或费率"
                   f"与所用权重、目录是否同一尺度", err=True)


def warn_clamped_prepayments(summary: dict) -> None:
    """One warning line per fund pool whose monthly prepayments were clamped at 0."""
    for pool, found in sorted(summary.get("prepayments_clamped", {}).items()):
        click.echo(f"warning: {pool}: negative prepayment paid as 0 for "
                   + ", ".join(f"{h} {v}" for h, v in sorted(found.items()))
                   + " / 月度预付为负，按 0 支付的医疗机构")


@click.command("clear")
@click.option("--policy", "policy_name", required=True, help="policy name or .toml path")
@click.option("--year", required=True, type=int)
@click.option("--run-id", default=None, help="default clear-<policy>-<year>")
@click.option("--out", "out_dir", default=None, type=click.Path(path_type=Path))
@DB_OPTION
@click.option("--partial", is_flag=True, default=False,
              help="clear although months of the year have no settle run (they are named)")
def clear_command(policy_name: str, year: int, run_id: str | None, out_dir: Path | None,
                  db: Path | None, partial: bool) -> None:
    """Annual clearing (年度清算) of every fund pool from the year's settle runs."""
    from engine.pipeline import run_clear

    store = _db(db)
    policy = load_policy(policy_name, store=store)
    result = run_clear(store, policy, year=year, run_id=run_id, out_dir=_out(store, out_dir),
                       partial=partial)
    missing = result.summary.get("missing_months")
    if missing:
        click.echo(f"warning: partial clearing, no settle run for {', '.join(missing)} / "
                   f"部分清算，未结算月份：{', '.join(missing)}")
    print_clearing(result.frames["clearing_results"])
    for pool, s in result.summary.items():
        if pool == "missing_months":
            continue
        click.echo(f"{pool}: budget {s['budget']}, reserve {s['risk_reserve']}, point value "
                   f"{s['point_value']}, paid {s['final_total']}, reserve left "
                   f"{s['reserve_left']}, conservation gap {s['conservation_gap']}")
        if s.get("negative_payables"):
            click.echo(f"warning: {pool}: negative payable (clamped: no share, no reserve) for "
                       + ", ".join(f"{h} {v}" for h, v in s["negative_payables"].items())
                       + " / 应偿付为负的医疗机构")
        if s.get("point_value_cap_binding"):
            click.echo(f"warning: {pool}: the point-value cap {s['point_value_cap']} bound / "
                       f"结算点值触及上限")


def print_clearing(frame: pl.DataFrame) -> None:
    rows = []
    for r in frame.sort("fund_pool", "hospital_id").iter_rows(named=True):
        gap = r["payable"] - r["ffs_fund_amount"]
        rows.append([r["fund_pool"], r["hospital_id"], f"{r['payable']:,}",
                     f"{r['ffs_fund_amount']:,}", f"{gap:+,}", f"{r['surplus_retained']:,}",
                     f"{r['overspend_shared']:,}", f"{r['final_payment']:,}",
                     f"{r['prepaid']:,}", f"{r['net_clearing']:,}"])
    print_table(pl.DataFrame(rows, orient="row", schema=[
        "pool", "hospital", "payable 应偿付", "FFS 记账", "surplus(+)/overspend(−)",
        "retained 留用", "shared 分担", "final 清算支付", "prepaid 预付", "net 净额"]))
