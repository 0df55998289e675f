"""Generate a synthetic region in chunks: hospitals, cases (contracts §1) and seeded gaming.

`generate(...)` returns frames; `write_region(out_dir, ...)` streams chunks to Parquet so a
10M-case region needs only one chunk in memory. Output depends only on the arguments, the
parameters and `chunk_rows` (documented in docs/data.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from engine.ingest.fields import COST_CATEGORIES
from engine.synth import distributions as D
from engine.synth.gaming import SEEDED_SCHEMA, choose, hospital_seeds
from engine.synth.hospitals import adrg_weights, make_hospitals
from engine.synth.params import LEVELS, merged
from engine.synth.templates import Templates, build_templates
from grouper import load_ruleset
from grouper.errors import DrgDipError

MAX_SECONDARY = 15
KIND_BASE, KIND_SPLIT, KIND_REPEAT, KIND_PLANNED = 0, 1, 2, 3
PID_MULT = 7_919_317  # odd, not a multiple of 5: a bijection on 0..10^10-1
MONEY_TYPE = pa.decimal128(18, 2)


class SynthError(DrgDipError):
    """Bad generator arguments (counts, year, parameters)."""


@dataclass
class Region:
    """Everything fixed for a run: parameters, templates, hospitals and lookup arrays."""

    p: dict[str, Any]
    year: int
    seed: int
    ruleset: str
    templates: Templates
    adrgs: pl.DataFrame
    hospitals: pl.DataFrame
    arrays: dict[str, np.ndarray]
    dx_vocab: pa.Array
    px_vocab: pa.Array


def _ids(values: list[str]) -> tuple[np.ndarray, dict[str, int]]:
    table = {v: i for i, v in enumerate(sorted(set(values)))}
    return np.array([table[v] for v in values], dtype=np.int64), table


def build_region(hospitals: int, year: int, seed: int, ruleset: str = "chs_drg_11",
                 params: dict[str, Any] | None = None, *, hospital_seed: int | None = None,
                 drift: float = 0.0) -> Region:
    """The region's fixed parts. `hospital_seed` (default `seed`) draws the hospitals, so two
    years drawn with different seeds can share them (same hospitals, new patients); `drift` > 0
    multiplies each hospital's ADRG case-mix weights by a log-normal factor of that sigma (drawn
    from `seed`) and renormalises — a little case-mix drift between years."""
    if hospitals < 1:
        raise SynthError(f"hospitals={hospitals}: need at least 1")
    if not 1900 <= year <= 2200:
        raise SynthError(f"year={year}: expected a calendar year such as 2024")
    p = merged(params)
    rs = load_ruleset(ruleset)
    T = build_templates(rs, per_adrg=p["templates_per_adrg"], mix_seed=p["mix_seed"])
    adrgs = D.region_truth(T.adrgs, p)
    if drift < 0:
        raise SynthError(f"drift={drift}: expected 0 or more")
    hosp = make_hospitals(hospitals, p, np.random.default_rng(
        [seed if hospital_seed is None else hospital_seed, 0xB05]))
    W = adrg_weights(hosp, adrgs, p)
    if drift > 0:
        W = W * np.random.default_rng([seed, 0xD21F7]).lognormal(0.0, drift, W.shape)
        W = W / W.sum(axis=1, keepdims=True)
    H = W.shape[0]
    f = T.frame
    n_t = f.height
    # template popularity inside its ADRG: rank^-s in template order
    rank = f.with_row_index("i").select(
        (pl.col("i") - pl.col("i").min().over("adrg") + 1).alias("r"))["r"].to_numpy()
    tmpl_cdf = D.stacked_cdf(rank.astype(float) ** -p["template_zipf"],
                             adrgs["start"].to_numpy(), adrgs["count"].to_numpy())
    adrg_of = {a: i for i, a in enumerate(adrgs["adrg"].to_list())}
    mdcs = sorted(p["mdc"])
    mdc_of = {m: i for i, m in enumerate(mdcs)}
    _, table_ids = _ids([*T.principal_table.tolist(), *T.mcc_table.tolist(),
                         *T.cc_table.tolist()])

    # diagnosis vocabulary: template principal, template extras, MCC, CC, plain pools
    extras = f["dx_extra"].to_list()
    extra_codes = sorted({c for e in extras for c in e})
    dx_codes = [*f["dx"].to_list(), *extra_codes, *T.mcc.tolist(), *T.cc.tolist(),
                *T.plain.tolist()]
    off_extra = n_t
    off_mcc = off_extra + len(extra_codes)
    off_cc = off_mcc + len(T.mcc)
    off_plain = off_cc + len(T.cc)
    extra_idx = {c: off_extra + i for i, c in enumerate(extra_codes)}
    t_extra = np.full((n_t, 2), -1, np.int64)
    for i, e in enumerate(extras):
        for j, c in enumerate(e[:2]):
            t_extra[i, j] = extra_idx[c]
    px_lists = f["px"].to_list()
    tpx_codes = sorted({c for e in px_lists for c in e})
    px_codes = [*tpx_codes, *T.non_or_px.tolist(), *T.or_px.tolist()]
    tpx_idx = {c: i for i, c in enumerate(tpx_codes)}
    t_px = np.full((n_t, 2), -1, np.int64)
    for i, e in enumerate(px_lists):
        for j, c in enumerate(e[:2]):
            t_px[i, j] = tpx_idx[c]
    t_mdc = np.array([mdc_of[m] for m in f["mdc"].to_list()])
    arrays = {
        "hosp_cdf": (np.arange(H)[:, None] + np.cumsum(W, axis=1)).ravel(),
        "volume_cdf": np.cumsum(hosp["_volume"].to_numpy()) / hosp["_volume"].sum(),
        "tmpl_cdf": tmpl_cdf,
        "t_adrg": np.array([adrg_of[a] for a in f["adrg"].to_list()]),
        "t_mdc": t_mdc,
        "t_surgical": (f["section"] == "surgical").to_numpy(),
        "t_male_ok": f["male_ok"].to_numpy(), "t_female_ok": f["female_ok"].to_numpy(),
        "t_infant_ok": f["infant_ok"].to_numpy(),
        "t_weight_min": f["weight_min_g"].fill_null(-1).to_numpy(),
        "t_weight_max": f["weight_max_g"].fill_null(-1).to_numpy(),
        "t_table": np.array([table_ids[x] for x in T.principal_table]),
        "t_extra": t_extra, "t_px": t_px,
        "mcc_table": np.array([table_ids[x] for x in T.mcc_table]),
        "cc_table": np.array([table_ids[x] for x in T.cc_table]),
        "off": np.array([off_mcc, off_cc, off_plain, len(T.mcc), len(T.cc), len(T.plain)]),
        "px_off": np.array([len(tpx_codes), len(T.non_or_px), len(T.or_px)]),
        "a_cost": adrgs["base_cost"].to_numpy(), "a_los": adrgs["los_mean"].to_numpy(),
        "h_level": np.array([LEVELS.index(x) for x in hosp["level"].to_list()]),
        "h_tcm": (hosp["type"] == "TCM").to_numpy(),
        "h_mc": (hosp["type"] == "maternal_child").to_numpy(),
        "h_cost": hosp["_cost_factor"].to_numpy(), "h_high_mcc": hosp["_high_mcc"].to_numpy(),
        "h_low_cost": hosp["_low_cost"].to_numpy(), "h_splits": hosp["_splits"].to_numpy(),
        "m_age_mean": np.array([p["mdc"][m]["age_mean"] for m in mdcs], float),
        "m_age_sd": np.array([p["mdc"][m]["age_sd"] for m in mdcs], float),
        "m_child": np.array([p["mdc"][m]["child_share"] for m in mdcs], float),
        "mdc_names": np.array(mdcs, dtype=object),
    }
    return Region(p=p, year=year, seed=seed, ruleset=ruleset, templates=T, adrgs=adrgs,
                  hospitals=hosp, arrays=arrays, dx_vocab=pa.array(dx_codes, pa.string()),
                  px_vocab=pa.array(px_codes, pa.string()))


def _list_column(matrix: np.ndarray, vocab: pa.Array) -> pa.Array:
    """Rows of vocabulary indexes (-1 = none, kept left-aligned order) → list<string>."""
    keep = matrix >= 0
    counts = keep.sum(axis=1)
    offsets = np.zeros(len(matrix) + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = vocab.take(pa.array(matrix[keep]))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _money(fen: np.ndarray) -> pa.Array:
    """Integer fen → decimal128(18, 2) yuan, exactly (the fen are the unscaled value)."""
    fen = np.ascontiguousarray(fen, dtype=np.int64)
    words = np.empty(2 * len(fen), np.int64)
    words[0::2] = fen
    words[1::2] = np.where(fen < 0, -1, 0)
    return pa.Array.from_buffers(MONEY_TYPE, len(fen), [None, pa.py_buffer(words)])


def _distinct_from_pool(rng: np.random.Generator, n: int, k: int, size: int, zipf: float
                        ) -> np.ndarray:
    """n × k indexes into a pool of `size`, distinct per row, popular ones first."""
    w = np.arange(1, size + 1, dtype=float) ** -zipf
    first = np.searchsorted(np.cumsum(w) / w.sum(), rng.random(n) * (1 - 1e-12))
    stride = rng.integers(1, 12, n)
    return (first[:, None] + stride[:, None] * np.arange(k)[None, :]) % size


def gen_chunk(r: Region, n: int, chunk_no: int, first_seq: int
              ) -> tuple[pa.Table, pl.DataFrame]:
    """One chunk of n cases with global sequence numbers first_seq … first_seq+n-1."""
    p, a = r.p, r.arrays
    rng = np.random.default_rng([r.seed, chunk_no, 0x5EED])
    g, rd = p["gaming"], p["readmission"]
    n_split = round(n * g["split_admission_rate"])
    n_repeat = round(n * rd["repeat_rate"])
    n_planned = round(n * rd["planned_rate"])
    n_base = n - n_split - n_repeat - n_planned
    if n_base < (n_split + n_repeat + n_planned) or n < 20:
        n_split = n_repeat = n_planned = 0
        n_base = n
    H = len(a["h_level"])
    A = r.adrgs.height

    # --- identities of base cases: hospital, ADRG, template, sex, age
    hosp = np.searchsorted(a["volume_cdf"], rng.random(n_base) * (1 - 1e-12), side="right")
    hosp = np.minimum(hosp, H - 1)
    idx = D.sample_in_groups(a["hosp_cdf"], hosp, rng)
    adrg = np.minimum(idx - hosp * A, A - 1)
    tmpl = np.minimum(D.sample_in_groups(a["tmpl_cdf"], adrg, rng), len(a["t_adrg"]) - 1)
    mdc = a["t_mdc"][tmpl]
    mdc_name = a["mdc_names"][mdc]
    male_ok, female_ok = a["t_male_ok"][tmpl], a["t_female_ok"][tmpl]
    male = np.where(male_ok & female_ok, rng.random(n_base) < 0.52, male_ok)
    male &= mdc_name != "MDCO"
    male |= ~female_ok
    newborn = mdc_name == "MDCP"
    child_share = np.where(a["h_mc"][hosp] & ~np.isin(mdc_name, ["MDCO", "MDCN"]),
                           p["hospitals"]["type_child_share"]["maternal_child"],
                           a["m_child"][mdc])
    child = (rng.random(n_base) < child_share) & ~newborn
    adult_age = np.rint(a["m_age_mean"][mdc] + a["m_age_sd"][mdc] * rng.standard_normal(n_base))
    adult_min = np.where(mdc_name == "MDCO", 16, 18)
    age = np.where(child, rng.integers(1, 18, n_base),
                   np.clip(adult_age, adult_min, np.where(mdc_name == "MDCO", 50, 100)))
    infant = child & (rng.random(n_base) < 0.2) & a["t_infant_ok"][tmpl]
    age = np.where(newborn | infant, 0, age).astype(np.int64)
    age_days = np.where(newborn, np.minimum(28, rng.geometric(0.25, n_base) - 1),
                        np.where(infant, rng.integers(29, 365, n_base), -1))
    wmin, wmax = a["t_weight_min"][tmpl], a["t_weight_max"][tmpl]
    banded = (wmin >= 0) | (wmax >= 0)
    lo = np.where(wmin >= 0, wmin, 700)
    hi = np.where(wmax >= 0, wmax, np.maximum(lo + 1000, 3600))
    bw = np.where(banded, lo + np.floor(rng.random(n_base) * (hi - lo)),
                  np.clip(np.rint(3250 + 450 * rng.standard_normal(n_base)), 2500, 4800))
    bw = np.where(newborn, bw, -1).astype(np.int64)
    pid = first_seq + np.arange(n_base, dtype=np.int64)

    # --- repeat admissions of base patients (splits, natural repeats, planned)
    n_rep = n_split + n_repeat + n_planned
    kind = np.concatenate([np.zeros(n_base, np.int8),
                           np.full(n_split, KIND_SPLIT, np.int8),
                           np.full(n_repeat, KIND_REPEAT, np.int8),
                           np.full(n_planned, KIND_PLANNED, np.int8)])
    ok_src = ~newborn & (age >= 1)
    src_split = choose(ok_src & a["h_splits"][hosp], n_split, rng)
    rest = ok_src.copy()
    rest[src_split] = False
    src_other = choose(rest, n_repeat + n_planned, rng)
    src = np.concatenate([src_split, src_other]).astype(np.int64)
    if len(src) < n_rep:  # too few eligible sources in a tiny chunk: drop the shortfall
        kind = kind[: n_base + len(src)]
        n_rep = len(src)
    rep_kind = kind[n_base:]
    rep_hosp = hosp[src].copy()
    move = (rep_kind == KIND_REPEAT) & (rng.random(n_rep) > rd["repeat_same_hospital"])
    rep_hosp[move] = np.minimum(np.searchsorted(
        a["volume_cdf"], rng.random(move.sum()) * (1 - 1e-12), side="right"), H - 1)

    def cat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.concatenate([x, y])

    hosp = cat(hosp, rep_hosp)
    adrg, tmpl, mdc = cat(adrg, adrg[src]), cat(tmpl, tmpl[src]), cat(mdc, mdc[src])
    male, age, age_days = cat(male, male[src]), cat(age, age[src]), cat(age_days, age_days[src])
    bw, pid = cat(bw, bw[src]), cat(pid, pid[src])
    mdc_name = a["mdc_names"][mdc]
    m = len(hosp)
    level = a["h_level"][hosp]
    surgical = a["t_surgical"][tmpl]

    # --- severity and secondary diagnoses
    sv = p["severity"]
    age_f = np.clip(0.4 + age / 60, 0.4, 2.0)
    gm = a["h_high_mcc"][hosp]
    p_mcc = sv["mcc_rate"] * age_f * np.where(gm, g["high_mcc_factor"], 1.0)
    p_cc = sv["cc_rate"] * age_f * np.where(gm, g["high_mcc_cc_factor"], 1.0)
    u = rng.random(m)
    want_mcc = u < p_mcc
    want_cc = (u >= p_mcc) & (u < p_mcc + p_cc)
    off = a["off"]
    table = a["t_table"][tmpl]

    def comorbid(want: np.ndarray, pool_off: int, size: int, pool_table: np.ndarray
                 ) -> np.ndarray:
        pick = np.full(m, -1, np.int64)
        todo = want.copy()
        for _ in range(4):  # a code excluded by the principal diagnosis (CC 排除表) is redrawn
            if not todo.any():
                break
            cand = _distinct_from_pool(rng, int(todo.sum()), 1, size, 0.6)[:, 0]
            fine = pool_table[cand] != table[todo]
            where = np.flatnonzero(todo)
            pick[where[fine]] = pool_off + cand[fine]
            todo[where[fine]] = False
        return pick

    mcc_pick = comorbid(want_mcc, off[0], off[3], a["mcc_table"])
    cc_pick = comorbid(want_cc | (want_mcc & (rng.random(m) < 0.5)), off[1], off[4],
                       a["cc_table"])
    has_mcc, has_cc = mcc_pick >= 0, (cc_pick >= 0) & (mcc_pick < 0)
    cp = p["case"]
    n_plain = np.minimum(rng.poisson(cp["secondary_dx_base"] + age / cp["secondary_dx_age_step"]),
                         cp["max_secondary_dx"])
    n_plain = np.where(mdc_name == "MDCP", np.minimum(n_plain, 2), n_plain)
    plain = off[2] + _distinct_from_pool(rng, m, MAX_SECONDARY, int(off[5]), 0.9)
    plain = np.where(np.arange(MAX_SECONDARY)[None, :] < n_plain[:, None], plain, -1)
    dx = np.column_stack([tmpl, a["t_extra"][tmpl], mcc_pick, cc_pick, plain])

    # --- procedures: the template's, then non-operating-room ones
    pxo = a["px_off"]
    n_non_or = np.where(rng.random(m) < cp["non_or_px_rate"],
                        1 + rng.poisson(cp["non_or_px_mean"] - 1, m), 0).clip(0, 6)
    non_or = pxo[0] + _distinct_from_pool(rng, m, 6, int(pxo[1]), 0.8)
    non_or = np.where(np.arange(6)[None, :] < n_non_or[:, None], non_or, -1)
    px = np.column_stack([a["t_px"][tmpl], non_or])

    # --- LOS and cost (correlated lognormals), outliers, discharge way, ICU, day surgery
    hp = p["hospitals"]
    z_c = rng.standard_normal(m)
    z_l = cp["los_cost_corr"] * z_c + np.sqrt(1 - cp["los_cost_corr"] ** 2) * rng.standard_normal(m)
    sev_cost = np.where(has_mcc, sv["cost_mcc"], np.where(has_cc, sv["cost_cc"], 1.0))
    sev_los = np.where(has_mcc, sv["los_mcc"], np.where(has_cc, sv["los_cc"], 1.0))
    cost = (a["a_cost"][adrg] * sev_cost * a["h_cost"][hosp]
            * np.exp(cp["cost_sd"] * z_c - cp["cost_sd"] ** 2 / 2))
    los = (a["a_los"][adrg] * sev_los * D.level_lookup(level, hp["los_factor"])
           * np.exp(cp["los_sd"] * z_l - cp["los_sd"] ** 2 / 2))
    o = p["outliers"]
    uo = rng.random(m)
    low_rate = np.where(a["h_low_cost"][hosp], g["low_cost_rate"], o["low_rate"])
    high = uo < o["high_rate"]
    low = (uo >= o["high_rate"]) & (uo < o["high_rate"] + low_rate)
    cost = np.where(high, cost * rng.uniform(o["high_min"], o["high_max"], m), cost)
    los = np.where(high, los * rng.uniform(1.5, 3.0, m), los)
    cost = np.where(low, cost * rng.uniform(o["low_min"], o["low_max"], m), cost)
    los = np.where(low, los * rng.uniform(0.3, 0.8, m), los)

    dp = p["discharge"]
    death_p = np.where(has_mcc, dp["death_mcc"], np.where(has_cc, dp["death_cc"],
                                                          dp["death_none"]))
    death_p = death_p * np.array([dp["death_mdc_factor"].get(x, 1.0) for x in
                                  a["mdc_names"]])[mdc]
    ud = rng.random(m)
    edges = np.cumsum(np.column_stack([
        death_p, np.full(m, dp["transfer"]), np.full(m, dp["community"]),
        np.full(m, dp["against_advice"]), np.full(m, dp["other"])]), axis=1)
    way = np.select([ud < edges[:, 0], ud < edges[:, 1], ud < edges[:, 2], ud < edges[:, 3],
                     ud < edges[:, 4]], [5, 2, 3, 4, 9], 1)
    incomplete = (way == 5) | (way == 4)
    los = np.where(incomplete, los * rng.uniform(dp["incomplete_los_min"], 1, m), los)
    cost = np.where(incomplete, cost * rng.uniform(0.4, 1.0, m), cost)

    ds = p["day_surgery"]
    day = (surgical & (a["a_cost"][adrg] < ds["max_base_cost"])
           & np.isin(level, [LEVELS.index(x) for x in ds["levels"]])
           & (rng.random(m) < ds["rate"]) & ~high & (way == 1) & ~has_mcc)
    cost = np.where(day, cost * ds["cost_factor"], cost)
    los = np.where(day, 1, np.clip(np.rint(los), 1, cp["max_los"])).astype(np.int64)

    # --- seeded gaming on base cases: low-standard admissions; splits shorten both stays
    base_only = np.zeros(m, bool)
    base_only[:n_base] = True
    low_std_ok = (base_only & ~surgical & (a["t_px"][tmpl][:, 0] < 0)
                  & ~np.isin(mdc_name, ["MDCO", "MDCP", "MDCT", "MDCX"])
                  & np.isin(level, [LEVELS.index(x) for x in g["low_standard_levels"]])
                  & ~day & (way == 1))
    low_std_ok[src] = False
    low_std = choose(low_std_ok, round(n * g["low_standard_rate"]), rng)
    los[low_std] = rng.integers(1, 3, len(low_std))
    cost[low_std] = a["a_cost"][adrg[low_std]] * rng.uniform(0.08, 0.25, len(low_std))
    px[low_std] = -1
    dx[low_std, 5:] = np.where(np.arange(dx.shape[1] - 5)[None, :] < 1, dx[low_std, 5:], -1)
    dx[low_std, 3:5] = -1
    has_mcc[low_std] = False
    split_rows = np.flatnonzero(kind == KIND_SPLIT)
    split_src = src[: len(split_rows)]
    frac = rng.uniform(0.45, 0.65, len(split_rows))
    for rows in (split_rows, split_src):
        los[rows] = np.maximum(1, np.rint(los[rows] * frac)).astype(np.int64)
        cost[rows] = cost[rows] * frac
        way[rows] = 1
    day[split_rows] = False
    day[split_src] = False

    # coding errors (not gaming): an unrelated operating-room procedure on a medical case
    err = choose(base_only & ~surgical & (a["t_px"][tmpl][:, 0] < 0) & (mdc_name != "MDCP"),
                 round(n * g["coding_error_rate"]), rng)
    # the procedure of a surgical template of another MDC (QY when it fits no surgical ADRG)
    surgical_t = np.flatnonzero(a["t_surgical"] & (a["t_px"][:, 0] >= 0))
    donor = surgical_t[rng.integers(0, len(surgical_t), len(err))]
    donor = np.where(a["t_mdc"][donor] == mdc[err], surgical_t[0], donor)
    px[err, 0] = a["t_px"][donor, 0]

    icu_p = p["icu"]
    icu_rate = np.where(has_mcc, icu_p["rate_mcc"], np.where(has_cc, icu_p["rate_cc"],
                                                              icu_p["rate_none"]))
    icu_rate = np.where(mdc_name == "MDCA", icu_p["rate_mdca"], icu_rate)
    icu_rate = icu_rate * np.isin(level, [LEVELS.index(x) for x in icu_p["levels"]]) * ~day
    icu = np.where(rng.random(m) < icu_rate,
                   np.minimum(los * 24, np.rint(icu_p["mean_hours"] * np.exp(
                       0.8 * rng.standard_normal(m) - 0.32))), 0.0)

    total = np.maximum(np.rint(cost * 100), 1000).astype(np.int64)  # at least 10 yuan

    # --- dates: base cases anywhere in the year; repeat pairs share one span
    cdf = D.season_cdf(r.year)
    ndays = len(cdf)
    dur = np.where(day, 0, los)
    gap = np.zeros(m, np.int64)
    gap[kind == KIND_SPLIT] = rng.integers(1, 16, (kind == KIND_SPLIT).sum())
    rk = kind == KIND_REPEAT
    gap[rk] = 16 + np.minimum(200, rng.exponential(rd["repeat_gap_mean"], rk.sum())).astype(
        np.int64)
    gap[kind == KIND_PLANNED] = rng.integers(3, 31, (kind == KIND_PLANNED).sum())
    rep_rows = np.arange(n_base, m)
    span = dur[src] + gap[rep_rows] + dur[rep_rows]
    over = span > ndays - 1
    if over.any():  # very long stays: shorten both so the pair fits in the year
        room = ndays - 1 - gap[rep_rows[over]]
        scale = room / (dur[src[over]] + dur[rep_rows[over]])
        for rows in (src[over], rep_rows[over]):
            dur[rows] = np.maximum(1, np.floor(dur[rows] * scale)).astype(np.int64)
            los[rows] = dur[rows]
        span = dur[src] + gap[rep_rows] + dur[rep_rows]
    admit = D.admit_days(cdf, ndays - 1 - dur, rng)
    admit[src] = D.admit_days(cdf, ndays - 1 - span, rng)
    admit[rep_rows] = admit[src] + dur[src] + gap[rep_rows]
    discharge = admit + dur
    plan = (kind == KIND_PLANNED) | (rng.random(m) < 0.005)

    # --- insurance, TCM, department, payment parts, breakdown
    emp_share = D.level_lookup(level, p["insurance"]["employee_share"])
    employee = (age >= 18) & (rng.random(m) < emp_share)
    employee[n_base:] = employee[src]
    tp = p["tcm"]
    tcm = rng.random(m) < np.where(a["h_tcm"][hosp], tp["rate_tcm_hospital"], tp["rate_other"])
    dept_map = p["dept"]
    med_dept = np.array([dept_map.get(x, dept_map["default"])["medical"]
                         for x in a["mdc_names"]], dtype=object)
    sur_dept = np.array([dept_map.get(x, dept_map["default"])["surgical"]
                         for x in a["mdc_names"]], dtype=object)
    dept = np.where(surgical, sur_dept[mdc], med_dept[mdc])
    dept = np.where(~surgical & (age < 14) & (med_dept[mdc] == "03"), dept_map["children"], dept)
    dept = np.where(~surgical & a["h_tcm"][hosp] & (dept == "03"),
                    dept_map["tcm_hospital_medical"], dept)
    fund, other, patient, self_pay = D.payment_parts(total, level, employee, rng, p)
    parts = D.breakdown(total, surgical, tcm, rng, p)

    # --- assemble, shuffle, number
    order = rng.permutation(m)
    seq = first_seq + np.arange(m, dtype=np.int64)
    case_id = np.empty(m, np.int64)
    case_id[order] = seq  # row i of the unshuffled arrays gets number case_id[i]
    pid_num = (pid * PID_MULT + r.seed * 1_000_003) % 10**10
    jan1 = np.datetime64(f"{r.year}-01-01", "D")
    hospital_ids = r.hospitals["hospital_id"].to_numpy()

    def col_id(prefix: str, nums: np.ndarray, width: int) -> pa.Array:
        digits = pl.Series(nums[order]).cast(pl.String).str.zfill(width)
        return pl.select(pl.lit(prefix) + digits).to_series().to_arrow()

    cols: dict[str, pa.Array] = {
        "case_id": col_id(f"C{r.year}", case_id, 10),
        "hospital_id": pa.array(hospital_ids[hosp[order]], pa.string()),
        "insurance_type": pa.array(np.where(employee, "employee", "resident")[order],
                                   pa.string()),
        "patient_id": col_id("P", pid_num, 10),
        "sex": pa.array(np.where(male, 1, 2)[order].astype(np.int64)),
        "age": pa.array(age[order]),
        "age_days": pa.array(age_days[order], mask=age_days[order] < 0),
        "birth_weight": pa.array(bw[order], mask=bw[order] < 0),
        "dept": pa.array(dept[order].astype(str), pa.string()),
        "admit_date": pa.array((jan1 + admit)[order]),
        "discharge_date": pa.array((jan1 + discharge)[order]),
        "los": pa.array(los[order]),
        "discharge_way": pa.array(way[order].astype(np.int64)),
        "diagnoses": _list_column(dx[order], r.dx_vocab),
        "procedures": _list_column(px[order], r.px_vocab),
        "icu_hours": pa.array(icu[order].astype(float)),
        "total_cost": _money(total[order]),
        "fund_paid": _money(fund[order]),
        "other_fund_paid": _money(other[order]),
        "patient_paid": _money(patient[order]),
        "self_pay_out_of_scope": _money(self_pay[order]),
        "tcm_treatment": pa.array(tcm[order]),
        "day_surgery": pa.array(day[order]),
        "readmit_plan_31d": pa.array(plan[order]),
        **{f"cost_{c}": _money(parts[order, i]) for i, c in enumerate(COST_CATEGORIES)},
    }
    table = pa.table(cols)

    def cid(rows: np.ndarray) -> list[str]:
        return [f"C{r.year}{x:010d}" for x in case_id[rows]]

    seeded = pl.concat([
        pl.DataFrame({"kind": "split_admission", "case_id": cid(split_rows),
                      "hospital_id": hospital_ids[hosp[split_rows]].tolist(),
                      "related_case_id": cid(split_src)}, schema=SEEDED_SCHEMA),
        pl.DataFrame({"kind": "low_standard_admission", "case_id": cid(low_std),
                      "hospital_id": hospital_ids[hosp[low_std]].tolist(),
                      "related_case_id": [None] * len(low_std)}, schema=SEEDED_SCHEMA),
    ])
    return table, seeded


def chunks(r: Region, cases: int) -> Iterator[tuple[pa.Table, pl.DataFrame]]:
    size = int(r.p["chunk_rows"])
    for k, start in enumerate(range(0, cases, size)):
        yield gen_chunk(r, min(size, cases - start), k, start)


def public_hospitals(r: Region) -> pl.DataFrame:
    return r.hospitals.select("hospital_id", "name", "level", "type", "beds")


def generate(cases: int, hospitals: int, year: int, seed: int, ruleset: str = "chs_drg_11",
             *, params: dict[str, Any] | None = None
             ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(hospitals_df, cases_df, seeded_df) of a synthetic region, in memory.

    >>> h, c, s = generate(1000, 5, 2024, 1)
    >>> (h.height, c.height) == (5, 1000)
    True
    """
    if cases < 1:
        raise SynthError(f"cases={cases}: need at least 1")
    r = build_region(hospitals, year, seed, ruleset, params)
    tables, seeds = zip(*chunks(r, cases), strict=True)
    frame = pl.from_arrow(pa.concat_tables(tables))
    seeded = pl.concat([hospital_seeds(r.hospitals), *seeds])
    return public_hospitals(r), frame, seeded  # type: ignore[return-value]


def write_region(out_dir: Path | str, cases: int, hospitals: int, year: int, seed: int,
                 ruleset: str = "chs_drg_11", *, params: dict[str, Any] | None = None,
                 compression: str = "zstd", hospital_seed: int | None = None,
                 drift: float = 0.0) -> dict[str, Any]:
    """Write hospitals.parquet, cases.parquet (streamed chunk by chunk), seeded.parquet and
    region.json to `out_dir`; return the summary written to region.json."""
    if cases < 1:
        raise SynthError(f"cases={cases}: need at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = build_region(hospitals, year, seed, ruleset, params, hospital_seed=hospital_seed,
                     drift=drift)
    public_hospitals(r).write_parquet(out / "hospitals.parquet")
    seeds = [hospital_seeds(r.hospitals)]
    writer: pq.ParquetWriter | None = None
    tmp = out / "cases.parquet.tmp"
    try:
        for table, seeded in chunks(r, cases):
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression=compression)
            writer.write_table(table)
            seeds.append(seeded)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(out / "cases.parquet")
    seeded_all = pl.concat(seeds)
    seeded_all.write_parquet(out / "seeded.parquet")
    summary = {
        "cases": cases, "hospitals": hospitals, "year": year, "seed": seed, "ruleset": ruleset,
        **({"hospital_seed": hospital_seed} if hospital_seed is not None else {}),
        **({"drift": drift} if drift else {}),
        "chunk_rows": r.p["chunk_rows"], "mix_seed": r.p["mix_seed"],
        "adrgs_generated": r.adrgs.height, "templates": r.templates.frame.height,
        "seeded": dict(sorted(seeded_all["kind"].value_counts().iter_rows())),
    }
    (out / "region.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    return summary


__all__ = ["Region", "SynthError", "build_region", "generate", "write_region"]
