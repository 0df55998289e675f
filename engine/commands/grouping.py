"""`drgdip rulesets`, `drgdip group` and `drgdip explain`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import polars as pl
from rich.progress import Progress

from engine.case_output import output_format, write_table
from engine.commands.ingest_options import MAX_BAD_LINES_OPTION
from engine.commands.table_output import BOM_OPTION, print_table
from engine.ingest.one_case import hold_ingest_errors
from grouper import available_rulesets, explain, group_drg, load_ruleset
from grouper.errors import InputError

CHUNK_ROWS = 1_000_000  # progress granularity on large inputs


def read_case_file(path: Path) -> pl.DataFrame:
    """Cases of a file through the one reader (engine.ingest.case_file), header note on stderr."""
    from engine.ingest.case_file import read_case_file as read

    # grouping never links stays
    return read(path, patient_ids="drop", notes=lambda note: click.echo(note, err=True))


@click.group("rulesets", invoke_without_command=True)
@click.pass_context
def rulesets_command(ctx: click.Context) -> None:
    """List the DRG rulesets with versions and sources (分组方案列表)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = []
    for name in available_rulesets():
        s = load_ruleset(name).summary()
        rows.append([s["name"], s["version"], s["title"], s["base"] or "-",
                     f"{s['effective_from']}…{s['effective_to']}",
                     f"{s['mdc']}/{s['adrg']}/{s['drg']}", s["source"]])
    print_table(pl.DataFrame(rows, schema=["name", "version", "title", "base", "effective",
                                           "MDC/ADRG/DRG", "source"], orient="row"))


@rulesets_command.command("check")
@click.argument("name")
def rulesets_check(name: str) -> None:
    """Load and validate a ruleset; print its counts."""
    s = load_ruleset(name).summary()
    click.echo(f"{name}: ok ({s['mdc']} MDC, {s['adrg']} ADRG, {s['drg']} DRG)")


@rulesets_command.command("diff")
@click.argument("a")
@click.argument("b")
@click.argument("cases_path", metavar="[CASES]", required=False, type=click.Path(path_type=Path))
@click.option("--output", "output_path", type=click.Path(path_type=Path), default=None,
              help="write the rows (.csv/.parquet): code changes, or per-case moves with CASES")
def rulesets_diff(a: str, b: str, cases_path: Path | None, output_path: Path | None) -> None:
    """ADRGs/DRGs added, removed, renamed from A to B; with CASES, which cases move group
    (分组方案差异与病例迁移)."""
    from grouper.ruleset_diff import case_moves, code_changes, move_summary

    changes = code_changes(a, b)
    counts = changes.group_by("level", "change").len().sort("level", "change")
    click.echo(f"{a} → {b}: " + ", ".join(f"{lv} {ch} {n}" for lv, ch, n in counts.iter_rows()))
    if cases_path is None:
        with pl.Config(tbl_rows=40, fmt_str_lengths=40):
            click.echo(str(changes.head(40)))
    rows = changes
    if cases_path is not None:
        if not cases_path.exists():
            raise InputError(f"{cases_path}: no such file")
        moves = case_moves(read_case_file(cases_path), a, b)
        by_hospital, pairs = move_summary(moves)
        click.echo(f"cases {moves.height:,}, moved group 换组 {int(moves['moved'].sum()):,}")
        click.echo(f"by hospital 按医院:\n{by_hospital.head(20)}")
        click.echo(f"by DRG 按 DRG (A → B):\n{pairs.head(20)}")
        rows = moves
    if output_path is not None:
        write_table(rows, output_path)
        click.echo(f"wrote {rows.height:,} rows → {output_path}")


@rulesets_command.command("import")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", required=True, help="name of the new ruleset")
@click.option("--base", default=None, help="store as a row delta on this ruleset")
@click.option("--version", "version", default="", help="version label for the manifest")
@click.option("--title", default="")
@click.option("--source-note", default="", help="where the tables come from")
@click.option("--effective-from", default="")
def rulesets_import(source: Path, name: str, base: str | None, version: str, title: str,
                    source_note: str, effective_from: str) -> None:
    """Convert a directory of CHS-DRG CSV tables into a project ruleset (developer tool)."""
    from grouper.ruleset_import import import_ruleset

    dest = import_ruleset(source, name, base=base, meta={
        "title": title or name, "version": version, "source": source_note or str(source),
        "effective_from": effective_from})
    s = load_ruleset(name).summary()
    click.echo(f"imported {name} into {dest} ({s['mdc']} MDC, {s['adrg']} ADRG, {s['drg']} DRG)")


@click.command("group")
@click.option("--ruleset", default="chs_drg_11", show_default=True,
              help="DRG ruleset name, or auto: per case the ruleset in force on its discharge_date")
@click.option("--translate-codes", is_flag=True,
              help="translate incoming codes through the ruleset's code maps first")
@click.option("--method", type=click.Choice(["drg", "dip"]), default="drg", show_default=True)
@click.option("--catalog", default=None, help="DIP: a dip version of the store or a catalogue file")
@click.option("--db", type=click.Path(path_type=Path), default=None, help="store (DIP catalogue)")
@click.option("--engine", "engine_name", type=click.Choice(["polars", "spark"]),
              default="polars", show_default=True,
              help="polars: this machine; spark: Apache Spark (pip install 'drgdip[spark]')")
@click.option("--master", default=None,
              help="Spark master URL with --engine spark (default local[*], or spark-submit's)")
@click.option("--partition-by", multiple=True,
              help="--engine spark: write OUTPUT partitioned by this column (repeatable)")
@MAX_BAD_LINES_OPTION
@BOM_OPTION
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.argument("output_path", metavar="OUTPUT", type=click.Path(path_type=Path))
def group_command(ruleset: str, translate_codes: bool, method: str, catalog: str | None,
                  db: Path | None, engine_name: str, master: str | None,
                  partition_by: tuple[str, ...], bom: bool, input_path: Path,
                  output_path: Path) -> None:
    """Group a case file (Parquet/CSV/JSONL/xlsx) into OUTPUT (.parquet/.csv/.jsonl)."""
    if engine_name == "spark":  # Spark adapter: engine/commands/spark_run.py (issue 9)
        if method != "drg":
            raise click.UsageError("--engine spark groups with --method drg")
        from engine.commands.spark_run import group_on_spark

        group_on_spark(input_path, output_path, ruleset=ruleset, translate_codes=translate_codes,
                       master=master, partition_by=partition_by)
        return
    if method == "dip":  # DIP grouping lives in engine/commands/dip.py (issue 5)
        if catalog is None:
            raise click.UsageError("--method dip needs --catalog VERSION_OR_FILE")
        from engine.commands.dip import group_dip_file

        group_dip_file(input_path, output_path, catalog, db, bom=bom)
        return
    output_format(output_path)  # fail before the work on a bad output name
    auto = ruleset == "auto"
    rs = None if auto else load_ruleset(ruleset)
    if not input_path.exists():
        raise InputError(f"{input_path}: no such file")
    cases = read_case_file(input_path)
    parts = []
    with Progress(transient=True, disable=cases.height < 2 * CHUNK_ROWS) as progress:
        task = progress.add_task("grouping 分组", total=cases.height)
        for start in range(0, max(cases.height, 1), CHUNK_ROWS):
            chunk = cases.slice(start, CHUNK_ROWS)
            if auto:
                from grouper.by_date import group_drg_auto

                parts.append(group_drg_auto(chunk, translate_codes=translate_codes))
            else:
                parts.append(group_drg(chunk, rs, translate_codes=translate_codes))
            progress.advance(task, chunk.height)
    # cases ingestion holds (I105, I106, I107 …) come out as settlement marks them
    result = hold_ingest_errors(pl.concat(parts), cases)
    write_table(result, output_path, bom=bom)
    counts = result["status"].value_counts().sort("status")
    summary = ", ".join(f"{s} {n:,}" for s, n in counts.iter_rows())
    click.echo(f"grouped {result.height:,} cases with {ruleset} → {output_path} ({summary})")


@click.command("explain")
@click.option("--ruleset", default="chs_drg_11", show_default=True)
@click.option("--case-id", default=None, help="explain this case of FILE")
@click.option("--json", "as_json", is_flag=True, help="print the trace as JSON")
@click.option("--translate-codes", is_flag=True)
@click.option("--method", type=click.Choice(["drg", "dip"]), default="drg", show_default=True)
@click.option("--catalog", default=None, help="DIP: a dip version of the store or a catalogue file")
@click.option("--db", type=click.Path(path_type=Path), default=None, help="store (DIP catalogue)")
@click.argument("file", required=False, type=click.Path(path_type=Path))
def explain_command(ruleset: str, case_id: str | None, as_json: bool, translate_codes: bool,
                    method: str, catalog: str | None, db: Path | None,
                    file: Path | None) -> None:
    """Explain how one case is grouped (决策过程): case JSON on stdin, or --case-id in FILE."""
    rs = load_ruleset(ruleset)
    if case_id is not None:
        if file is None:
            raise click.UsageError("--case-id needs FILE")
        cases = read_case_file(file)
        rows = cases.filter(pl.col("case_id").cast(pl.String) == case_id)
        if rows.height == 0:
            raise InputError(f"{file}: no case with case_id={case_id!r}")
        case = rows.row(0, named=True)
    else:
        text = sys.stdin.read()
        try:
            case = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"stdin: not a JSON object: {exc}") from exc
        if not isinstance(case, dict):
            raise InputError("stdin: expected one case as a JSON object")
    if method == "dip":  # DIP trace lives in engine/commands/dip.py (issue 5)
        if catalog is None:
            raise click.UsageError("--method dip needs --catalog VERSION_OR_FILE")
        from engine.commands.dip import explain_dip_case

        click.echo(explain_dip_case(case, catalog, db, as_json=as_json))
        return
    ex = explain(case, rs, translate_codes=translate_codes)
    if as_json:
        click.echo(json.dumps(ex.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(ex.render())
