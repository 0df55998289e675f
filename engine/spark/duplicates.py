"""A `case_id` seen earlier in the input, across partitions and Arrow batches: ingestion's
duplicate check (I107) is file-wide, while each Spark worker ingests one batch. The driver finds
the few duplicated ids once (one aggregation; no second pass when there are none) and the
workers mark those rows with ingestion's own code and message. Shared by Spark grouping and
Spark settlement, so both hold the same rows `drgdip group` and `drgdip settle` hold."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from grouper.errors import InputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SEQ = "_seq"  # input order: monotonically increasing over partitions and rows
DUP = "_dup_case_id"


def case_id_column(columns: list[str]) -> str:
    """The input column ingestion reads as case_id (the first header that is an alias)."""
    from engine.ingest.fields import ALIASES, header_key

    for col in columns:
        if ALIASES.get(header_key(col)) == "case_id":
            return col
    raise InputError(f"missing required column(s): case_id; got: {', '.join(columns)}")


def with_sequence_and_duplicates(cases: DataFrame) -> DataFrame:
    """`_seq` (input order) and `_dup_case_id` (a case_id seen earlier) as columns."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    seq = cases.withColumn(SEQ, F.monotonically_increasing_id())
    # ingestion's case_id: the (possibly Chinese-named) column as text, Unicode whitespace
    # stripped, blank = missing
    key = F.regexp_replace(F.col(f"`{case_id_column(cases.columns)}`").cast("string"),
                           r"(?U)^\s+|\s+$", "")
    dup_ids = (seq.select(key.alias("_k")).where(F.col("_k").isNotNull() & (F.col("_k") != ""))
               .groupBy("_k").count().where(F.col("count") > 1).select("_k"))
    if dup_ids.limit(1).count() == 0:  # the usual case: no second pass over the input
        return seq.withColumn(DUP, F.lit(None).cast("boolean"))
    later = (seq.select(SEQ, key.alias("_k")).join(F.broadcast(dup_ids), "_k")
             .withColumn("_n", F.row_number().over(Window.partitionBy("_k").orderBy(SEQ)))
             .where(F.col("_n") > 1).select(SEQ, F.lit(True).alias(DUP)))
    # a broadcast join streams each partition in order; the sort keeps that explicit
    return seq.join(F.broadcast(later), SEQ, "left").sortWithinPartitions(SEQ)


def mark_duplicates(cases: pl.DataFrame, batch: pa.RecordBatch) -> pl.DataFrame:
    """The `cases` ingested from `batch` with the rows whose case_id appeared earlier in the
    input (the batch's `DUP` column) given ingestion's duplicate problem, unless the row already
    has one (ingestion keeps a row's first problem; this check comes last)."""
    from engine.ingest.codes import MESSAGES, IngestCode

    code = IngestCode.DUPLICATE_CASE_ID
    dup = pl.Series(batch.column(DUP).to_pylist(), dtype=pl.Boolean)
    hit = dup.fill_null(False) & (cases["ingest_status"] != "error")
    if not hit.any():
        return cases
    message = pl.format("{}: {}={}", pl.lit(MESSAGES[code]), pl.lit("case_id"),
                        pl.col("case_id").fill_null("(空)"))
    return cases.with_columns(
        pl.when(hit).then(pl.lit("error")).otherwise(pl.col("ingest_status")).alias(
            "ingest_status"),
        pl.when(hit).then(pl.lit(code.value)).otherwise(pl.col("ingest_error_code")).alias(
            "ingest_error_code"),
        pl.when(hit).then(message).otherwise(pl.col("ingest_error_message")).alias(
            "ingest_error_message"))
