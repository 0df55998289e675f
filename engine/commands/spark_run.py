"""`--engine spark` for `drgdip group`: run the work on Apache Spark and print the same one-line
summary as the single-machine path. (`drgdip settle --engine spark` is the one run path,
`engine.pipeline.run_settle`, with the Spark executor of `engine.executors`.)"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from grouper.errors import InputError

SPARK_OUTPUTS = (".parquet", "")  # a Parquet dataset: `out.parquet/` or a plain directory


def check_spark_output(path: Path) -> None:
    """Spark writes a directory of Parquet part files; other formats fail before any work."""
    if path.suffix.lower() not in SPARK_OUTPUTS:
        raise InputError(f"{path}: --engine spark writes a Parquet dataset (a directory); "
                         f"name the output `*.parquet` or a directory, not {path.suffix!r}")


def status_summary(counts: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{s} {n:,}" for s, n in sorted(counts))


def group_on_spark(input_path: Path, output_path: Path, *, ruleset: str, translate_codes: bool,
                   master: str | None, partition_by: Sequence[str] = ()) -> None:
    """`drgdip group --engine spark`: read, group on the executors, write a Parquet dataset."""
    from engine.spark import group_spark, read_cases_spark, spark_session, write_parquet
    from grouper import load_ruleset

    check_spark_output(output_path)
    if ruleset != "auto":
        load_ruleset(ruleset)  # fail before starting a JVM
    if not any(ch in str(input_path) for ch in "*?[") and not input_path.exists():
        raise InputError(f"{input_path}: no such file or directory")
    spark = spark_session(master, app_name=f"drgdip group {input_path.name}")
    cases = read_cases_spark(spark, input_path)
    write_parquet(group_spark(cases, ruleset, translate_codes=translate_codes), output_path,
                  partition_by=partition_by)
    written = spark.read.parquet(str(output_path)).groupBy("status").count().collect()
    counts = [(row["status"], int(row["count"])) for row in written]
    total = sum(n for _, n in counts)
    click.echo(f"grouped {total:,} cases with {ruleset} on Spark ({spark.sparkContext.master}) "
               f"→ {output_path} ({status_summary(counts)})")
