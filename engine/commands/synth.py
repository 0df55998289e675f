"""`drgdip synth` (a synthetic region) and `drgdip validate` (ingestion report of a case file)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from engine.case_output import write_table
from engine.commands.table_output import BOM_OPTION


@click.command("synth")
@click.option("--cases", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--hospitals", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--year", type=int, default=2024, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--ruleset", default="chs_drg_11", show_default=True,
              help="ruleset whose code tables the cases are drawn from")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="directory for hospitals.parquet, cases.parquet, seeded.parquet")
def synth_command(cases: int, hospitals: int, year: int, seed: int, ruleset: str,
                  out_dir: Path) -> None:
    """Generate a realistic synthetic region (合成地区数据): hospitals, a year of cases and
    seeded gaming for supervision."""
    from engine.synth import write_region

    start = time.perf_counter()
    summary = write_region(out_dir, cases, hospitals, year, seed, ruleset)
    seeded = ", ".join(f"{k} {v:,}" for k, v in sorted(summary["seeded"].items()))
    click.echo(f"wrote {cases:,} cases, {hospitals:,} hospitals ({year}, seed {seed}) to "
               f"{out_dir} in {time.perf_counter() - start:.1f} s; seeded: {seeded}")


@click.command("validate")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--problems", "problems_path", type=click.Path(path_type=Path), default=None,
              help="write every problem (case_id, _row, field, error_code, message) here "
                   "(.csv, .jsonl or .parquet)")
@BOM_OPTION
def validate_command(input_path: Path, problems_path: Path | None, bom: bool) -> None:
    """Read a case file as every command does and report per-row problems (数据校验)."""
    from engine.ingest import read_cases

    result = read_cases(input_path, patient_ids="drop")  # validation never links stays
    if problems_path is not None:
        write_table(result.problems, problems_path, bom=bom)
    counts = result.problems.group_by("error_code", "field").len().sort("len", descending=True)
    click.echo(f"{input_path}: {result.cases.height:,} rows, {result.error_rows:,} with problems")
    if result.header_note():
        click.echo(f"  {result.header_note()}")
    for code, field, n in counts.iter_rows():
        click.echo(f"  {code} {field}: {n:,}")
