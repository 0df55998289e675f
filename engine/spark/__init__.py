"""Apache Spark adapter: the engine's columnar grouping and settlement on Arrow batches of a
Spark DataFrame, for inputs that do not fit one machine (national scale).

PySpark is an optional extra (`pip install 'drgdip[spark]'`); importing this package does not
import pyspark — the functions do, and raise `SparkUnavailableError` when it is missing.
"""

from engine.spark.grouping import GROUP_SCHEMA, group_spark, read_cases_spark, write_parquet
from engine.spark.session import SparkUnavailableError, spark_session
from engine.spark.settlement import clear_spark, hospital_period_spark, settle_spark

__all__ = ["GROUP_SCHEMA", "SparkUnavailableError", "clear_spark", "group_spark",
           "hospital_period_spark", "read_cases_spark", "settle_spark", "spark_session",
           "write_parquet"]
