"""DIP catalogue construction from history (病种分值测算, payment-rules §3.1–3.2, §3.6).

1. Natural combinations: principal diagnosis 亚目 × the sorted set of procedures performed;
   those with n ≥ `core_threshold` become core groups (the no-procedure combination becomes the
   conservative core group). Core conservative groups on the shipped basic-level list
   (`grouper/dip_data/basic_groups.csv`) are basic groups (基层病种).
2. Comprehensive groups: 类目 × treatment class for every pair the history shows.
3. The history is grouped with `grouper.group_dip` against that catalogue, so a case's group in
   the build is exactly its group when paid.
4. Per group: year-weighted (default 1:2:7, oldest → newest) mean cost of the cases kept after
   trimming (iqr | log_sd | pct | none); `M` = the year-weighted mean over all grouped cases of
   their group's mean, so that the case-weighted mean score of the history equals
   `score_scale`; `score = mean / M × score_scale` (4 dp); CV flagged > 1.
5. Auxiliary coefficients: cost of the cases at a level of a dimension / their group's mean, per
   group when n ≥ `aux_min_cases`, and region-wide ("*") from all groups.
6. TCM groups (`tcm_groups.csv`) take the score of the western treatment of the same disease
   (同病同效同分值): the group a case with that diagnosis and the western procedures falls into.
   Day-surgery groups (`day_surgery.csv`) take `day_surgery_score_ratio` × the inpatient group's
   score. Entries whose reference group does not exist are skipped and reported.
7. Same-level mean costs (`weights.level_costs`, shared with the DRG build; payment-rules §3.3):
   when the cases' hospital level is known (a `hospital_level` column, or `hospitals` given to
   `build_dip_catalog`), the year-weighted mean cost per (group, level) of the cases kept for
   the group's mean — stored with the version in `dip_level_costs`. TCM and day-surgery groups
   have none of their own: settlement reads their reference group's (`ref_code`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

import polars as pl

from grouper.case_input import CaseTable, to_frame
from grouper.dip import (
    assign,
    explode_dx,
    explode_px,
    prepare_dip_cases,
    resolve_ruleset,
    treatment_ranks,
)
from grouper.dip_aux import LEVEL_COLUMNS, aux_levels
from grouper.dip_catalog import ALL_GROUPS, AUX_REFERENCE, DipCatalog
from grouper.dip_codes import format_combination, parse_combination, subcategory
from grouper.dip_errors import DipCatalogError
from grouper.dip_procedure_class import CLASSES, class_of_rank
from grouper.errors import InputError
from grouper.ruleset import load_ruleset
from weights.exact_means import CTX, cv_of, exact_sums, half_up_float, weighted_mean_yuan
from weights.level_costs import case_levels, level_means
from weights.trimming import TRIM_METHODS, keep_expr, trim_bounds

CLASS_LETTER = {"conservative": "B", "diagnostic": "D", "therapeutic": "T", "surgical": "S"}
CLASS_NAME = {"conservative": "保守治疗", "diagnostic": "诊断性操作", "therapeutic": "治疗性操作",
              "surgical": "手术"}


@dataclass(frozen=True)
class DipBuildParams:
    """Parameters of the build; every one is named in payment-rules §3 ([N] or [T])."""

    core_threshold: int = 15
    score_scale: float = 1000.0
    year_weights: tuple[float, ...] = (1.0, 2.0, 7.0)
    trim_method: str = "iqr"
    aux_min_cases: int = 10
    aux_combine: str = "max"
    day_surgery_score_ratio: float = 1.0
    severity_min_los: int = 3
    ruleset: str = "chs_drg_11"

    def __post_init__(self) -> None:
        if self.trim_method not in TRIM_METHODS:
            raise DipCatalogError(f"trim_method={self.trim_method!r}; accepted: "
                                  f"{', '.join(TRIM_METHODS)}")
        if self.core_threshold < 1:
            raise DipCatalogError(f"core_threshold={self.core_threshold}; must be >= 1")
        if self.score_scale <= 0 or not self.year_weights or min(self.year_weights) <= 0:
            raise DipCatalogError("score_scale and year_weights must be positive")


@dataclass
class DipBuild:
    catalog: DipCatalog
    report: dict[str, Any] = field(default_factory=dict)
    # (dip_code, level, mean_cost, n_cases, n_kept); empty when no case's level is known
    level_costs: pl.DataFrame | None = None


@lru_cache(maxsize=4)
def _shipped(name: str) -> pl.DataFrame:
    raw = resources.files("grouper").joinpath("dip_data", name).read_bytes()
    return pl.read_csv(raw, infer_schema_length=0).with_columns(pl.all().fill_null(""))


def _year_weight(frame: pl.DataFrame, weights: tuple[float, ...]) -> pl.Expr:
    """Case weight by the year's rank: the newest year gets the last weight (1:2:7 → 7)."""
    if "year" in frame.columns:
        year = pl.col("year").cast(pl.Int64, strict=False)
    elif "discharge_date" in frame.columns:
        year = pl.col("discharge_date").cast(pl.String).str.slice(0, 4).cast(pl.Int64,
                                                                             strict=False)
    else:
        return pl.lit(weights[-1]).alias("w")
    years = sorted({y for y in frame.select(year.alias("y"))["y"].to_list() if y is not None})
    back = {y: weights[max(0, len(weights) - len(years) + i)] for i, y in enumerate(years)}
    return year.replace_strict(back, default=weights[-1], return_dtype=pl.Float64).alias("w")


def _history(history: CaseTable | list[dict[str, Any]], params: DipBuildParams,
             hospitals: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """The usable typed cases (with cost, w and the hospital's normalised level), their
    procedures exploded, and the number of input cases."""
    frame = to_frame(history)
    if "total_cost" not in frame.columns:
        raise InputError("history needs a total_cost column (医疗总费用)")
    typed = prepare_dip_cases(frame).with_columns(
        frame.select(pl.col("total_cost").cast(pl.Float64, strict=False).alias("cost"),
                     _year_weight(frame, params.year_weights)).get_columns()
        + [case_levels(frame, hospitals).alias("level")])
    usable = typed.filter(pl.col("error_code").is_null() & (pl.col("cost") > 0))
    px = explode_px(usable)
    usable = usable.join(treatment_ranks(usable, px), on="_row")
    return usable, px, typed.height


def _names(ruleset: str) -> pl.DataFrame:
    icd = load_ruleset(ruleset).tables["icd10"].sort("code")
    return pl.concat([icd.select(pl.col("code").str.slice(0, n).alias("key"), "name")
                      .unique("key", keep="first") for n in (3, 5)]).unique("key", keep="first")


def _canonical(text: str) -> str | None:
    """The catalogue's canonical text of a combination; None when it cannot be one."""
    try:
        return format_combination(parse_combination(text))
    except ValueError:
        return None


def _structure(usable: pl.DataFrame, params: DipBuildParams) -> tuple[pl.DataFrame, int]:
    """Core, basic and comprehensive group rows (no scores yet), and the number of cases whose
    procedures cannot be read as a combination (a code with `/`, `+` or other characters).

    Combinations are keyed by the catalogue's canonical text, so procedure codes written with
    `/` or `+` inside never give two groups that `DipCatalog` would refuse as duplicates."""
    texts = usable.select(
        subcategory(pl.col("dx0")).alias("principal_dx"),
        pl.col("procedures").list.unique().list.sort().list.join("+").alias("text"))
    canonical = {t: _canonical(t) for t in texts["text"].unique().to_list()}
    combos = texts.select("principal_dx", pl.col("text").replace_strict(
        canonical, return_dtype=pl.String).alias("procedures"))
    unreadable = combos["procedures"].null_count()
    core = (combos.drop_nulls("procedures").group_by("principal_dx", "procedures").len()
            .filter(pl.col("len") >= params.core_threshold)
            .sort(["principal_dx", pl.col("procedures") != "", "len", "procedures"],
                  descending=[False, False, True, False])
            .with_columns(pl.int_range(pl.len()).over("principal_dx").alias("seq")))
    basic = _shipped("basic_groups.csv")
    on_list = pl.any_horizontal(*(pl.col("principal_dx").str.starts_with(p)
                                  & (pl.col("procedures") == pr)
                                  for p, pr in basic.select("principal_dx", "procedures").rows()))
    core = core.select(
        (pl.col("principal_dx").str.replace(".", "", literal=True)
         + pl.col("seq").cast(pl.String).str.zfill(3)).alias("dip_code"),
        pl.when(on_list).then(pl.lit("basic")).otherwise(pl.lit("core")).alias("dip_type"),
        "principal_dx", "procedures", pl.lit(None, pl.String).alias("treatment_class"))
    comp = (usable.select(pl.col("cat").alias("principal_dx"),
                          class_of_rank(pl.col("class_rank")).alias("treatment_class"))
            .unique()
            .select((pl.col("principal_dx") + pl.lit("Z")
                     + pl.col("treatment_class").replace_strict(CLASS_LETTER)).alias("dip_code"),
                    pl.lit("comprehensive").alias("dip_type"), "principal_dx",
                    pl.lit("").alias("procedures"), "treatment_class"))
    return pl.concat([core, comp]).with_columns(pl.lit(0.0).alias("score")), unreadable


def _kept(cases: pl.DataFrame, params: DipBuildParams) -> pl.DataFrame:
    """The cases inside their group's trimming bounds (weights.trimming, shared with DRG)."""
    bounds = trim_bounds(cases.lazy(), "dip_code", "cost", params.trim_method).collect()
    return cases.join(bounds, on="dip_code").filter(keep_expr("cost")).drop("lo", "hi")


def _opt_float(value: Decimal | None, dp: int) -> float | None:
    return None if value is None else half_up_float(value, dp)


def _scores(cases: pl.DataFrame, kept: pl.DataFrame, params: DipBuildParams
            ) -> tuple[pl.DataFrame, float]:
    """(dip_code, score, mean_cost, n_cases, cv) and M from the grouped and the kept cases, in
    exact sums (`weights.exact_means`): the same history gives the same bits every run."""
    sums = exact_sums(kept, ["dip_code"]).to_dicts()
    weights = {r["dip_code"]: r for r in exact_sums(cases, ["dip_code"]).to_dicts()}
    means: dict[str, Decimal] = {}
    for r in sums:
        mean = weighted_mean_yuan(r["swc"], r["sw"])
        if mean is not None:
            means[r["dip_code"]] = mean
    cvs = {r["dip_code"]: cv_of(r["n"], r["s1"], r["s2"]) for r in sums}
    codes = sorted(means)
    num = sum((Decimal(weights[c]["sw"]) * means[c] for c in codes), Decimal(0))
    den = sum((Decimal(weights[c]["sw"]) for c in codes), Decimal(0))
    m_all = CTX.divide(num, den) if den else Decimal(1)
    scale = Decimal(str(params.score_scale))
    rows = [{"dip_code": c,
             "score": half_up_float(CTX.multiply(CTX.divide(means[c], m_all), scale), 4),
             "mean_cost": half_up_float(means[c], 2), "n_cases": weights[c]["n"],
             "cv": _opt_float(cvs[c], 4)} for c in codes]
    frame = pl.DataFrame(rows, schema={"dip_code": pl.String, "score": pl.Float64,
                                       "mean_cost": pl.Float64, "n_cases": pl.Int64,
                                       "cv": pl.Float64})
    return frame, float(m_all)


def _aux(kept: pl.DataFrame, levels: pl.DataFrame, groups: pl.DataFrame,
         params: DipBuildParams) -> pl.DataFrame:
    kept = kept.drop("level", strict=False).join(groups.select("dip_code", "mean_cost"),
                                                 on="dip_code")
    long = (kept.join(levels, on="_row")
            .unpivot(index=["_row", "dip_code", "cost", "w", "mean_cost"],
                     on=list(LEVEL_COLUMNS.values()), variable_name="column",
                     value_name="level")
            .with_columns(pl.col("column").replace_strict(
                {v: k for k, v in LEVEL_COLUMNS.items()}).alias("dimension"))
            .filter(pl.col("level") != pl.col("dimension").replace_strict(AUX_REFERENCE)))
    return _aux_coefs(long, params)


def _aux_coefs(long: pl.DataFrame, params: DipBuildParams) -> pl.DataFrame:
    """coef = Σ w·cost/mean / Σ w per (group, dimension, level) and region-wide per (dimension,
    level), from exact sums (`weights.exact_means`), rounded half-up to 4 dp."""
    sums = exact_sums(long, ["dip_code", "dimension", "level"]).join(
        long.select("dip_code", "mean_cost").unique("dip_code"), on="dip_code").to_dicts()
    rows: list[dict[str, Any]] = []
    region: dict[tuple[str, str], tuple[Decimal, Decimal, int]] = {}
    for r in sums:
        mean_fen = Decimal(str(r["mean_cost"])) * 100
        part = CTX.divide(Decimal(r["swc"]), mean_fen)  # Σ w4·cost/mean
        if r["n"] >= params.aux_min_cases:
            rows.append({"dip_code": r["dip_code"], "dimension": r["dimension"],
                         "level": r["level"], "coef": CTX.divide(part, Decimal(r["sw"])),
                         "n_cases": r["n"]})
        key = (r["dimension"], r["level"])
        acc = region.get(key, (Decimal(0), Decimal(0), 0))
        region[key] = (acc[0] + part, acc[1] + Decimal(r["sw"]), acc[2] + r["n"])
    for (dim, level), (part, sw, n) in sorted(region.items()):
        if n >= params.aux_min_cases:
            rows.append({"dip_code": ALL_GROUPS, "dimension": dim, "level": level,
                         "coef": CTX.divide(part, sw), "n_cases": int(n)})
    for r in rows:
        r["coef"] = half_up_float(r["coef"], 4)
    return pl.DataFrame(rows, schema={"dip_code": pl.String, "dimension": pl.String,
                                      "level": pl.String, "coef": pl.Float64,
                                      "n_cases": pl.Int64}).sort("dip_code", "dimension", "level")


def _reference_group(catalog: DipCatalog, dx: str, procedures: str) -> str | None:
    """The inpatient group a case with this diagnosis and these procedures falls into."""
    first_alts = [term[0] for term in parse_combination(procedures)]
    probe = prepare_dip_cases(pl.DataFrame({"case_id": ["ref"], "diagnoses": [[dx]],
                                            "procedures": [first_alts]}))
    px = explode_px(probe)
    probe = probe.join(treatment_ranks(probe, px), on="_row")
    hit = assign(probe, px, catalog)
    return hit["dip_code"].item() if hit.height else None


def _holds(procedures: str) -> pl.Expr:
    """A history case performed the combination (empty: performed no procedure)."""
    combo = parse_combination(procedures)
    if not combo:
        return pl.col("procedures").list.len() == 0
    return pl.all_horizontal(*(
        pl.col("procedures").list.eval(pl.any_horizontal(
            *(pl.element().str.starts_with(alt) for alt in term))).list.any()
        for term in combo))


def _reference(catalog: DipCatalog, history: pl.DataFrame, dx: str, procedures: str
               ) -> tuple[str, float] | None:
    """The western/inpatient reference of a TCM or day-surgery entry: the case-weighted mean
    score of the history cases with that diagnosis and those procedures (their most frequent
    group as `ref_code`); without such cases, the group a case like that falls into."""
    scores = catalog.groups.select("dip_code", "score")
    like = (history.filter(pl.col("dx0").str.starts_with(dx) & _holds(procedures))
            .join(scores, on="dip_code"))
    if like.height:
        top = like.group_by("dip_code").len().sort(["len", "dip_code"],
                                                    descending=[True, False])
        return top["dip_code"][0], float(like["score"].mean())  # type: ignore[arg-type]
    ref = _reference_group(catalog, dx, procedures)
    if ref is None:
        return None
    return ref, float(scores.filter(pl.col("dip_code") == ref)["score"].item())


def _special_groups(catalog: DipCatalog, history: pl.DataFrame, params: DipBuildParams
                    ) -> tuple[list[dict[str, Any]], list[str]]:
    rows, skipped = [], []
    entries = [("tcm", code, dx, western, "", name, 1.0) for code, dx, western, name in
               _shipped("tcm_groups.csv").select(
                   "tcm_code", "principal_dx", "western_procedures", "name").rows()]
    entries += [("day_surgery", code, dx, procs, procs, name, params.day_surgery_score_ratio)
                for code, dx, procs, name in _shipped("day_surgery.csv").select(
                    "dip_code", "principal_dx", "procedures", "name").rows()]
    for kind, code, dx, reference, own, name, ratio in entries:
        found = _reference(catalog, history, dx, reference)
        if found is None:
            skipped.append(code)
            continue
        rows.append({"dip_code": code, "dip_type": kind, "principal_dx": dx,
                     "procedures": format_combination(parse_combination(own)), "name": name,
                     "score": round(found[1] * ratio, 4), "ref_code": found[0]})
    return rows, skipped


MAX_PASSES = 10


def _settled_assignment(usable: pl.DataFrame, px: pl.DataFrame, draft: DipCatalog,
                        params: DipBuildParams, shape: dict[str, Any]
                        ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame,
                                   float, int]:
    """Group the history, score the groups, and group again with those scores and mean costs
    (the winner order compares a case's cost with the groups' mean costs) until no case moves,
    so a case's build group is its payment group. Refuses a history that does not settle within
    `MAX_PASSES` (a case would pay in another group than the one its cost was counted in)."""
    catalog = draft
    previous: pl.DataFrame | None = None
    for passes in range(1, MAX_PASSES + 1):
        assigned = assign(usable, px, catalog).sort("_row")
        cases = usable.select("_row", "cost", "w", "level").join(assigned, on="_row")
        kept = _kept(cases, params)
        scored, m_all = _scores(cases, kept, params)
        if previous is not None and assigned.equals(previous):
            return assigned, cases, kept, scored, m_all, passes
        previous = assigned
        catalog = DipCatalog(groups=draft.groups.drop("score", "mean_cost", "n_cases", "cv")
                             .join(scored, on="dip_code", how="left")
                             .with_columns(pl.col("score").fill_null(0.0)), **shape)
    raise InputError(f"DIP build: the history's grouping did not settle in {MAX_PASSES} passes "
                     f"(cases keep moving between groups whose mean costs they change)")


def build_dip_catalog(history: CaseTable | list[dict[str, Any]],
                      params: DipBuildParams | None = None, *,
                      version: str | None = None,
                      hospitals: pl.DataFrame | None = None) -> DipBuild:
    """Build a DIP catalogue from history (case columns of contracts §1 plus total_cost and
    optionally year or discharge_date). Returns the catalogue, the same-level mean costs and a
    build report. `hospitals` (hospital_id, level) gives the cases' levels when the history has
    no `hospital_level` column."""
    params = params or DipBuildParams()
    usable, px, n_input = _history(history, params, hospitals)
    if usable.height == 0:
        raise InputError("history has no usable case (valid principal diagnosis and cost > 0)")
    shape: dict[str, Any] = {
        "score_scale": params.score_scale, "aux_combine": params.aux_combine,
        "ruleset": params.ruleset, "severity_min_los": params.severity_min_los,
        "version": version}
    structure, unreadable = _structure(usable, params)
    draft = DipCatalog(groups=structure, **shape)
    assigned, cases, kept, scored, m_all, passes = _settled_assignment(usable, px, draft,
                                                                        params, shape)
    groups = draft.groups.drop("score", "mean_cost", "n_cases", "cv").join(
        scored, on="dip_code").join(_names(params.ruleset).rename({"key": "principal_dx"}),
                                    on="principal_dx", how="left")
    groups = groups.with_columns(
        pl.when(pl.col("dip_type") == "comprehensive")
        .then(pl.col("name").fill_null(pl.col("principal_dx")) + pl.lit(" 综合病种（")
              + pl.col("treatment_class").replace_strict(CLASS_NAME, default="") + pl.lit("）"))
        .otherwise(pl.col("name").fill_null(pl.col("principal_dx")) + pl.lit(" ")
                   + pl.when(pl.col("procedures") == "").then(pl.lit("保守治疗"))
                   .otherwise(pl.col("procedures"))).alias("name"))
    levels = aux_levels(usable, explode_dx(usable), px, resolve_ruleset(draft), draft)
    aux = _aux(kept, levels, groups, params)
    catalog = DipCatalog(groups=groups, aux=aux, **shape)
    special, skipped = _special_groups(
        catalog, usable.join(assigned, on="_row"), params)
    if special:
        catalog = DipCatalog(groups=pl.concat([catalog.groups, pl.DataFrame(special)],
                                              how="diagonal_relaxed"), aux=aux, **shape)
    level_costs = level_means(cases, kept, "dip_code")
    by_type = dict(catalog.groups.group_by("dip_type").len().iter_rows())
    report = {
        "cases_input": n_input, "cases_used": usable.height,
        "cases_skipped": n_input - usable.height, "mean_cost_all": round(m_all, 2),
        "groups": catalog.groups.height, "by_type": by_type,
        "cv_over_1": int(catalog.groups.filter(pl.col("cv") > 1).height),
        "aux_rows": aux.height, "level_cost_rows": level_costs.height,
        "special_skipped": skipped,
        "combinations_unreadable": unreadable, "grouping_passes": passes,
        "classes": {c: int((usable["class_rank"] == i).sum()) for i, c in enumerate(CLASSES)},
    }
    return DipBuild(catalog=catalog, report=report, level_costs=level_costs)
