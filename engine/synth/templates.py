"""Code templates: (principal dx, principal px …) per ADRG, drawn from the ruleset tables and
kept only when the grouper puts them in the intended ADRG.

The generator never guesses how the ruleset groups: each candidate is grouped once per sex
with `grouper.group_drg` and kept with the sexes for which it lands in its ADRG with status
`ok`. Comorbidity pools (MCC, CC, plain secondary diagnoses) and non-operating-room procedure
pools are filtered so that adding them cannot move a case to another MDC or ADRG.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from grouper import Ruleset, group_drg

BASE_CODE = re.compile(r"^[A-Z]\d{2}\.\d{3}$")  # category-level codes (no local extension)
# secondary-diagnosis chapters left out: pregnancy, perinatal, injury, external causes, factors,
# HIV, neoplasms and sex-specific genital organs (they change MDC or sex consistency)
EXCLUDED_SECONDARY = re.compile(r"^(O|P|S|T|V|W|X|Y|Z|B2[0-4]|C|D[0-4]|N4\d|N5[01]|N[7-9]\d)")
POOL_SIZE = {"mcc": 300, "cc": 500, "plain": 400, "px": 300}


@dataclass(frozen=True)
class Templates:
    """Validated templates, one row each, grouped by ADRG (rows of an ADRG are contiguous)."""

    frame: pl.DataFrame      # adrg, mdc, section, dx, px (list[str]), male_ok, female_ok, …
    adrgs: pl.DataFrame      # adrg, mdc, section, start, count, weight_min_g, weight_max_g
    mcc: np.ndarray          # pool codes
    mcc_table: np.ndarray    # exclusion table of each pool code
    cc: np.ndarray
    cc_table: np.ndarray
    plain: np.ndarray
    non_or_px: np.ndarray
    or_px: np.ndarray        # operating-room procedures (coding-error seeding)
    principal_table: np.ndarray  # exclusion table of each template's principal dx ("" none)


def _stable_order(codes: pl.Series, salt: int) -> pl.Series:
    """A reproducible shuffle of the sorted codes (depends on `mix_seed`, not `--seed`)."""
    ordered = codes.sort()
    return ordered.gather(np.random.default_rng(salt).permutation(ordered.len()))


def _pick(codes: list[str], k: int, rng: np.random.Generator) -> list[str]:
    if not codes:
        return []
    return list(rng.choice(np.array(codes, dtype=object), size=k, replace=len(codes) < k))


def _candidates(rs: Ruleset, per_adrg: int, rng: np.random.Generator) -> pl.DataFrame:
    t = rs.tables
    lists = (t["adrg_codes"].group_by("adrg", "variant", "list")
             .agg(pl.col("code").sort()))
    by_key = {(a, v, li): codes for a, v, li, codes in lists.iter_rows()}
    mdc_dx = {m: codes for m, codes in t["mdc_principal_dx"].group_by("mdc")
              .agg(pl.col("dx_code").sort()).iter_rows()}
    medical_dx: dict[str, set[str]] = {}
    for a, v, mdc, section in t["adrg"].select("adrg", "variant", "mdc", "section").iter_rows():
        if section == "medical":
            medical_dx.setdefault(mdc, set()).update(by_key.get((a, v, "dx"), []))
    or_codes = sorted(set(t["or_procedures"]["px_code"]))
    regions = {r: sorted(c) for r, c in t["trauma_region_dx"].group_by("region")
               .agg(pl.col("dx_code")).iter_rows()}
    region_of = dict(t["trauma_region_dx"].iter_rows())
    rows: list[tuple[object, ...]] = []
    for r in t["adrg"].sort("mdc", "order_in_mdc").iter_rows(named=True):
        a, v, mdc, kind = r["adrg"], r["variant"], r["mdc"], r["rule_kind"]

        def own(li: str, a: str = a, v: int = v) -> list[str]:
            codes: list[str] = by_key.get((a, v, li), [])
            return codes

        mdc_list = mdc_dx.get(mdc, [])
        natural = sorted(set(mdc_list) & medical_dx.get(mdc, set())) or mdc_list
        kinds = set(kind.split("+"))
        if {"principal_dx", "any_dx"} & kinds and own("dx"):
            dxs = _pick(own("dx"), per_adrg, rng)
        elif mdc == "MDCA":
            dxs = _pick(sorted(set().union(*medical_dx.values())), per_adrg, rng)
        else:
            dxs = _pick(natural, per_adrg, rng)
        if "principal_px" in kinds or "any_px" in kinds:
            px1 = _pick(own("px"), per_adrg, rng)
            second = _pick(own("px1"), per_adrg, rng) if "any_px1" in kinds else []
            pxs = [[p, *([second[i]] if second else [])] for i, p in enumerate(px1)]
        elif "px_groups" in kinds:
            first = (r["px_group_expr"] or "1").split("|")[0].split("+")
            groups = [_pick(own(f"px_g{g}"), per_adrg, rng) for g in first]
            pxs = [[g[i] for g in groups if g] for i in range(per_adrg)]
        elif "principal_px_is_or" in kinds:
            pxs = [[p] for p in _pick(or_codes, per_adrg, rng)]
        else:
            pxs = [[] for _ in range(per_adrg)]
        pxs = [list(x) for x in pxs]
        for dx, px in zip(dxs, pxs, strict=False):
            extra: list[str] = []
            if mdc == "MDCZ":  # multiple trauma: two more injured body regions
                others = sorted(set(regions) - {region_of.get(dx)})
                for reg in rng.choice(others, size=2, replace=False):
                    extra.append(str(rng.choice(regions[reg])))
            rows.append((a, mdc, r["section"], dx, extra, px, r["weight_min_g"],
                         r["weight_max_g"], r["age_days_max"]))
    return pl.DataFrame(rows, orient="row", schema={
        "adrg": pl.String, "mdc": pl.String, "section": pl.String, "dx": pl.String,
        "dx_extra": pl.List(pl.String), "px": pl.List(pl.String), "weight_min_g": pl.Int64, "weight_max_g": pl.Int64,
        "age_days_max": pl.Int64})


def _probe(cand: pl.DataFrame, sex: int, rs: Ruleset) -> pl.Series:
    weight = (pl.when(pl.col("weight_min_g").is_not_null() & pl.col("weight_max_g").is_not_null())
              .then((pl.col("weight_min_g") + pl.col("weight_max_g")) // 2)
              .when(pl.col("weight_max_g").is_not_null()).then(pl.col("weight_max_g") - 300)
              .when(pl.col("weight_min_g").is_not_null()).then(pl.col("weight_min_g") + 500)
              .otherwise(3200))
    cases = cand.with_row_index("i").select(
        pl.col("i").cast(pl.String).alias("case_id"), pl.lit(sex).alias("sex"),
        pl.when(pl.col("mdc") == "MDCP").then(0).when(pl.col("mdc") == "MDCO").then(28)
        .otherwise(45).alias("age"),
        pl.when(pl.col("mdc") == "MDCP").then(3).alias("age_days"),
        pl.when(pl.col("mdc") == "MDCP").then(weight).alias("birth_weight"),
        pl.concat_list(pl.col("dx"), pl.col("dx_extra")).alias("diagnoses"), pl.col("px").alias("procedures"),
        pl.lit(5).alias("los"))
    out = group_drg(cases, rs)
    return (out["status"] == "ok") & (out["adrg"] == cand["adrg"])


def _pool(codes: pl.Series, salt: int, size: int) -> np.ndarray:
    return _stable_order(codes.unique(), salt).head(size).to_numpy().astype(object)


def build_templates(rs: Ruleset, *, per_adrg: int, mix_seed: int) -> Templates:
    rng = np.random.default_rng(mix_seed)
    cand = _candidates(rs, per_adrg, rng)
    male, female = _probe(cand, 1, rs), _probe(cand, 2, rs)
    frame = (cand.with_columns(male_ok=male, female_ok=female)
             # asterisk (manifestation) codes are not coded as principal diagnosis
             .filter((pl.col("male_ok") | pl.col("female_ok")) & ~pl.col("dx").str.ends_with("*"))
             .unique(["adrg", "dx", "px"], keep="first", maintain_order=True))
    t = rs.tables
    frame = frame.join(t["cc_exclusion"].rename({"principal_dx_code": "dx"}), on="dx",
                       how="left", maintain_order="left").unique(
        ["adrg", "dx", "px"], keep="first", maintain_order=True)
    newborn_dx = t["mdc_principal_dx"].filter(pl.col("mdc") == "MDCP")["dx_code"]
    frame = frame.with_columns(infant_ok=~pl.col("dx").is_in(newborn_dx.implode())).sort(
        "mdc", "adrg", maintain_order=True)
    adrgs = (frame.with_row_index("i").group_by("adrg", maintain_order=True)
             .agg(pl.col("mdc").first(), pl.col("section").first(), pl.col("i").min()
                  .alias("start"), pl.len().alias("count"), pl.col("weight_min_g").first(),
                  pl.col("weight_max_g").first()))

    # codes that move a case when present anywhere: MDC entry by any dx, trauma regions,
    # newborn/HIV principal lists, any_dx ADRG lists
    any_dx_adrgs = t["adrg"].filter(pl.col("rule_kind").str.contains("any_dx"))["adrg"]
    movers = pl.concat([
        t["mdc_principal_dx"].filter(pl.col("mdc").is_in(["MDCP", "MDCY", "MDCZ"]))["dx_code"],
        t["trauma_region_dx"]["dx_code"],
        t["adrg_codes"].filter(pl.col("adrg").is_in(any_dx_adrgs.implode())
                               & (pl.col("list") == "dx"))["code"]]).unique()
    usable = t["icd10"].filter(
        pl.col("code").str.contains(BASE_CODE.pattern)
        & ~pl.col("code").str.contains(EXCLUDED_SECONDARY.pattern)
        & ~pl.col("code").is_in(movers.implode()))["code"]
    mcc = t["mcc"].filter(pl.col("dx_code").is_in(usable.implode()))
    cc = t["cc"].filter(pl.col("dx_code").is_in(usable.implode()))
    mcc_codes = _pool(mcc["dx_code"], mix_seed + 1, POOL_SIZE["mcc"])
    cc_codes = _pool(cc["dx_code"], mix_seed + 2, POOL_SIZE["cc"])
    table_of = dict(zip(pl.concat([mcc["dx_code"], cc["dx_code"]]),
                        pl.concat([mcc["exclusion_table"], cc["exclusion_table"]]), strict=True))
    plain = _pool(usable.filter(~usable.is_in(pl.concat([t["mcc"]["dx_code"],
                                                          t["cc"]["dx_code"]]).implode())),
                  mix_seed + 3, POOL_SIZE["plain"])
    px_lists = t["adrg_codes"].filter(pl.col("list").str.starts_with("px"))["code"]
    non_or = t["icd9cm3"]["code"].filter(
        ~t["icd9cm3"]["code"].is_in(t["or_procedures"]["px_code"].implode())
        & ~t["icd9cm3"]["code"].is_in(px_lists.implode())
        & ~t["icd9cm3"]["code"].is_in(t["mdc_entry_px"]["px_code"].implode()))
    return Templates(
        frame=frame, adrgs=adrgs,
        mcc=mcc_codes, mcc_table=np.array([table_of[c] for c in mcc_codes], dtype=object),
        cc=cc_codes, cc_table=np.array([table_of[c] for c in cc_codes], dtype=object),
        plain=plain, non_or_px=_pool(non_or, mix_seed + 4, POOL_SIZE["px"]),
        or_px=_pool(t["or_procedures"]["px_code"], mix_seed + 5, POOL_SIZE["px"]),
        principal_table=frame["exclusion_table"].fill_null("").to_numpy().astype(object))
