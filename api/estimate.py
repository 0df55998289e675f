"""Payment estimates for one case (事中控制): group, weight or score, payment standard, outlier
status and the fund's expected payable under the active policy.

At start-up every shipped policy is paired with the weights published for its
(method, ruleset, year, region) and the hospitals of the store; a policy without published
weights is listed as unavailable with the reason. Per case, the settlement engine
(`engine.settle_case.settle_cases`, the same code as the batch settlement) runs on a one-row
frame built from memory — no disk I/O. DIP cases are grouped on the per-case path
(`grouper.dip_explain.group_dip_one`, the catalogue's prebuilt lookups).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from api.errors import ApiError
from api.store_access import Store
from engine.pipeline import load_weights
from engine.policy import Policy, PolicyError, load_policy, shipped_policies
from engine.settle_case import settle_cases
from grouper import DipCatalog, Ruleset, group_one
from grouper.case_input import codes_one
from grouper.dip_explain import RESULT_SCHEMA, group_dip_one
from grouper.errors import DrgDipError
from weights.versions import active_version

log = logging.getLogger("drgdip.api")

CASE_SCHEMA: dict[str, Any] = {
    "case_id": pl.String, "hospital_id": pl.String, "insurance_type": pl.String,
    "sex": pl.Int64, "age": pl.Int64, "age_days": pl.Int64, "birth_weight": pl.Int64,
    "dept": pl.String, "admit_date": pl.Date, "discharge_date": pl.Date, "los": pl.Int64,
    "discharge_way": pl.Int64, "diagnoses": pl.List(pl.String), "procedures": pl.List(pl.String),
    "icu_hours": pl.Float64, "patient_id": pl.String, "total_cost": pl.Decimal(18, 2),
    "fund_paid": pl.Decimal(18, 2), "other_fund_paid": pl.Decimal(18, 2),
    "patient_paid": pl.Decimal(18, 2), "tcm_treatment": pl.Boolean, "day_surgery": pl.Boolean,
}


@dataclass
class PolicyBook:
    """A policy with what it pays by: the published weight rows (and DIP catalogue)."""

    policy: Policy
    weights_version: str
    weights: pl.DataFrame
    ruleset: Ruleset | None = None
    catalog: DipCatalog | None = None


@dataclass
class Estimator:
    books: dict[str, PolicyBook] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    hospitals: dict[str, pl.DataFrame] = field(default_factory=dict)

    @classmethod
    def load(cls, store: Store, rulesets: dict[str, Ruleset],
             catalogs: dict[str, DipCatalog]) -> Estimator:
        est = cls()
        with store.connect() as con:
            tables = {r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables").fetchall()}
            if "hospitals" in tables:
                frame = pl.DataFrame(con.sql(
                    "SELECT hospital_id, level, type FROM hospitals").to_arrow_table())
                est.hospitals = {h: frame.filter(pl.col("hospital_id") == h)
                                 for h in frame["hospital_id"].to_list()}
            for name in shipped_policies():
                try:
                    policy = load_policy(name)
                    meta = policy.policy
                    if policy.method == "drg":
                        rs = rulesets.get(meta.ruleset)
                        if rs is None:
                            raise PolicyError(f"ruleset {meta.ruleset} is not loaded")
                        # the batch's own loader: same version choice, same-level costs
                        weights = load_weights(con, policy)
                        est.books[name] = PolicyBook(policy, weights.version, weights.table,
                                                     ruleset=rs)
                    else:
                        version = active_version(con, "dip", meta.ruleset, meta.year,
                                                 region=meta.region)["version"]
                        catalog = catalogs.get(version)
                        if catalog is None:
                            raise PolicyError(f"DIP catalogue {version} is not loaded")
                        est.books[name] = PolicyBook(policy, version, catalog.groups,
                                                     catalog=catalog)
                except DrgDipError as exc:
                    est.unavailable[name] = str(exc).splitlines()[0]
        log.info("estimates: policies %s; unavailable %s", sorted(est.books),
                 sorted(est.unavailable))
        return est

    def book(self, name: str) -> PolicyBook:
        found = self.books.get(name)
        if found is None:
            why = self.unavailable.get(name, "unknown policy")
            raise ApiError(422, "POLICY_UNAVAILABLE",
                           f"该政策无法测算 / policy {name!r} cannot be used: {why}; usable: "
                           f"{', '.join(sorted(self.books)) or '(none)'}", "body.policy")
        return found

    def estimate(self, case: dict[str, Any], policy_name: str) -> dict[str, Any]:
        book = self.book(policy_name)
        hospital = self.hospitals.get(case.get("hospital_id") or "")
        if hospital is None:
            raise ApiError(422, "UNKNOWN_HOSPITAL",
                           f"医疗机构不在库中 / hospital {case.get('hospital_id')!r} is not in "
                           "the store's hospitals", "body.case.hospital_id")
        row = {k: case.get(k) for k in CASE_SCHEMA}
        for col in ("diagnoses", "procedures"):  # '|'-separated text as in batch files
            row[col] = codes_one(row[col])
        cases = pl.DataFrame([row], schema=CASE_SCHEMA)
        if book.catalog is not None:
            # the typed row, so grouping and settlement read the same values
            grouped = pl.DataFrame([group_dip_one(cases.row(0, named=True), book.catalog)],
                                   schema=RESULT_SCHEMA)
        else:
            assert book.ruleset is not None
            grouped = pl.DataFrame([group_one(case, book.ruleset)])
        try:
            settled = settle_cases(cases, grouped, book.weights, hospital, book.policy)
        except PolicyError as exc:
            raise ApiError(422, "POLICY_MISMATCH", f"政策与数据不符 / {exc}",
                           "body.case.hospital_id") from exc
        row = settled.row(0, named=True)
        out = {k: (str(v) if isinstance(v, Decimal) else v.isoformat()
                   if hasattr(v, "isoformat") else v) for k, v in row.items()}
        out["policy"] = policy_name
        out["policy_version"] = book.policy.policy.version
        out["weights_version"] = book.weights_version
        out["grouping"] = {k: v for k, v in grouped.row(0, named=True).items()}
        return out
