"""`drgdip demo`: the bureau's main job end to end on the embedded store.

Synthesize a region over two years, build the weights of the policy's method from the first and
publish them (DRG relative weights, or a DIP catalogue 病种分值目录 with its auxiliary
coefficients), fit the budgets and budget point values to the first year, settle the second year
month by month, clear it, and print the per-hospital clearing table. Every step is idempotent (the
weight version is reused once published, runs are replaced by run id), so running it twice in the
same folder gives the same store, not doubled rows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import polars as pl

from engine.commands.db_option import DB_OPTION
from engine.commands.settle import print_clearing, warn_clamped_prepayments, warn_off_scale
from engine.policy import LEVEL_ALIASES, Policy, load_policy
from engine.settings import get_settings

# The settlement year is drawn with its own seed (new patients) from the history's hospitals,
# with this much case-mix drift (sigma of a log-normal factor on each hospital's ADRG mix).
YEAR_DRIFT = 0.1


def _region(folder: Path, year: int, cases: int, hospitals: int, seed: int,
            ruleset: str, *, hospital_seed: int | None = None, drift: float = 0.0) -> Path:
    """The synthetic region of `year` under folder/<ruleset>/, generated once per parameter
    set."""
    from engine.synth import write_region

    out = folder / ruleset / f"region_{year}"
    marker = out / "region.json"
    if marker.is_file():
        done = json.loads(marker.read_text())
        if (done.get("cases"), done.get("hospitals"), done.get("seed"), done.get("ruleset"),
                done.get("hospital_seed"), done.get("drift", 0.0)) == (
                cases, hospitals, seed, ruleset, hospital_seed, drift):
            return out
    write_region(out, cases, hospitals, year, seed, ruleset, hospital_seed=hospital_seed,
                 drift=drift)
    return out


def _weights(db: Path, policy: Policy, history: pl.DataFrame, grouped: pl.DataFrame,
             hospitals: pl.DataFrame, source: str) -> str:
    """Build, save and publish the DRG weights (with same-level and per-hospital mean costs)
    of the settlement year (reused when published)."""
    from weights import build_drg, open_store, publish, save_weight_version, version_info
    from weights.errors import WeightTableError

    version = f"demo-{policy.policy.region}-{policy.year}"
    con = open_store(db)
    try:
        try:
            if version_info(con, version)["status"] == "published":
                return version
        except WeightTableError:
            pass
        build = build_drg(history, policy.policy.ruleset, grouped=grouped, hospitals=hospitals)
        extra = build.extra_tables() or None
        save_weight_version(con, version, "drg", build.weights, ruleset=policy.policy.ruleset,
                            region=policy.policy.region, year=policy.year, source=source,
                            params=build.report.get("params"), extra=extra, why="drgdip demo",
                            replace=True)
        publish(con, version, why="drgdip demo")
    finally:
        con.close()
    return version


def _dip_catalog(db: Path, policy: Policy, history: pl.DataFrame, hospitals: pl.DataFrame,
                 source: str) -> str:
    """Build, save and publish the DIP catalogue (with same-level mean costs) of the settlement
    year (reused when published), as `drgdip weights build-dip` (default parameters) and
    `weights publish` do."""
    from weights import open_store, publish, version_info
    from weights.dip_build import DipBuildParams, build_dip_catalog
    from weights.dip_store import save_catalog
    from weights.errors import WeightTableError

    version = f"demo-{policy.policy.region}-{policy.year}"
    con = open_store(db)
    try:
        if version_info(con, version)["status"] == "published":
            return version
    except WeightTableError:
        pass
    finally:
        con.close()
    build = build_dip_catalog(history, DipBuildParams(ruleset=policy.policy.ruleset),
                              version=version, hospitals=hospitals)
    r = build.report
    click.echo(f"   {r['groups']:,} groups {dict(sorted(r['by_type'].items()))} from "
               f"{r['cases_used']:,} cases, mean cost {r['mean_cost_all']:,.2f}")
    save_catalog(db, build.catalog, version, region=policy.policy.region, year=policy.year,
                 source=source, why="drgdip demo", replace=True, level_costs=build.level_costs)
    con = open_store(db)
    try:
        publish(con, version, why="drgdip demo")
    finally:
        con.close()
    return version


def policy_path(db: Path, name: str) -> Path:
    from engine.policy import store_policy_dir

    return store_policy_dir(db) / f"{name}.toml"


def _write_fitted(db: Path, policy_name: str, base: Policy, fitted: Policy,
                  source: str) -> Policy:
    """Write the fitted policy as `<base>-demo.toml` in policies/ next to the store and load it
    back: the demo settles with the file, so every later command naming it pays the same."""
    from engine.policy import policy_source
    from engine.policy_file import fitted_policy_text, write_policy_file

    _, text = policy_source(policy_name)
    name = f"{base.name}-demo"
    note = (f"Fitted by `drgdip demo` from {base.name} (checksum {base.checksum}) to {source}:\n"
            f"budgets = last year's FFS fund amount x 1.03 per pool; point values / base rates "
            f"= what clearing\nwould fix for last year's cases (engine/settlement/calibration.py). "
            f"Later commands: --policy {name}.")
    path = write_policy_file(policy_path(db, name), fitted_policy_text(text, fitted, note=note))
    return load_policy(path)


def _hospitals(db: Path, hospitals: pl.DataFrame, region: str) -> None:
    from weights import open_store, upsert_hospitals

    con = open_store(db)
    try:
        upsert_hospitals(con, hospitals.with_columns(
            pl.col("level").replace_strict(LEVEL_ALIASES, default=None),
            pl.lit(region).alias("region")), why="drgdip demo")
    finally:
        con.close()


@click.command("demo")
@click.option("--policy", "policy_name", default="fuzhou_drg_2025", show_default=True,
              help="a DRG or DIP policy (name or .toml)")
@click.option("--cases", "n_cases", default=60_000, show_default=True, help="cases per year")
@click.option("--hospitals", "n_hospitals", default=20, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--dir", "folder", default=".", type=click.Path(path_type=Path),
              help="working folder (synthetic data and Parquet results)")
@DB_OPTION
def demo_command(policy_name: str, n_cases: int, n_hospitals: int, seed: int, folder: Path,
                 db: Path | None) -> None:
    """Synthesize, build weights, settle a year month by month, clear it (演示: 全流程)."""
    from engine.ingest import read_cases
    from engine.pipeline import group_cases, load_weights, run_clear, run_settle
    from engine.settlement.calibration import calibrate
    from weights import open_store

    started = time.perf_counter()
    base = load_policy(policy_name)
    db = db if db is not None else get_settings().db
    data = folder / "demo_data"
    from engine.pseudonym import configured_key, demo_key, use_patient_key

    if configured_key() is None:  # synthetic patients: a key of the demo's own (docs/privacy.md)
        key, key_path = demo_key(data)
        click.get_current_context().with_resource(use_patient_key(key))
        click.echo(f"patient ids pseudonymised with the key in {key_path} (no "
                   f"DRGDIP_PATIENT_KEY_FILE set); later settle runs on this store need "
                   f"DRGDIP_PATIENT_KEY_FILE={key_path}")
    year = base.year
    ruleset = base.policy.ruleset
    click.echo(f"1/5 synthesizing {n_hospitals} hospitals × {n_cases:,} cases for {year - 1} "
               f"(seed {seed}) and {year} (seed {seed + 1}: the same hospitals, new patients, "
               f"case-mix drift {YEAR_DRIFT}) → {data}")
    hist_dir = _region(data, year - 1, n_cases, n_hospitals, seed, ruleset)
    cur_dir = _region(data, year, n_cases, n_hospitals, seed + 1, ruleset, hospital_seed=seed,
                      drift=YEAR_DRIFT)
    hospitals = pl.read_parquet(cur_dir / "hospitals.parquet")
    history = read_cases(hist_dir / "cases.parquet").cases
    source = f"demo synthetic region {year - 1}"
    if base.method == "drg":
        click.echo(f"2/5 building DRG weights from {history.height:,} cases of {year - 1}")
        from weights.drg_build import group_in_chunks

        grouped = group_in_chunks(history, ruleset)
        version = _weights(db, base, history, grouped,
                           pl.read_parquet(hist_dir / "hospitals.parquet"), source)
    else:
        click.echo(f"2/5 building the DIP catalogue from {history.height:,} cases of {year - 1}")
        version = _dip_catalog(db, base, history,
                               pl.read_parquet(hist_dir / "hospitals.parquet"), source)
    _hospitals(db, hospitals, base.policy.region)
    con = open_store(db)
    try:
        weights = load_weights(con, base, version)
    finally:
        con.close()
    if base.method == "dip":  # last year's cases in the groups of the stored catalogue
        grouped = group_cases(history, base, weights)
    fitted = calibrate(base, history, grouped, weights.table, hospitals)
    policy = _write_fitted(db, policy_name, base, fitted, source)
    for pool, p in sorted(policy.pool.items()):
        click.echo(f"   {pool}: budget {p.budget:,} yuan, budget point value {p.pv_budget}")
    click.echo(f"   fitted policy {policy.name} → {policy_path(db, policy.name)} (later commands: "
               f"--policy {policy.name} --db {db})")
    current = read_cases(cur_dir / "cases.parquet").cases
    month = pl.col("discharge_date").dt.strftime("%Y-%m")
    click.echo(f"3/5 settling {current.height:,} cases of {year} month by month")
    for m in range(1, 13):
        period = f"{year}-{m:02d}"
        cases = current.filter(month == period)
        result = run_settle(db, policy, cur_dir / "cases.parquet", period=period,
                            run_id=f"demo-{base.name}-{period}", weights_version=version,
                            hospitals_path=cur_dir / "hospitals.parquet", cases=cases,
                            out_dir=folder / "results")
        s = result.summary
        click.echo(f"   {period}: {s['cases']:>7,} cases, fund payable {s['fund_payable']:>16} "
                   f"yuan, prepayment {s['prepayment']:>16}")
        warn_clamped_prepayments(s)
        warn_off_scale(s)
    click.echo(f"4/5 clearing {year}")
    cleared = run_clear(db, policy, year=year, run_id=f"demo-{base.name}-clear-{year}",
                        out_dir=folder / "results")
    click.echo("5/5 per-hospital clearing (年度清算):")
    print_clearing(cleared.frames["clearing_results"])
    for pool, s in cleared.summary.items():
        click.echo(f"{pool}: budget {s['budget']}, reserve {s['risk_reserve']}, point value "
                   f"{s['point_value']}, paid {s['final_total']}, reserve left "
                   f"{s['reserve_left']}, conservation gap {s['conservation_gap']}")
    click.echo(f"done in {time.perf_counter() - started:.1f} s; store {db}; try "
               f"`drgdip sql \"SELECT * FROM v_hospital_indices LIMIT 5\" --db {db}`")
