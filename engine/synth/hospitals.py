"""The synthetic region's hospitals and each hospital's case-mix weights over ADRGs."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.synth.params import LEVELS, TYPES

DISTRICTS = ("城区", "东区", "西区", "南区", "北区", "高新区", "滨海区", "江北区", "山南县", "河西县")
TYPE_NAMES = {"general": "人民医院", "TCM": "中医院", "maternal_child": "妇幼保健院",
              "psychiatric": "精神卫生中心", "rehabilitation": "康复医院"}
LONG_STAY_TYPES = ("psychiatric", "rehabilitation")


def _quota(n: int, shares: dict[str, float], keys: tuple[str, ...]) -> list[str]:
    """Exactly n labels in proportion to `shares` (largest remainder), in `keys` order."""
    w = np.array([shares.get(k, 0.0) for k in keys], dtype=float)
    exact = n * w / w.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return [k for k, c in zip(keys, counts, strict=True) for _ in range(c)]


def make_hospitals(n: int, p: dict[str, Any], rng: np.random.Generator) -> pl.DataFrame:
    """hospital_id, name, level, type, beds, plus the generator's own columns (volume, cost
    factor, gaming flags) that `write_region` leaves out of hospitals.parquet."""
    hp = p["hospitals"]
    levels = np.array(_quota(n, hp["level_share"], LEVELS), dtype=object)
    types = np.array(["general"] * n, dtype=object)
    # special types go to 三级/二级 hospitals (基层 are community centres and township
    # hospitals, general by definition); order by level so small regions still get them
    special = _quota(n, hp["type_share"], TYPES)
    special = [t for t in special if t != "general"]
    # 二级 first, then 三级 except one, which stays a general hospital (the regional centre)
    second = rng.permutation(np.flatnonzero(levels == "二级"))
    third = rng.permutation(np.flatnonzero(levels == "三级"))[1:]
    eligible = np.concatenate([second, third]).astype(np.int64)
    for i, t in zip(eligible, special, strict=False):
        types[i] = t
    beds = np.array([hp["beds_median"][lv] for lv in levels], dtype=float)
    beds = np.maximum(20, np.round(beds * np.exp(hp["beds_sd"] * rng.standard_normal(n))))
    per_bed = np.array([hp["long_stay_cases_per_bed"] if t in LONG_STAY_TYPES
                        else hp["cases_per_bed"][lv] for t, lv in zip(types, levels, strict=True)])
    cost_factor = np.array([hp["cost_factor"][lv] for lv in levels]) * np.exp(
        hp["efficiency_sd"] * rng.standard_normal(n) - hp["efficiency_sd"] ** 2 / 2)
    names = []
    seen: dict[str, int] = {}
    for i, (lv, t) in enumerate(zip(levels, types, strict=True)):
        district = DISTRICTS[i % len(DISTRICTS)]
        if lv == "基层":
            base = f"{district}{'街道社区卫生服务中心' if i % 2 else '镇卫生院'}"
        else:
            base = f"{district}{TYPE_NAMES[t]}"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{district}第{seen[base]}{TYPE_NAMES[t]}"
                     if lv != "基层" else f"{base}{seen[base]}分中心")
    g = p["gaming"]
    order = rng.permutation(n)
    n_mcc = max(1, round(n * g["high_mcc_hospital_share"]))
    n_low = max(1, round(n * g["low_cost_hospital_share"]))
    high_mcc = np.zeros(n, bool)
    low_cost = np.zeros(n, bool)
    # gaming hospitals are general hospitals at 三级/二级/一级 when there are enough of them
    cand = [i for i in order if types[i] == "general" and levels[i] != "基层"]
    cand += [i for i in order if i not in set(cand)]
    high_mcc[cand[:n_mcc]] = True
    low_cost[cand[n_mcc:n_mcc + n_low]] = True
    splits = np.zeros(n, bool)
    splits[order[: max(1, round(n * g["split_hospital_share"]))]] = True
    return pl.DataFrame({
        "hospital_id": [f"H{i + 1:04d}" for i in range(n)],
        "name": names, "level": levels.tolist(), "type": types.tolist(),
        "beds": beds.astype(np.int64),
        "_volume": beds * per_bed, "_cost_factor": cost_factor,
        "_high_mcc": high_mcc, "_low_cost": low_cost, "_splits": splits,
    })


def adrg_weights(hospitals: pl.DataFrame, adrgs: pl.DataFrame, p: dict[str, Any]
                 ) -> np.ndarray:
    """H × A matrix of case-mix weights (rows sum to 1)."""
    hp = p["hospitals"]
    mdc = adrgs["mdc"].to_numpy()
    surgical = (adrgs["section"] == "surgical").to_numpy()
    expensive = adrgs["base_cost"].to_numpy() > hp["expensive_adrg_cost"]
    pop = adrgs["popularity"].to_numpy()
    rows = []
    for level, htype in hospitals.select("level", "type").iter_rows():
        w = pop.copy()
        factors = hp["type_mdc_factor"].get(htype, {})
        if factors:
            w *= np.array([factors.get(m, factors.get("other", 1.0)) for m in mdc])
        w *= np.where(surgical, hp["surgical_factor"][level], 1.0)
        w *= np.where(expensive, hp["expensive_factor"][level], 1.0)
        if level not in hp["mdca_levels"]:
            w *= mdc != "MDCA"
        rows.append(w / w.sum())
    return np.vstack(rows)
