"""Weights layer: the store schema and access, weight/score/catalog building, versions.

Public API (see docs/store.md):

Store
- `open_store(path, *, read_only=False) -> duckdb connection` — schema migrated on read-write
  opens; read-only opens need a migrated file.
- `schema.MIGRATIONS` / `register_migration(Migration(number, name, statements))` — the single
  schema definition other areas add their tables to.
- `query(con, sql, args) -> pl.DataFrame`, `transaction(con)`.

DRG weights
- `build_drg_weights(history, ruleset, *, trim_method="iqr", year_weights=None,
  cost_growth=None, target_year=None, min_cases=5, max_cv=1.0, adjustments=None,
  base_points_scale=100.0, unstable_rw="own", grouped=None) -> pl.DataFrame` (pure);
  `build_drg(history, ruleset, params=DrgBuildParams(...)) -> DrgBuild(weights, report)`.
- `active_drg_weights(con, ruleset, year, *, region=None) -> pl.DataFrame` — the published
  version's rows (version, drg, rw, base_points, mean_cost, mean_los, n_cases, cv, stable, …).

Versions (kind drg | dip)
- `save_weight_version(con, version, kind, rows, *, ruleset, region, year, source, params=None,
  extra=None, who="", why="", replace=False)`, `edit_rows`, `copy_version`,
  `publish(con, version, who, why)`, `retire`, `diff(con, v1, v2)`, `list_versions`,
  `version_info`, `version_rows`, `verify`, `active_rows`, `active_version`.

Reference tables
- hospitals: `upsert_hospitals`, `set_coefficients`, `set_coefficient(con, hospital_id, coefficient,
  effective_from, reason)`, `coefficients_on(con, date)`, `coefficient_history`.
- rates / point values / budgets per (region, fund_pool, year, period): `set_rate`,
  `get_rate`, `rates`, `set_budget`, `get_budget`, `budgets`.
- audit: `audit_log(con, entity=None, entity_key=None)`; writers call `audit.record`.

Files: `read_weight_file`, `import_drg_weights`, `import_hospitals`, `export_table`.
"""

from weights.audit import audit_log
from weights.drg_build import DrgBuild, DrgBuildParams, build_drg, build_drg_weights
from weights.errors import PublishedVersionError, StoreError, WeightTableError
from weights.funding import budgets, get_budget, get_rate, rates, set_budget, set_rate
from weights.hospitals import (
                               coefficient_history,
                               coefficients_on,
                               set_coefficient,
                               set_coefficients,
                               upsert_hospitals,
)
from weights.schema import MIGRATIONS, Migration, register_migration
from weights.store import open_store, query, transaction
from weights.versions import (
                               active_drg_weights,
                               active_rows,
                               active_version,
                               copy_version,
                               diff,
                               edit_rows,
                               list_versions,
                               publish,
                               retire,
                               save_weight_version,
                               verify,
                               version_info,
                               version_rows,
)

__all__ = [
    "MIGRATIONS", "DrgBuild", "DrgBuildParams", "Migration", "PublishedVersionError",
    "StoreError", "WeightTableError", "active_drg_weights", "active_rows", "active_version",
    "audit_log", "budgets", "build_drg", "build_drg_weights", "coefficient_history",
    "coefficients_on", "copy_version", "diff", "edit_rows", "get_budget", "get_rate",
    "list_versions", "open_store", "publish", "query", "rates", "register_migration", "retire",
    "save_weight_version", "set_budget", "set_coefficient", "set_coefficients", "set_rate", "transaction",
    "upsert_hospitals", "verify", "version_info", "version_rows",
]
