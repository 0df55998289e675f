"""Rates, point values and budgets from the store (`drgdip weights set-rate` / `set-budget`,
`weights.funding`) over the policy file's values, and a record of which value a run used.

Per fund pool of the policy: the DRG rate method's `base_rate` (store kind `base_rate`), the
point methods' provisional point value (kind `pv_budget`), and for clearing the `budget` and
`risk_reserve_rate` (`fund_budgets`). The store's row for (policy region, pool, policy year,
the run's month — else the annual row —, scheme = the policy's method) wins; without one the
TOML value stays. `used` lists every value with its source, for the run's summary.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb

from engine.policy import Policy
from grouper.errors import RefusedError
from weights.errors import WeightTableError
from weights.funding import ANNUAL, get_budget, get_rate


def _rate(con: duckdb.DuckDBPyConnection, policy: Policy, pool: str, period: str,
          kind: str) -> Decimal | None:
    try:
        return get_rate(con, region=policy.policy.region, fund_pool=pool, year=policy.year,
                        period=period, scheme=policy.method, kind=kind)
    except WeightTableError:
        return None


def with_store_parameters(con: duckdb.DuckDBPyConnection, policy: Policy, *,
                          period: str = ANNUAL, clearing: bool = False
                          ) -> tuple[Policy, dict[str, Any]]:
    """(policy with the store's values in its pools, {pool: {name: {value, source}}})."""
    pools, used = {}, {}
    for name, pool in policy.pool.items():
        update: dict[str, Any] = {}
        record: dict[str, Any] = {}
        kind = "base_rate" if policy.fixed_point_value else "pv_budget"
        stored = _rate(con, policy, name, period, kind)
        if stored is not None:
            update[kind] = stored
        record[kind] = {"value": f"{Decimal(stored if stored is not None else getattr(pool, kind)):.4f}",
                        "source": "store rates" if stored is not None else "policy file"}
        if clearing:
            try:
                budget = get_budget(con, region=policy.policy.region, fund_pool=name,
                                    year=policy.year, scheme=policy.method)
            except WeightTableError:
                budget = None
            if budget is not None:
                update["budget"] = budget["amount"]
            record["budget"] = {"value": f"{Decimal(budget['amount'] if budget else pool.budget):.2f}",
                                "source": "store fund_budgets" if budget else "policy file"}
            if budget is not None and budget["risk_reserve_rate"] is not None:
                record["risk_reserve_rate"] = {"value": f"{budget['risk_reserve_rate']:.4f}",
                                               "source": "store fund_budgets"}
        pools[name] = pool.model_copy(update=update)
        used[name] = record
    out = policy.model_copy(update={"pool": pools})
    reserves = {r["risk_reserve_rate"]["value"] for r in used.values()
                if "risk_reserve_rate" in r}
    if reserves and (len(reserves) > 1 or any("risk_reserve_rate" not in r
                                              for r in used.values())):
        raise RefusedError(
            f"the store's fund budgets set risk_reserve_rate for some pools only or to "
            f"different values ({', '.join(sorted(reserves))}); clearing applies one rate to "
            f"every pool — set the same rate on each pool's budget / 风险调剂金比例须各基金池一致")
    if reserves:  # one clearing rule for the policy: the store's rate applies to it
        out = out.model_copy(update={"clearing": policy.clearing.model_copy(
            update={"risk_reserve_rate": Decimal(reserves.pop())})})
    return out, used
