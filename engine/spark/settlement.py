"""Per-case settlement on Spark: the single-machine code (`engine.ingest.read_cases`,
`group_drg`/`group_dip`, `engine.settlement.batch.settle_cases`) run on Arrow data inside Spark.

Two stages, because settlement is not purely row-wise:

1. `mapInArrow` over the input's own partitions: ingest and group each batch (row-wise work).
2. `groupBy(hospital_id).applyInArrow`: settle one hospital's cases at a time. Everything in
   `settle_cases` that looks across rows is per hospital — the special-review quota (a share of
   the hospital's cases, in review-file order) and the readmission merge (same patient, same
   hospital, same group) — so a hospital's rows, in input order, settle exactly as in the
   single-machine run.

The year's earlier episodes of the readmission merge (`engine.settlement.readmission_history`) travel
with the cases: they are added as rows marked `_earlier` to the stage-2 input, so each reaches
its hospital's group, where `settle_hospital` takes them out of the cases again.

The policy, the weight table, the hospital table (as Arrow IPC bytes) and a DIP catalogue are
broadcast once; each Python worker decodes them once (module-level cache keyed by a token
of the broadcast). The one file-wide ingestion check, a `case_id` seen earlier in the file (I1xx duplicate),
cannot be made batch by batch; Spark finds those rows (a `case_id` count, then a window over the
few duplicated ids only) and the worker marks them with ingestion's own code and message.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from engine.spark.duplicates import DUP, SEQ, mark_duplicates, with_sequence_and_duplicates
from engine.spark.grouping import cached_ruleset, ingest_batch, small_types, to_spark_arrow

if TYPE_CHECKING:
    from pyspark import Broadcast
    from pyspark.sql import DataFrame, SparkSession

    from engine.pipeline import Weights
    from engine.policy import Policy

GROUP_PREFIX = "g_"
REVIEW_COLUMNS = ("review_outcome", "deduction_fen", "review_order")
EARLIER = "_earlier"  # an earlier run's episode (its position among them), not a case
EARLIER_GROUP = "_earlier_group"  # its group code
# case columns grouping reads and settle_cases does not: left out of the shuffle
GROUPING_ONLY = ("sex", "age", "age_days", "birth_weight", "procedures", "icu_hours")


@dataclass(frozen=True)
class Shared:
    """What every worker needs, decoded from the broadcast."""

    policy: Policy
    weights: pl.DataFrame
    hospitals: pl.DataFrame
    catalog: Any  # DipCatalog for DIP policies, else None


_SHARED: dict[str, Shared] = {}  # per Python worker, keyed by a token made with the broadcast


def arrow_frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def ipc_bytes(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc(buf)
    return buf.getvalue()


def shared(bc: Broadcast[dict[str, Any]]) -> Shared:
    """The broadcast payload, decoded once per worker process (a worker-side Broadcast has
    no id, so the payload carries its own token)."""
    value = bc.value
    if value["token"] not in _SHARED:
        _SHARED[value["token"]] = Shared(value["policy"], pl.read_ipc(io.BytesIO(value["weights"])),
                                pl.read_ipc(io.BytesIO(value["hospitals"])), value["catalog"])
    return _SHARED[value["token"]]


def _case_columns(cases: pl.DataFrame) -> list[str]:
    from engine.pipeline import CASE_COLUMNS

    return [c for c in CASE_COLUMNS if c in cases.columns]


def ingest_and_group(batch: pa.RecordBatch, method: str, ruleset: str,
                     catalog: Any, calendar: list | None = None) -> pl.DataFrame:
    """Stage 1 for one batch: the settlement's case columns, then the grouping as `g_*`.
    `ruleset` "auto": DRG cases by discharge date on `calendar` (None: the manifests')."""
    from grouper import group_dip, group_drg
    from grouper.by_date import AUTO, group_drg_auto

    cases = ingest_batch(batch.drop_columns([SEQ, DUP]))
    cases = mark_duplicates(cases.select(_case_columns(cases)), batch)
    if method == "drg" and ruleset == AUTO:
        grouped = group_drg_auto(cases, calendar).drop("ruleset")
    else:
        grouped = (group_drg(cases, cached_ruleset(ruleset)) if method == "drg"
                   else group_dip(cases, catalog))
    # only what settlement reads crosses the shuffle (the equality tests guard this list)
    return (cases.drop(GROUPING_ONLY, strict=False)
            .hstack(grouped.drop("warnings", strict=False).rename(lambda c: GROUP_PREFIX + c))
            .with_columns(pl.Series(SEQ, batch.column(SEQ).to_numpy(), dtype=pl.Int64)))


def settle_hospital(table: pa.Table, s: Shared) -> pl.DataFrame:
    """Stage 2 for one hospital's rows: settle_cases on them in input order, with the
    earlier runs' episodes among them (rows marked EARLIER) for the readmission merge."""
    from engine.settlement.batch import settle_cases
    from engine.settlement.readmission import EPISODE_COLUMNS

    frame = arrow_frame(table)
    earlier = None
    if EARLIER in frame.columns:
        marked = frame[EARLIER].is_not_null()
        earlier = (frame.filter(marked).rename({EARLIER_GROUP: "group_code"})
                   .sort(EARLIER).select(EPISODE_COLUMNS))
        frame = frame.filter(~marked).drop(EARLIER, EARLIER_GROUP)
    frame = frame.sort(SEQ)
    gcols = [c for c in frame.columns if c.startswith(GROUP_PREFIX)]
    cases = frame.drop(*gcols, SEQ, *REVIEW_COLUMNS)
    grouped = frame.select(pl.col(gcols).name.map(lambda c: c[len(GROUP_PREFIX):]))
    # one row per reviewed case_id, as in the review file (a repeated case id carries its
    # review on every copy after the Spark join)
    reviews = frame.filter(pl.col("review_outcome").is_not_null()).select(
        "case_id", "review_outcome", "deduction_fen", pl.col("review_order").cast(pl.UInt32)
    ).unique("case_id", keep="first", maintain_order=True)
    ids = cases["hospital_id"].str.strip_chars().unique()
    hospitals = s.hospitals.filter(pl.col("hospital_id").is_in(ids.implode()))
    results = settle_cases(cases, grouped, s.weights, hospitals, s.policy, reviews=reviews,
                           earlier_episodes=earlier)
    return results.with_columns(frame[SEQ])


def _spark_schema(example: pl.DataFrame):  # type: ignore[no-untyped-def]
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(small_types(example.to_arrow().schema))


def rulesets_by_date_spark(cases: DataFrame, calendar: list | None) -> list[tuple[str, int]]:
    """(ruleset, cases) of the dated cases by discharge date (ingestion reads the date as
    the single machine does: header aliases, formats)."""
    from grouper.by_date import rulesets_for

    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows:
                names = rulesets_for(ingest_batch(batch), calendar).drop_nulls()
                counts = names.value_counts()
                yield pa.RecordBatch.from_pydict(
                    {"ruleset": counts[names.name].to_list(),
                     "n": counts["count"].cast(pl.Int64).to_list()},
                    schema=pa.schema([("ruleset", pa.string()), ("n", pa.int64())]))

    rows = cases.mapInArrow(count, "ruleset string, n long").groupBy("ruleset").sum("n").collect()
    return [(r["ruleset"], int(r["sum(n)"])) for r in rows]


def settle_spark(spark: SparkSession, cases: DataFrame, policy: Policy, weights: Weights,
                 hospitals: pl.DataFrame, period: str, *,
                 reviews: pl.DataFrame | None = None,
                 earlier: pl.DataFrame | None = None, by_date: bool = False) -> DataFrame:
    """case_results of one period as a lazy Spark DataFrame: the rows and columns of
    `engine.pipeline.settle_frame` plus `period` and `_seq` (input order; rows come out
    grouped by hospital). Aggregate with `hospital_period_spark`, ideally after writing.
    `earlier`: the year's earlier episodes for the readmission merge (as settle_frame's).
    `by_date` (`--ruleset auto`, DRG): cases by discharge date; one pass counts the cases per
    ruleset first and refuses the run, as the single machine does, when some fall under
    another ruleset than the policy's.

    >>> results = settle_spark(spark, spark.read.parquet("cases"), policy, weights,
    ...                        hospitals, "2025-03")  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    from engine.settlement.inputs import institution_coefficients
    from engine.settlement.review import EMPTY
    from engine.spark.grouping import check_columns

    check_columns(cases)
    hospitals = hospitals.with_columns(pl.col("hospital_id").cast(pl.String))
    institution_coefficients(hospitals, policy)  # a bad hospital level fails here, once
    method, ruleset = policy.method, policy.policy.ruleset
    if method == "drg":
        cached_ruleset(ruleset)
    calendar = None
    if by_date and method == "drg":
        from engine.pipeline import policy_calendar, refuse_other_rulesets

        calendar = policy_calendar(policy)
        refuse_other_rulesets(rulesets_by_date_spark(cases, calendar), policy)
        ruleset = "auto"
    catalog = weights.catalog
    bc = spark.sparkContext.broadcast({"token": uuid.uuid4().hex, "policy": policy,
                                       "weights": ipc_bytes(weights.table),
                                       "hospitals": ipc_bytes(hospitals), "catalog": catalog})
    prepared = with_sequence_and_duplicates(cases)

    stage1_example = ingest_and_group(pa.RecordBatch.from_pylist(
        [], schema=prepared.limit(0).toArrow().schema), method, ruleset, catalog, calendar)

    stage1_schema = small_types(stage1_example.to_arrow().schema)

    def stage1(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        cat = shared(bc).catalog
        for batch in batches:
            if batch.num_rows:
                yield from to_spark_arrow(
                    ingest_and_group(batch, method, ruleset, cat, calendar), stage1_schema)

    grouped = prepared.mapInArrow(stage1, _spark_schema(stage1_example))
    review_rows = (reviews if reviews is not None else EMPTY).select(
        pl.col("case_id").alias("_review_case_id"), "review_outcome", "deduction_fen",
        pl.col("review_order").cast(pl.Int64))  # Spark has no unsigned integers
    review_df = spark.createDataFrame(review_rows.to_arrow().cast(
        small_types(review_rows.to_arrow().schema)))
    joined = (grouped.join(F.broadcast(review_df),
                           grouped["case_id"] == review_df["_review_case_id"], "left")
              .drop("_review_case_id"))
    if earlier is not None and earlier.height:
        joined = _with_earlier_episodes(spark, joined, earlier)

    example = settle_hospital(joined.limit(0).toArrow(),
                              Shared(policy, weights.table, hospitals, catalog))

    def stage2(table: pa.Table) -> pa.Table:
        out = settle_hospital(table, shared(bc))
        return pa.Table.from_batches(list(to_spark_arrow(out, result_schema)),
                                     schema=result_schema)

    result_schema = small_types(example.to_arrow().schema)
    # prepare_cases strips hospital ids: group on the stripped id so a hospital is one group
    settled = (joined.withColumn("_hospital", F.trim(F.col("hospital_id"))).groupBy("_hospital")
               .applyInArrow(lambda t: stage2(t.drop_columns(["_hospital"])),
                             _spark_schema(example))
               .withColumn("period", F.lit(period)))
    return settled


def _with_earlier_episodes(spark: SparkSession, joined: DataFrame,
                           earlier: pl.DataFrame) -> DataFrame:
    """`joined` plus one row per earlier episode (EARLIER = its position, EARLIER_GROUP its
    group, the case columns patient_id, hospital_id and dates; everything else null)."""
    from pyspark.sql import functions as F

    rows = earlier.select(pl.int_range(pl.len(), dtype=pl.Int64).alias(EARLIER),
                          "patient_id", "hospital_id", pl.col("group_code").alias(EARLIER_GROUP),
                          "admit_date", "discharge_date")
    table = rows.to_arrow()
    episodes = spark.createDataFrame(table.cast(small_types(table.schema)))
    types = dict(joined.dtypes)
    episodes = episodes.select(*(F.col(c).cast(types[c]) if c in types else F.col(c)
                                 for c in rows.columns))
    marked = (joined.withColumn(EARLIER, F.lit(None).cast("long"))
              .withColumn(EARLIER_GROUP, F.lit(None).cast("string")))
    return marked.unionByName(episodes, allowMissingColumns=True)


def hospital_period_spark(case_results: DataFrame, policy: Policy, period: str) -> DataFrame:
    """hospital_period_results in Spark SQL: the sums of `engine.settlement.presettle.hospital_period`
    over all cases, then the per-hospital prepayment (rounded once per hospital) by the same
    function on the small aggregated table."""
    from engine.settlement.presettle import HELD

    spark = case_results.sparkSession
    case_results.createOrReplaceTempView("_case_results")
    held = ", ".join(f"'{h}'" for h in HELD)

    def paid(col: str) -> str:
        return (f"coalesce(sum(CASE WHEN case_type NOT IN ({held}) THEN {col} END), 0)")

    sums = spark.sql(f"""
        SELECT fund_pool, hospital_id, count(*) AS cases,
               count_if(case_type IN ({held})) AS cases_invalid,
               count_if(case_type = 'high_outlier') AS high_outliers,
               count_if(case_type = 'low_outlier') AS low_outliers,
               {paid('points')} AS points, {paid('fixed_amount')} AS fixed_amount,
               {paid('payment_standard')} AS payment_standard,
               {paid('total_cost')} AS total_cost, {paid('fund_paid')} AS ffs_fund_amount,
               {paid('patient_paid')} + {paid('other_fund_paid')} AS liability,
               coalesce(sum(fund_payable), 0) AS fund_payable,
               coalesce(sum(deduction), 0) AS deduction
        FROM _case_results
        WHERE fund_pool IS NOT NULL AND hospital_id IS NOT NULL
        GROUP BY fund_pool, hospital_id""")
    return prepayments(spark, sums, policy, period)


def prepayments(spark: SparkSession, sums: DataFrame, policy: Policy, period: str) -> DataFrame:
    """Point value and prepayment per (fund_pool, hospital) row, by engine.settlement.presettle."""
    from engine.settlement.money import MONEY, POINTS
    from engine.settlement.presettle import PERIOD_COLUMNS, prepayment

    rows = []
    for r in sums.collect():  # one row per hospital and pool: small
        row = r.asDict()
        pv = (policy.provisional_point_value(row["fund_pool"]) if row["fund_pool"] in policy.pool
              else None)
        row.update(point_value=pv, prepay_method=policy.prepay.method, period=period)
        row["prepayment"] = prepayment(policy, row, pv)
        rows.append(row)
    schema: dict[str, Any] = {c: MONEY for c in PERIOD_COLUMNS}
    schema.update({"period": pl.String, "fund_pool": pl.String, "hospital_id": pl.String,
                   "cases": pl.Int64, "cases_invalid": pl.Int64, "high_outliers": pl.Int64,
                   "low_outliers": pl.Int64, "points": POINTS, "point_value": POINTS,
                   "prepay_method": pl.String})
    frame = pl.DataFrame(rows, schema=schema).select(PERIOD_COLUMNS).sort(
        "fund_pool", "hospital_id")
    return spark.createDataFrame(frame.to_arrow().cast(small_types(frame.to_arrow().schema)))


def clear_spark(spark: SparkSession, hospital_periods: DataFrame, policy: Policy,
                year: int) -> DataFrame:
    """clearing_results of the year: the year's sums per pool and hospital in Spark SQL (as
    `engine.pipeline.year_inputs`), then `engine.settlement.clear.clear_pool` once per fund pool as a
    grouped Arrow function (a pool's hospitals are one group)."""
    from pyspark.sql import functions as F

    from engine.policy import PolicyError
    from engine.settlement.clear import INPUT_COLUMNS, clear_pool

    hospital_periods.createOrReplaceTempView("_hospital_periods")
    inputs = spark.sql("""
        SELECT fund_pool, hospital_id, sum(points) AS points, sum(fixed_amount) AS fixed_amount,
               sum(payment_standard) AS payment_standard, sum(liability) AS liability,
               sum(ffs_fund_amount) AS ffs_fund_amount, sum(total_cost) AS total_cost,
               sum(prepayment) AS prepaid, sum(deduction) AS deduction
        FROM _hospital_periods GROUP BY fund_pool, hospital_id""")
    pools = [r["fund_pool"] for r in inputs.select("fund_pool").distinct().collect()]
    unknown = [p for p in pools if p not in policy.pool]
    if unknown:
        raise PolicyError(f"policy {policy.name} has no fund pool {unknown[0]!r}")

    def clear(table: pa.Table) -> pa.Table:
        frame = arrow_frame(table)
        pool = frame["fund_pool"][0]
        result = clear_pool(frame.select(INPUT_COLUMNS), policy, pool).hospitals.with_columns(
            pl.lit(year).alias("year"), pl.lit(pool).alias("fund_pool"))
        return result.to_arrow().cast(small_types(result.to_arrow().schema))

    example = clear_pool(pl.DataFrame({c: [] for c in INPUT_COLUMNS}, schema={
        c: (pl.String if c == "hospital_id" else pl.Decimal(18, 2)) for c in INPUT_COLUMNS}),
        policy, next(iter(policy.pool))).hospitals.with_columns(
        pl.lit(year).alias("year"), pl.lit("x").alias("fund_pool"))
    return inputs.groupBy("fund_pool").applyInArrow(clear, _spark_schema(example)).orderBy(
        F.col("fund_pool"), F.col("hospital_id"))
