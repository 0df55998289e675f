"""Payment estimates for one case (事中控制): group, weight or score, payment standard, outlier
status and the fund's expected payable under the active policy.

At start-up every shipped policy is paired with the weights published for its
(method, ruleset, year, region) and the hospitals of the store; a policy without published
weights is listed as unavailable with the reason. The weight table is turned into lookups once
per policy (`engine.settle_one.prepare_tables`). Per case, `engine.settle_one.settle_one`
settles the typed case row in plain Python — equal to the batch settlement
(`engine.settle_case.settle_cases`) on a one-row frame, tests/engine/test_settle_one.py — with
no disk I/O. Cases are grouped on the per-case paths (`grouper.group_one`,
`grouper.dip_explain.group_dip_one` with the catalogue's prebuilt lookups).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from api.errors import ApiError
from api.store_access import Store
from engine.ingest.one_case import ingest_one
from engine.pipeline import load_weights
from engine.policy import Policy, PolicyError, load_policy, shipped_policies
from engine.pseudonym import pseudonym_one
from engine.settle_one import (
    CASE_SCHEMA,
    HospitalEntry,
    SettleTables,
    hospital_entries,
    prepare_tables,
    settle_one,
)
from grouper import DipCatalog, Ruleset, group_one
from grouper.case_input import codes_one
from grouper.dip_explain import RESULT_SCHEMA, group_dip_one
from grouper.errors import DrgDipError
from weights.versions import active_version

log = logging.getLogger("drgdip.api")



@dataclass
class PolicyBook:
    """A policy with what it pays by: the published weight rows (and DIP catalogue)."""

    policy: Policy
    weights_version: str
    weights: pl.DataFrame
    ruleset: Ruleset | None = None
    catalog: DipCatalog | None = None
    tables: SettleTables | None = None
    # hospital_id → its institution coefficient under this policy, or why it has none
    entries: dict[str, HospitalEntry | PolicyError] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.tables is None:
            self.tables = prepare_tables(self.weights, self.policy)

    def hospital(self, hospital_id: str, frame: pl.DataFrame) -> HospitalEntry:
        """The hospital's entry (computed on first use; raises PolicyError for a level the
        policy does not know, as the batch does)."""
        found = self.entries.get(hospital_id)
        if found is None:
            try:
                found = hospital_entries(frame, self.policy)[hospital_id]
            except PolicyError as exc:
                found = exc
            self.entries[hospital_id] = found
        if isinstance(found, PolicyError):
            raise found
        return found


@dataclass
class Estimator:
    books: dict[str, PolicyBook] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    hospitals: dict[str, pl.DataFrame] = field(default_factory=dict)

    @classmethod
    def load(cls, store: Store, rulesets: dict[str, Ruleset],
             catalogs: dict[str, DipCatalog]) -> Estimator:
        est = cls()
        with store.read() as con:
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
        row["patient_id"] = pseudonym_one(row["patient_id"])  # never echoed in clear
        for col in ("diagnoses", "procedures"):  # '|'-separated text as in batch files
            row[col] = codes_one(row[col])
        # the batch's column types (dates, Decimal money), so grouping and settlement read the
        # values the batch would
        typed = pl.DataFrame([row], schema=CASE_SCHEMA).row(0, named=True)
        typed = ingest_one(typed)  # the batch's ingestion checks (I105, I106 …)
        if book.catalog is not None:
            grouped = _dip_typed(group_dip_one(typed, book.catalog))
        else:
            assert book.ruleset is not None
            grouped = group_one(case, book.ruleset)
        assert book.tables is not None
        try:
            entry = book.hospital(str(hospital["hospital_id"][0]), hospital)
        except PolicyError as exc:
            raise ApiError(422, "POLICY_MISMATCH", f"政策与数据不符 / {exc}",
                           "body.case.hospital_id") from exc
        # the batch joins the hospital on the case's trimmed id
        same = entry.hospital_id == (typed["hospital_id"] or "").strip()
        settled = settle_one(typed, grouped, entry if same else None, book.tables)
        out = {k: (str(v) if isinstance(v, Decimal) else v.isoformat()
                   if hasattr(v, "isoformat") else v) for k, v in settled.items()}
        out["policy"] = policy_name
        out["policy_version"] = book.policy.policy.version
        out["weights_version"] = book.weights_version
        out["grouping"] = dict(grouped)
        return out


def _dip_typed(result: dict[str, Any]) -> dict[str, Any]:
    """A `group_dip_one` result with `group_dip`'s column types (RESULT_SCHEMA)."""
    return {k: (None if result.get(k) is None else float(result[k]) if t == pl.Float64
                else str(result[k])) for k, t in RESULT_SCHEMA.items()}
