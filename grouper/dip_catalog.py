"""The DIP catalogue (病种目录) as data: groups with scores, and the auxiliary catalogue.

A catalogue is two tables plus a few parameters. `groups` has one row per group:

| column | meaning |
|---|---|
| dip_code | group code, unique |
| dip_type | core, comprehensive, basic, tcm, day_surgery, fallback |
| principal_dx | ICD-10 prefix the principal diagnosis must start with (亚目 for core groups, 类目 for comprehensive groups) |
| procedures | combination: `+` all-of, `/` any-of, codes match by prefix; empty = conservative (no procedure) |
| treatment_class | comprehensive groups: conservative, diagnostic, therapeutic, surgical |
| name, score, mean_cost, n_cases, cv, avg_los, ref_code | name, score (4 dp), the history behind it (mean cost, cases, CV, average length of stay), the group whose score a tcm/day-surgery group copies |

`fallback` groups (兜底病种, an imported catalogue's `CPnn` × treatment class rows and its `KBBZ`
catch-all) take the cases no core or comprehensive group fits: `principal_dx` is the chapter key
(`CP01`, ICD-10 chapter I) with a treatment class, or empty for the catch-all.

`aux` has (dip_code, dimension, level, coef, n_cases); `dip_code = "*"` rows are region-wide
coefficients used when a group has none of its own. Reference levels (no adjustment) are not stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from grouper.dip_codes import (
    DX_PATTERN,
    FULL_PX_LENGTH,
    dx_normalised,
    format_combination,
    is_px_code,
    parse_combination,
    px_one,
)
from grouper.dip_errors import DipCatalogCode, DipCatalogError, duplicate_reason
from grouper.dip_procedure_class import CLASSES, load_procedure_classes

DIP_TYPES = ("core", "comprehensive", "basic", "tcm", "day_surgery", "fallback")
FALLBACK_DX = r"^CP[0-9]{2}$"  # ICD-10 chapter key of a fallback group (CP01 = chapter I)
# aux_combine="priority" takes the first adjusted dimension in this order (payment-rules §3.2:
# tumour > CCI > age; severity typing sits after tumour, a project choice documented in docs/dip.md).
AUX_DIMENSIONS = ("tumour", "severity", "cci", "age")
AUX_LEVELS: dict[str, tuple[str, ...]] = {
    "tumour": ("none", "radiochemo", "metastasis"),
    "severity": ("mild", "moderate", "severe", "death"),
    "cci": ("0", "1", "2", "3"),
    "age": ("adult", "neonate", "infant", "child", "adolescent", "elderly"),
}
AUX_REFERENCE = {dim: levels[0] for dim, levels in AUX_LEVELS.items()}
AUX_COMBINE = ("max", "priority")
ALL_GROUPS = "*"

GROUP_SCHEMA: dict[str, Any] = {
    "dip_code": pl.String, "dip_type": pl.String, "principal_dx": pl.String,
    "procedures": pl.String, "treatment_class": pl.String, "name": pl.String,
    "score": pl.Float64, "mean_cost": pl.Float64, "n_cases": pl.Int64, "cv": pl.Float64,
    "ref_code": pl.String, "avg_los": pl.Float64,
}
AUX_SCHEMA: dict[str, Any] = {
    "dip_code": pl.String, "dimension": pl.String, "level": pl.String, "coef": pl.Float64,
    "n_cases": pl.Int64,
}
MATCH_PRECEDENCE = {"day_surgery": 0, "tcm": 1, "core": 2, "basic": 2}


def conform(frame: pl.DataFrame, schema: dict[str, Any]) -> pl.DataFrame:
    """The schema's columns in order, missing ones null, types cast."""
    return frame.select([
        (pl.col(c).cast(t, strict=False) if c in frame.columns else pl.lit(None, t)).alias(c)
        for c, t in schema.items()])


def group_row_problems(row: dict[str, Any]) -> list[tuple[str, object, str]]:
    """(column, value, reason) for everything wrong with one group row (normalised dx)."""
    problems: list[tuple[str, object, str]] = []
    if not row.get("dip_code"):
        problems.append(("dip_code", row.get("dip_code"), "empty"))
    kind = row.get("dip_type")
    if kind not in DIP_TYPES:
        problems.append(("dip_type", kind, f"accepted: {', '.join(DIP_TYPES)}"))
    dx = row.get("principal_dx") or ""
    score = row.get("score")
    if kind == "fallback":
        problems += _fallback_problems(row, dx)
    elif not re.match(DX_PATTERN, dx):
        problems.append(("principal_dx", row.get("principal_dx"),
                         "not an ICD-10 code or prefix"))
    if score is None or not score >= 0:
        problems.append(("score", score, "a score >= 0 is required"))
    if kind == "fallback":
        return problems
    try:
        combo = parse_combination(row.get("procedures"))
    except ValueError as exc:
        problems.append(("procedures", row.get("procedures"), str(exc)))
        combo = ()
    if kind == "comprehensive":
        if row.get("treatment_class") not in CLASSES:
            problems.append(("treatment_class", row.get("treatment_class"),
                             f"accepted: {', '.join(CLASSES)}"))
        if len(dx) != 3:
            problems.append(("principal_dx", dx,
                             "a comprehensive group is keyed by a 3-character 类目"))
    if kind == "day_surgery" and not combo and not problems:
        problems.append(("procedures", row.get("procedures"),
                         "a day-surgery group needs a procedure combination"))
    return problems


def _fallback_problems(row: dict[str, Any], dx: str) -> list[tuple[str, object, str]]:
    """A fallback row: the catch-all (no principal_dx, no class) or `CPnn` × treatment class."""
    problems: list[tuple[str, object, str]] = []
    if dx and not re.match(FALLBACK_DX, dx):
        problems.append(("principal_dx", row.get("principal_dx"),
                         "a fallback group is keyed by an ICD-10 chapter CP01–CP22, or empty"))
    if dx and row.get("treatment_class") not in CLASSES:
        problems.append(("treatment_class", row.get("treatment_class"),
                         f"accepted: {', '.join(CLASSES)}"))
    if row.get("procedures"):
        problems.append(("procedures", row.get("procedures"),
                         "a fallback group has no procedure combination"))
    return problems


def checked_ignored(codes: Any) -> tuple[str, ...]:
    """The ignored operations as sorted, unique ICD-9-CM-3 codes in their published spelling."""
    out = set()
    for code in codes or ():
        text = px_one(str(code))
        if not is_px_code(text):
            raise DipCatalogError(f"ignored operation {code!r}: not an ICD-9-CM-3 code")
        out.add(text)
    return tuple(sorted(out))


def is_ignored(code: str, ignored: tuple[str, ...]) -> bool:
    """`code` is an ignored operation: equal to one, or starting with an ignored stem."""
    return any(code == i or (len(i) < FULL_PX_LENGTH and code.startswith(i)) for i in ignored)


GroupKey = tuple[DipCatalogCode, str, tuple[Any, ...], tuple[str, ...]]


def group_key(row: dict[str, Any]) -> GroupKey | None:
    """(code, column, key, shown value) no two groups may share, for a row without problems
    (normalised dx): a comprehensive group is the only one of its 类目 × treatment class; a
    matchable group the only one of its precedence (core and basic compete as equals) with its
    principal_dx and canonical combination (`+`/`/` order never matters) — two such groups could
    only be told apart by their codes."""
    kind, dx = row["dip_type"], row["principal_dx"]
    if kind == "fallback":
        tclass = str(row["treatment_class"] or "") if dx else ""
        return (DipCatalogCode.DUPLICATE_COMPREHENSIVE, "principal_dx+treatment_class",
                ("fallback", dx or "", tclass), (dx or "", tclass))
    if kind == "comprehensive":
        return (DipCatalogCode.DUPLICATE_COMPREHENSIVE, "principal_dx+treatment_class",
                (dx, row["treatment_class"]), (dx, row["treatment_class"]))
    if kind not in MATCH_PRECEDENCE:
        return None
    combo = format_combination(parse_combination(row["procedures"]))
    return (DipCatalogCode.DUPLICATE_MATCH, "principal_dx+procedures",
            (MATCH_PRECEDENCE[kind], dx, combo), (dx, combo))


def _fail(table: str, row: int, column: str, value: object, why: str, *,
          code: str | None = None) -> DipCatalogError:
    return DipCatalogError(f"DIP catalogue {table} row {row + 1}: {column}={value!r}: {why}",
                           code=code)


def _duplicate(table: str, row: int, column: str, value: object, code: DipCatalogCode,
               first: int) -> DipCatalogError:
    return _fail(table, row, column, value, duplicate_reason(code, first + 1), code=code.value)


@dataclass
class DipCatalog:
    """Groups, auxiliary coefficients and the parameters grouping needs. Checked on creation:
    every row, and one row per key (`group_key`, aux dip_code × dimension × level)."""

    groups: pl.DataFrame
    aux: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=AUX_SCHEMA))
    score_scale: float = 1000.0
    aux_combine: str = "max"
    ruleset: str = "chs_drg_11"
    severity_min_los: int = 3
    version: str | None = None
    # operations that do not count for grouping (simple diagnostics, infusions: 99.18, chest CT),
    # removed from every case before matching; a full code takes itself, a stem (shorter than
    # `NN.NNNN`) every code it starts with
    ignored_procedures: tuple[str, ...] = ()
    # the region's operation-class table (a file path; "" = the shipped one), see
    # grouper.dip_procedure_class
    procedure_classes: str = ""
    terms: pl.DataFrame = field(init=False, repr=False)
    matchable: pl.DataFrame = field(init=False, repr=False)
    comprehensive: pl.DataFrame = field(init=False, repr=False)
    fallback: pl.DataFrame = field(init=False, repr=False)
    dx_lengths: tuple[int, ...] = field(init=False, repr=False)
    term_lengths: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ignored_procedures = checked_ignored(self.ignored_procedures)
        self.procedure_classes = str(self.procedure_classes or "")
        load_procedure_classes(self.procedure_classes)  # a missing or bad table fails here
        self.groups = self._checked_groups(conform(self.groups, GROUP_SCHEMA))
        self.aux = self._checked_aux(conform(self.aux, AUX_SCHEMA))
        if self.aux_combine not in AUX_COMBINE:
            raise DipCatalogError(f"aux_combine={self.aux_combine!r}; accepted: "
                                  f"{', '.join(AUX_COMBINE)}")
        self._compile()

    def _checked_groups(self, g: pl.DataFrame) -> pl.DataFrame:
        g = g.with_columns(dx_normalised(pl.col("principal_dx")).alias("principal_dx"),
                           pl.col("dip_code").str.strip_chars())
        seen: dict[str, int] = {}
        keys: dict[tuple[Any, ...], int] = {}
        canonical = []
        for i, row in enumerate(g.iter_rows(named=True)):
            problems = group_row_problems(row)
            if problems:
                raise _fail("groups", i, *problems[0])
            if row["dip_code"] in seen:
                raise _duplicate("groups", i, "dip_code", row["dip_code"],
                                 DipCatalogCode.DUPLICATE_CODE, seen[row["dip_code"]])
            seen[row["dip_code"]] = i
            found = group_key(row)
            if found is not None:
                code, column, key, shown = found
                if key in keys:
                    raise _duplicate("groups", i, column, shown, code, keys[key])
                keys[key] = i
            canonical.append(format_combination(parse_combination(row["procedures"])))
        return g.with_columns(pl.Series("procedures", canonical, dtype=pl.String),
                              pl.col("score").round(4))

    def _checked_aux(self, a: pl.DataFrame) -> pl.DataFrame:
        codes = set(self.groups["dip_code"]) | {ALL_GROUPS}
        keys: dict[tuple[str, str, str], int] = {}
        for i, row in enumerate(a.iter_rows(named=True)):
            if row["dip_code"] not in codes:
                raise _fail("aux", i, "dip_code", row["dip_code"], "not a group of the catalogue")
            levels = AUX_LEVELS.get(row["dimension"])
            if levels is None:
                raise _fail("aux", i, "dimension", row["dimension"],
                            f"accepted: {', '.join(AUX_DIMENSIONS)}")
            if row["level"] not in levels[1:]:
                raise _fail("aux", i, "level", row["level"],
                            f"accepted for {row['dimension']}: {', '.join(levels[1:])}")
            if row["coef"] is None or row["coef"] <= 0:
                raise _fail("aux", i, "coef", row["coef"], "a coefficient > 0 is required")
            key = (row["dip_code"], row["dimension"], row["level"])
            if key in keys:
                raise _duplicate("aux", i, "dip_code+dimension+level", key,
                                 DipCatalogCode.DUPLICATE_AUX, keys[key])
            keys[key] = i
        return a.with_columns(pl.col("coef").round(4))

    def _compile(self) -> None:
        g = self.groups
        exploded = (g.filter(pl.col("procedures") != "")
                    .select("dip_code", pl.col("procedures").str.split("+").alias("term"))
                    .with_columns(pl.int_ranges(pl.col("term").list.len(), dtype=pl.Int32)
                                  .alias("term_idx"))
                    .explode("term", "term_idx"))
        self.terms = (exploded.select("dip_code", "term_idx",
                                      pl.col("term").str.split("/").alias("code"))
                      .explode("code").unique())
        n_terms = exploded.group_by("dip_code").agg(pl.len().cast(pl.Int32).alias("n_terms"))
        n_alts = self.terms.group_by("dip_code").agg(pl.len().cast(pl.Int32).alias("n_alts"))
        self.matchable = (g.filter(~pl.col("dip_type").is_in(["comprehensive", "fallback"]))
                          .select("dip_code", "dip_type", "principal_dx", "score", "mean_cost")
                          .join(n_terms, on="dip_code", how="left")
                          .join(n_alts, on="dip_code", how="left")
                          .with_columns(pl.col("n_terms", "n_alts").fill_null(0),
                                        pl.col("principal_dx").str.len_chars().cast(pl.Int32)
                                        .alias("dx_len"),
                                        pl.col("dip_type").replace_strict(
                                            MATCH_PRECEDENCE, return_dtype=pl.Int8)
                                        .alias("precedence")))
        self.comprehensive = g.filter(pl.col("dip_type") == "comprehensive").select(
            pl.col("principal_dx").alias("category"), "treatment_class", "dip_code")
        self.fallback = g.filter(pl.col("dip_type") == "fallback").select(
            pl.col("principal_dx").fill_null("").alias("chapter"),
            pl.when(pl.col("principal_dx").fill_null("") != "").then(pl.col("treatment_class"))
            .alias("treatment_class"), "dip_code")
        self.dx_lengths = tuple(sorted(set(self.matchable["dx_len"].to_list())))
        self.term_lengths = tuple(sorted(set(self.terms["code"].str.len_chars().to_list())))

    def summary(self) -> dict[str, Any]:
        by_type = dict(self.groups.group_by("dip_type").len().iter_rows())
        return {"version": self.version, "groups": self.groups.height, "by_type": by_type,
                "aux_rows": self.aux.height, "score_scale": self.score_scale,
                "aux_combine": self.aux_combine, "ruleset": self.ruleset}
