"""First episodes of a readmission from the year's earlier runs (payment-rules §2.5): an April
readmission within `merge_days` of a March discharge is merged although March was settled by
another run.

For a settle run of `period`, the earlier periods of the year already in the store — per
period the latest done settle run of the same policy and year (the runs clearing sums,
`engine.settle_tables.LATEST_SETTLE_RUNS`) — give their grouped, valid episodes (`status =
'ok'`, patient, hospital, group, admission and discharge dates). The run being written is left
out by its run id, and only periods before its own are read, so re-running a run id or a
period never finds itself and the result does not depend on the order the months were run in.
`engine.settle_readmission.merged_readmissions` orders them with the run's own episodes.
Runs stored before migration 202 have no patient ids and supply no episodes.
"""

from __future__ import annotations

import duckdb
import polars as pl

from engine.policy import Policy
from engine.pseudonym import PSEUDONYM_PATTERN
from engine.settle_readmission import EPISODE_COLUMNS, EPISODE_SCHEMA
from engine.settle_tables import LATEST_SETTLE_RUNS
from grouper.errors import RefusedError
from weights.store import query


def _episode_keys(cases: pl.DataFrame) -> pl.DataFrame | None:
    """Distinct (patient_id, hospital_id) of the run's cases, stripped as settlement strips
    them; None when the cases lack either column."""
    if not {"patient_id", "hospital_id"} <= set(cases.columns):
        return None
    return (cases.select(pl.col("patient_id", "hospital_id").cast(pl.String).str.strip_chars())
            .drop_nulls().unique())


def earlier_episodes(con: duckdb.DuckDBPyConnection, policy: Policy, *, period: str,
                     run_id: str, cases: pl.DataFrame | None = None) -> pl.DataFrame:
    """EPISODE_COLUMNS of the earlier periods' latest settle runs of `policy` in its year,
    ordered by patient, hospital, group, admission, discharge and case id; only the patients
    and hospitals of `cases` when given. Empty when the policy does not merge."""
    empty = pl.DataFrame(schema=EPISODE_SCHEMA)
    if not policy.readmission.merge:
        return empty
    keys = _episode_keys(cases) if cases is not None else None
    if keys is not None and keys.height == 0:
        return empty
    latest = LATEST_SETTLE_RUNS.format(exclude=" AND run_id <> ? AND period < ?")
    _refuse_other_key(con, latest, [policy.name, policy.year, run_id, period])
    join = ("JOIN _episode_keys k ON k.patient_id = c.patient_id "
            "AND k.hospital_id = c.hospital_id" if keys is not None else "")
    cols = ", ".join(f"c.{col}" for col in EPISODE_COLUMNS)
    sql = f"""
        SELECT {cols} FROM case_results c {join}
        WHERE c.run_id IN ({latest}) AND c.status = 'ok' AND c.patient_id IS NOT NULL
          AND c.group_code IS NOT NULL AND c.admit_date IS NOT NULL
        ORDER BY c.patient_id, c.hospital_id, c.group_code, c.admit_date, c.discharge_date,
                 c.case_id"""
    if keys is not None:
        con.register("_episode_keys", keys.to_arrow())
    try:
        rows = query(con, sql, [policy.name, policy.year, run_id, period])
    finally:
        if keys is not None:
            con.unregister("_episode_keys")
    return rows.select(pl.col(c).cast(t) for c, t in EPISODE_SCHEMA.items())


def _refuse_other_key(con: duckdb.DuckDBPyConnection, latest: str, params: list) -> None:
    """Earlier runs whose patient ids another key made (or clear ids of an old store) cannot
    be linked: the readmission merge would silently find nothing, so the run stops."""
    from engine.pseudonym import configured_key

    found = query(con, f"""SELECT DISTINCT CASE WHEN regexp_matches(patient_id, ?)
                               THEN left(patient_id, 8) ELSE 'clear' END AS key_id
                           FROM case_results WHERE run_id IN ({latest})
                             AND patient_id IS NOT NULL""",
                  [PSEUDONYM_PATTERN, *params])["key_id"].to_list()
    key = configured_key()
    other = sorted(k for k in found if key is None or k != key.key_id)
    if other:
        raise RefusedError(
            "本年度之前的结算使用了其他患者编号密钥，无法合并再入院 / the year's earlier settle runs "
            f"hold patient ids of another key ({', '.join(other)}; 'clear' = stored before "
            "pseudonymisation): settle with the key they used, or settle those months again "
            "with this key (docs/privacy.md, key rotation)")
