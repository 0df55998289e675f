"""Vectorised draws of the generator: region truth per ADRG, categorical sampling, dates,
payment parts and cost breakdown. Every parameter comes from params.toml (docs/data.md)."""

from __future__ import annotations

import calendar
from typing import Any

import numpy as np
import polars as pl

from engine.ingest.fields import COST_CATEGORIES
from engine.synth.params import LEVELS

CATEGORIES = tuple(COST_CATEGORIES)


def region_truth(adrgs: pl.DataFrame, p: dict[str, Any]) -> pl.DataFrame:
    """Add popularity, base_cost (yuan, 二级 hospital, no CC/MCC) and los_mean per ADRG.

    Fixed by `mix_seed`, so the region's case mix and group costs do not change with --seed.
    """
    rng = np.random.default_rng(p["mix_seed"])
    mdc = adrgs["mdc"].to_list()
    surgical = (adrgs["section"] == "surgical").to_numpy()
    n = adrgs.height
    pop = np.zeros(n)
    for m in sorted(set(mdc)):
        idx = np.flatnonzero(np.array(mdc) == m)
        ranks = rng.permutation(len(idx)) + 1
        w = ranks.astype(float) ** -p["adrg_zipf"]
        w *= np.where(surgical[idx], 1.0, p["medical_vs_surgical"])
        pop[idx] = p["mdc"][m]["share"] * w / w.sum()
    z_cost = rng.standard_normal(n)
    z_los = rng.standard_normal(n)
    sd_c, sd_l = p["adrg_cost_sd"], p["adrg_los_sd"]
    cost_mean = np.array([p["mdc"][m]["surgical_cost" if s else "medical_cost"]
                          for m, s in zip(mdc, surgical, strict=True)], dtype=float)
    los_mean = np.array([p["mdc"][m]["surgical_los" if s else "medical_los"]
                         for m, s in zip(mdc, surgical, strict=True)], dtype=float)
    return adrgs.with_columns(
        popularity=pl.Series(pop / pop.sum()),
        base_cost=pl.Series(cost_mean * np.exp(sd_c * z_cost - sd_c ** 2 / 2)),
        los_mean=pl.Series(los_mean * np.exp(sd_l * z_los - sd_l ** 2 / 2)))


def stacked_cdf(weights: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """For groups of contiguous weights: value k + (cumulative share inside group k)."""
    out = np.empty(len(weights))
    for k, (s, c) in enumerate(zip(starts, counts, strict=True)):
        w = weights[s:s + c]
        out[s:s + c] = k + np.cumsum(w) / w.sum()
        out[s + c - 1] = k + 1.0
    return out


def sample_in_groups(cdf: np.ndarray, group: np.ndarray, rng: np.random.Generator
                     ) -> np.ndarray:
    """Index of one item per row, drawn inside the row's group of `stacked_cdf`."""
    u = rng.random(len(group)) * (1 - 1e-12)
    return np.searchsorted(cdf, group + u, side="right")


def season_cdf(year: int) -> np.ndarray:
    """Cumulative admission weight by day of year: winter peak, Spring-Festival dip."""
    days = 366 if calendar.isleap(year) else 365
    d = np.arange(days)
    w = 1 + 0.12 * np.cos(2 * np.pi * (d - 15) / days)
    w[30:45] *= 0.7
    out: np.ndarray = np.cumsum(w) / w.sum()
    return out


def admit_days(cdf: np.ndarray, last: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Day of year (0-based) of admission, at most `last` (>= 0), seasonally weighted."""
    last = np.clip(last, 0, len(cdf) - 1)
    u = rng.random(len(last)) * cdf[last]
    out: np.ndarray = np.minimum(np.searchsorted(cdf, u, side="right"), last)
    return out


def level_lookup(levels: np.ndarray, table: dict[str, float]) -> np.ndarray:
    """Per-row value of a {level: value} parameter; `levels` are indexes into LEVELS."""
    out: np.ndarray = np.array([table[lv] for lv in LEVELS], dtype=float)[levels]
    return out


def payment_parts(total: np.ndarray, level: np.ndarray, employee: np.ndarray,
                  rng: np.random.Generator, p: dict[str, Any]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(fund_paid, other_fund_paid, patient_paid, self_pay_out_of_scope) in fen.

    FFS benefit rules: 全自费 share, 起付线 by level, co-pay by level and fund, 大病保险 and
    医疗救助 for residents, a supplement for employees. fund + other + patient = total exactly.
    """
    pp = p["payment"]
    n = len(total)
    share = np.minimum(0.3, pp["self_pay_mean"] * np.exp(0.6 * rng.standard_normal(n) - 0.18))
    self_pay = np.floor(total * share).astype(np.int64)
    in_scope = total - self_pay
    deductible = np.minimum(in_scope, (level_lookup(level, pp["deductible"]) * 100)
                            .astype(np.int64))
    rate = np.where(employee, level_lookup(level, pp["copay_employee"]),
                    level_lookup(level, pp["copay_resident"]))
    copay = np.floor((in_scope - deductible) * rate).astype(np.int64)
    fund = in_scope - deductible - copay
    burden = deductible + copay
    threshold = pp["serious_illness_threshold"] * 100
    serious = np.where(~employee & (burden > threshold),
                       np.floor((burden - threshold) * pp["serious_illness_share"]), 0)
    assist = np.where(~employee & (rng.random(n) < pp["assistance_rate"]),
                      np.floor((burden - serious) * pp["assistance_share"]), 0)
    supplement = np.where(employee & (rng.random(n) < pp["employee_supplement_rate"]),
                          np.floor(copay * pp["employee_supplement_share"]), 0)
    other = (serious + assist + supplement).astype(np.int64)
    patient = total - fund - other
    return fund, other, patient, self_pay


def breakdown(total: np.ndarray, surgical: np.ndarray, tcm: np.ndarray,
              rng: np.random.Generator, p: dict[str, Any]) -> np.ndarray:
    """n × 14 fen matrix of cost categories (CATEGORIES order); each row sums to `total`.

    Shares: the profile of the case's section (medical/surgical), TCM shift, times
    exp(share_sd · z) per category, renormalised; fen by floor, the remainder to the largest.
    """
    bp = p["breakdown"]
    n = len(total)
    med = np.array([bp["medical"][c] for c in CATEGORIES])
    sur = np.array([bp["surgical"][c] for c in CATEGORIES])
    base = np.where(surgical[:, None], sur, med)
    drug, herbal, patent = (CATEGORIES.index(c) for c in ("western_drug", "herbal", "patent_tcm"))
    shift = np.where(tcm, bp["tcm_shift"], 0.0) * base[:, drug]
    base = base.copy()
    base[:, drug] -= shift
    base[:, herbal] += shift * 0.6
    base[:, patent] += shift * 0.4
    # multiplicative lognormal noise on each category's share, then renormalised
    noise = np.exp(bp["share_sd"] * rng.standard_normal(base.shape, dtype=np.float32))
    g = base * noise
    shares = g / g.sum(axis=1, keepdims=True)
    fen = np.floor(shares * total[:, None]).astype(np.int64)
    fen[np.arange(n), shares.argmax(axis=1)] += total - fen.sum(axis=1)
    out: np.ndarray = fen
    return out
