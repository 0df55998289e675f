"""Spark sessions for the engine: local mode by default, a cluster through `--master URL` or
spark-submit.

Nothing here starts a JVM at import time. `spark_session()` is the one place that builds a
session, so the Arrow settings every adapter function relies on are set once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from grouper.errors import DrgDipError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
# Rows per Arrow batch handed to a Python worker. The columnar grouper amortises its per-call
# set-up over the batch; 200k rows keeps a worker at a few hundred MB.
ARROW_BATCH_ROWS = 200_000
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the directory holding grouper/ and engine/


class SparkUnavailableError(DrgDipError):
    """PySpark (or Java) is not available for `--engine spark`."""


def require_pyspark() -> None:
    """Raise SparkUnavailableError with the install hint when pyspark cannot be imported."""
    try:
        import pandas  # noqa: F401
        import pyspark
        import pyspark.sql.pandas  # noqa: F401  (mapInArrow needs pandas and pyarrow)
    except ImportError as exc:
        raise SparkUnavailableError(
            f"--engine spark needs PySpark: pip install 'drgdip[spark]' ({exc})") from exc


def _under_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands the Python driver its gateway port
    return "PYSPARK_GATEWAY_PORT" in os.environ


def spark_session(master: str | None = None, *, app_name: str = "drgdip",
                  conf: dict[str, str] | None = None) -> SparkSession:
    """A SparkSession with Arrow enabled; `master` None means spark-submit's master, else
    `local[*]`. Local mode runs the workers on this interpreter with the project importable.

    >>> spark = spark_session("local[2]")  # doctest: +SKIP
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    if master is None and not _under_spark_submit():
        master = DEFAULT_MASTER
    if master is not None and master.startswith("local"):
        # Workers are forked from this environment: same interpreter, project on the path.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if str(PROJECT_ROOT) not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(PROJECT_ROOT), *paths] if p)
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    settings = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.python.worker.reuse": "true",  # keeps the per-worker ruleset cache warm
        # Spark runs one task per core; a polars pool as wide as the machine in every task
        # would oversubscribe the cores (measured: slower on 2 cores).
        "spark.executorEnv.POLARS_MAX_THREADS": "1",
    }
    if master is not None and master.startswith("local"):
        settings.update({"spark.ui.enabled": "false", "spark.driver.host": "127.0.0.1",
                         "spark.driver.bindAddress": "127.0.0.1"})
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # JVM failed to start: Java missing or misconfigured
        raise SparkUnavailableError(f"could not start Spark (master={master!r}): "
                                    f"{str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
    spark.sparkContext.setLogLevel("ERROR")
    return spark
