"""DRG grouping on Spark: `grouper.group_drg` on the Arrow batches of each partition.

Each Python worker loads a ruleset once (module-level cache keyed by name) and reuses it for
every batch of every task it runs (`spark.python.worker.reuse`). Every batch goes through the
same ingestion (`engine.ingest.read_cases`) and grouping code as the single-machine path, so
results are equal row for row. Rows keep their partition order; without `partition_by` the
written dataset holds the rows in input order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from engine.spark.duplicates import DUP, SEQ, mark_duplicates, with_sequence_and_duplicates
from grouper import OUTPUT_COLUMNS, Ruleset, group_drg, load_ruleset
from grouper.by_date import AUTO, group_drg_auto, national_calendar
from grouper.errors import InputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# contracts §2: every column text except `warnings` (list of codes)
GROUP_ARROW_SCHEMA = pa.schema(
    [pa.field(c, pa.list_(pa.string()) if c == "warnings" else pa.string())
     for c in OUTPUT_COLUMNS])
GROUP_SCHEMA = ", ".join(f"{c} array<string>" if c == "warnings" else f"{c} string"
                         for c in OUTPUT_COLUMNS)
# `--ruleset auto` adds the ruleset each case was grouped under, as on the single machine
AUTO_ARROW_SCHEMA = GROUP_ARROW_SCHEMA.append(pa.field("ruleset", pa.string()))
AUTO_SCHEMA = GROUP_SCHEMA + ", ruleset string"

_RULESETS: dict[str, Ruleset] = {}  # per Python worker: loaded on first use, then reused


def cached_ruleset(name: str) -> Ruleset:
    """The ruleset `name`, loaded once per process."""
    if name not in _RULESETS:
        _RULESETS[name] = load_ruleset(name)
    return _RULESETS[name]


def to_spark_arrow(frame: pl.DataFrame, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """`frame` as record batches of exactly `schema` (Spark wants string, not large_string)."""
    table = frame.select(schema.names).to_arrow().cast(schema)
    yield from table.to_batches()


def ingest_batch(batch: pa.RecordBatch, patient_ids: str = "pseudonymise") -> pl.DataFrame:
    """One Arrow batch through the project's ingestion: aliases, coercion, per-row problems,
    patient ids pseudonymised (or dropped: `patient_ids="drop"`, grouping; engine.pseudonym)."""
    from engine.ingest import read_cases  # the single-machine path reads cases the same way

    return read_cases(pa.Table.from_batches([batch]), patient_ids=patient_ids).cases


def group_batches(batches: Iterator[pa.RecordBatch], ruleset: str,
                  translate_codes: bool) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: group each batch of cases; one output row per input row, in order.
    `ruleset` "auto": each case under the ruleset in force on its discharge date
    (`grouper.by_date.group_drg_auto`, the single machine's function)."""
    from engine.ingest.one_case import hold_ingest_errors  # as `drgdip group` marks them

    rs = None if ruleset == AUTO else cached_ruleset(ruleset)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        cases = ingest_batch(batch.drop_columns([SEQ, DUP]))
        cases = mark_duplicates(cases, batch)
        if rs is None:
            grouped = group_drg_auto(cases, translate_codes=translate_codes)
        else:
            grouped = group_drg(cases, rs, translate_codes=translate_codes)
        yield from to_spark_arrow(hold_ingest_errors(grouped, cases),
                                  GROUP_ARROW_SCHEMA if rs is not None else AUTO_ARROW_SCHEMA)


def check_columns(cases: DataFrame) -> None:
    """Fail fast on the driver (one line, InputError) when required columns are missing."""
    from engine.ingest import read_cases

    read_cases(pl.from_arrow(cases.limit(0).toArrow()))


def group_spark(cases: DataFrame, ruleset: str = "chs_drg_11", *,
                translate_codes: bool = False) -> DataFrame:
    """Spark DataFrame of contracts §2 columns, one row per case, for a Spark DataFrame of
    contracts §1 cases (ruleset "auto": by discharge date, plus the column `ruleset`).
    Lazy but for one small aggregation on the driver: the case ids seen more than once in the
    whole input (marked I107 in their later rows, as the single machine does).

    >>> group_spark(spark.read.parquet("cases.parquet")).write.parquet("out")  # doctest: +SKIP
    """
    # unknown or broken ruleset: RulesetError here, not in a worker
    for name in ({r for _, _, r in national_calendar()} if ruleset == AUTO else {ruleset}):
        load_ruleset(name)
    check_columns(cases)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return group_batches(batches, ruleset, translate_codes)

    # a case_id seen in an earlier batch or partition: I107, as `drgdip group` holds it
    return with_sequence_and_duplicates(cases).mapInArrow(
        run, AUTO_SCHEMA if ruleset == AUTO else GROUP_SCHEMA)


def read_cases_spark(spark: SparkSession, path: Path | str) -> DataFrame:
    """Cases as a Spark DataFrame. Parquet (a file, a directory or a glob) is read by Spark in
    parallel; other formats (CSV in any encoding, JSONL, xlsx) are read on the driver by the
    project's readers and handed to Spark, so they suit province-sized files, not national ones.
    """
    text = str(path)
    is_glob = any(ch in text for ch in "*?[")
    p = Path(text)
    if not is_glob and not p.exists():
        raise InputError(f"{p}: no such file or directory")
    if is_glob or p.is_dir() or p.suffix.lower() == ".parquet":
        return spark.read.parquet(text)
    from engine.ingest.formats import read_raw

    raw = read_raw(p)
    return spark.createDataFrame(raw.to_arrow().cast(small_types(raw.to_arrow().schema)))


def small_types(schema: pa.Schema) -> pa.Schema:
    """`schema` with Arrow's large/view string and list types as the plain ones Spark reads."""
    def small(t: pa.DataType) -> pa.DataType:
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_large_list(t) or pa.types.is_list(t):
            return pa.list_(small(t.value_type))
        return t
    return pa.schema([pa.field(f.name, small(f.type)) for f in schema])


def write_parquet(result: DataFrame, path: Path | str, *,
                  partition_by: Sequence[str] = ()) -> None:
    """Write `result` as a Parquet dataset (a directory of part files), replacing `path`;
    `partition_by` columns become `col=value/` directories (Hive layout)."""
    writer = result.write.mode("overwrite")
    if partition_by:
        missing = [c for c in partition_by if c not in result.columns]
        if missing:
            raise InputError(f"--partition-by: unknown column(s) {', '.join(missing)}; "
                             f"available: {', '.join(result.columns)}")
        writer = writer.partitionBy(*partition_by)
    writer.parquet(str(path))
