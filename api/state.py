"""What the service loads once at start-up: rulesets, DIP catalogues, keys, the job runner.

The per-case path reads only these in-memory objects (ruleset lookups, catalogues); it opens no
file and no store connection.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from api.auth import KeyTable, read_keys
from api.errors import ApiError
from api.jobs import JobRunner
from api.settings import ApiSettings
from api.store_access import Store
from engine.settlement.estimate import Estimator
from grouper import (
    DipCatalog,
    Ruleset,
    available_rulesets,
    explain,
    explain_dip,
    load_ruleset,
)
from grouper.dip_lookup import dip_lookups
from grouper.lookup import lookups
from weights.dip_catalog_io import import_catalog, require_clean
from weights.dip_store import load_catalog

log = logging.getLogger("drgdip.api")


@dataclass
class ServiceState:
    settings: ApiSettings
    store: Store
    keys: KeyTable
    rulesets: dict[str, Ruleset] = field(default_factory=dict)
    catalogs: dict[str, DipCatalog] = field(default_factory=dict)
    runner: JobRunner | None = None
    estimator: Estimator = field(default_factory=Estimator)
    ready: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)

    # -- start-up ---------------------------------------------------------------------------
    @classmethod
    def start(cls, settings: ApiSettings) -> ServiceState:
        store = Store(settings.db, retry_seconds=settings.store_retry_seconds,
                      replica_dir=settings.replica_dir,
                      refresh_seconds=settings.replica_refresh_seconds,
                      read_cache_bytes=settings.read_cache_mb * 1024 * 1024)
        store.init()

        def load_keys() -> dict[str, Any]:
            store.refresh()  # keys made or revoked by `drgdip keys` since the last copy
            with store.read() as con:
                return read_keys(con)

        state = cls(settings, store, KeyTable(load_keys, settings.key_refresh_seconds))
        state.keys.reload()
        threading.Thread(target=store.refresh_forever, args=(state._stop,),
                         name="drgdip-replica", daemon=True).start()
        threading.Thread(target=state.keys.refresh_forever,
                         args=(state._stop, settings.key_reload_seconds),
                         name="drgdip-keys", daemon=True).start()
        names = settings.rulesets or tuple(available_rulesets())
        for name in names:
            rs = load_ruleset(name)
            lookups(rs)  # build the per-case lookups now, not on the first request
            state.rulesets[name] = rs
        if settings.default_ruleset != "auto" and settings.default_ruleset not in state.rulesets:
            state.rulesets[settings.default_ruleset] = load_ruleset(settings.default_ruleset)
        state.load_published_catalogs()
        for name, path in settings.dip_catalog_files.items():
            catalog = require_clean(import_catalog(path, version=name))
            state.catalogs[name] = catalog
            if catalog.ruleset not in state.rulesets:
                state.rulesets[catalog.ruleset] = load_ruleset(catalog.ruleset)
            dip_lookups(catalog)  # build the per-case lookups now, not on the first request
        state.load_estimator()
        root = settings.job_root()
        root.mkdir(parents=True, exist_ok=True)
        state.runner = JobRunner(store, root, lambda name: state.catalog(name)[1],
                                 settings.job_limits())
        if settings.run_jobs:
            state.runner.start()
        state.ready = True
        log.info("ready: rulesets %s, DIP catalogues %s", sorted(state.rulesets),
                 sorted(state.catalogs))
        return state

    def load_published_catalogs(self) -> None:
        """Every published DIP version of the store, by version label (at start and publish)."""
        versions = self.store.query("SELECT version FROM weight_versions WHERE kind = 'dip' "
                                    "AND status = 'published' ORDER BY published_at")
        for row in versions:
            if row["version"] not in self.catalogs:
                catalog = load_catalog(self.store.replica_path(), row["version"])
                if catalog.ruleset not in self.rulesets:
                    self.rulesets[catalog.ruleset] = load_ruleset(catalog.ruleset)
                dip_lookups(catalog)  # the per-case lookups, before the catalogue is served
                self.catalogs[row["version"]] = catalog

    def load_estimator(self) -> None:
        """Policies with their published weights and the hospitals (at start and publish)."""
        self.estimator = Estimator.load(self.store, self.rulesets, self.catalogs)

    def stop(self) -> None:
        self.ready = False
        self._stop.set()
        if self.runner is not None:
            self.runner.stop()
        self.store.close()

    # -- lookups ----------------------------------------------------------------------------
    def ruleset(self, name: str | None, field_path: str = "body.ruleset") -> Ruleset:
        rs = self.rulesets.get(name or self.settings.default_ruleset)
        if rs is None:
            raise ApiError(422, "UNKNOWN_RULESET",
                           f"未知的分组方案 / unknown ruleset {name!r}; available: "
                           f"{', '.join(sorted(self.rulesets))}", field_path)
        return rs

    def catalog(self, name: str | None, field_path: str = "body.catalog") -> tuple[str, DipCatalog]:
        if not self.catalogs:
            raise ApiError(503, "NO_DIP_CATALOG",
                           "未加载 DIP 病种目录 / no DIP catalogue is loaded", field_path)
        key = name or max(self.catalogs)
        catalog = self.catalogs.get(key)
        if catalog is None:
            raise ApiError(422, "UNKNOWN_CATALOG",
                           f"未知的 DIP 目录 / unknown DIP catalogue {name!r}; available: "
                           f"{', '.join(sorted(self.catalogs))}", field_path)
        return key, catalog

    # -- per case ---------------------------------------------------------------------------
    def group_drg_case(self, case: dict[str, Any], ruleset: str | None,
                       translate_codes: bool) -> dict[str, Any]:
        if (ruleset or self.settings.default_ruleset) == "auto":
            from grouper.by_date import ruleset_on

            picked = ruleset_on(case.get("discharge_date"))
            if picked is None:
                raise ApiError(422, "NO_DISCHARGE_DATE",
                               "ruleset auto 需要出院日期 / ruleset auto needs a discharge_date "
                               "within a ruleset's effective dates", "body.case.discharge_date")
            ruleset = picked
        rs = self.ruleset(ruleset)
        return explain(case, rs, translate_codes=translate_codes).to_dict()

    def group_dip_case(self, case: dict[str, Any], catalog: str | None) -> dict[str, Any]:
        name, cat = self.catalog(catalog)
        ex = explain_dip(case, dip_lookups(cat))
        out = dict(ex.result)
        out.update(catalog=name, principal_dx=ex.principal_dx, subcategory=ex.subcategory,
                   category=ex.category, procedure_classes=ex.procedure_classes,
                   candidates=ex.candidates, steps=ex.steps)
        return out
