"""Treatment class of ICD-9-CM-3 procedures for DIP comprehensive groups (综合病种).

DIP pools the cases outside core groups by 类目 × treatment class: conservative (保守治疗, no
procedure), diagnostic procedure (诊断性操作), therapeutic procedure (治疗性操作) and surgery (手术).
The default table `dip_data/procedure_class.csv` covers the 13,686 codes of ruleset `chs_drg_11`'s
`icd9cm3.csv`; `dip_data/procedure_class_chs_drg_20.csv` the 13,767 codes of 医保版 ICD-9-CM-3 2.0
(ruleset `chs_drg_20`, the national CHS-DRG 2.0 tables; a region selects it with
`--procedure-classes`). Both are derived from their ruleset's tables by
`derive_procedure_classes` (rules in order, first hit wins; `basis` names the rule):

1. `or_procedures` — in the ruleset's operating-room list → surgical;
2. `chapter_87_91` — chapters 87–91 (diagnostic radiology, other diagnostic procedures, interview
   and evaluation, microscopic/laboratory examination) → diagnostic;
3. `diagnostic_prefix` — nuclear-medicine scans 92.0/92.1, eye examinations 95.0–95.2 and hearing
   tests 95.4 → diagnostic;
4. `name_keyword` — a name saying examination/biopsy/imaging (检查, 活检, 造影, 诊断性 …) and
   nothing therapeutic (治疗, 切除, 置入 …) → diagnostic;
5. `non_or_default` — everything else (chapters 92–99 radiotherapy, physical therapy, intubation,
   injections, and non-OR codes of 00–86) → therapeutic.

Regenerate with `python -m grouper.dip_procedure_class [RULESET]`; a test keeps the files equal
to the derivation. Codes missing from the table are classed by `basis` rules 2, 3 and 5.

A region replaces the shipped table with its own (`weights import-dip --procedure-classes FILE`,
kept as the catalogue's `procedure_classes` setting naming the file): a CSV/xlsx of the 医保版
ICD-9-CM-3 2.0 operation categories, columns code (手术操作编码) and class (手术操作类别), the class
written 手术 / 介入治疗 / 治疗性操作 / 诊断性操作 or surgical / therapeutic / diagnostic
(`REGION_CLASS_NAMES`). DIP's comprehensive groups know no interventional type, so 介入治疗 is read
as surgery (SS, 相关手术), the most invasive class. Codes the region's table lacks are classed by
the same fallbacks as with the shipped one.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path

import polars as pl

from grouper.errors import InputError

_PX = re.compile(r"^[0-9]{2}\.[0-9A-Za-z]+$")
CLASSES = ("conservative", "diagnostic", "therapeutic", "surgical")
CLASS_RANK = {name: rank for rank, name in enumerate(CLASSES)}
DIAGNOSTIC_PREFIXES = ("92.0", "92.1", "95.0", "95.1", "95.2", "95.4")
DIAGNOSTIC_WORDS = ("检查", "活检", "活组织", "造影", "诊断性", "测定", "监测", "显像", "扫描",
                    "评估", "描记")
THERAPEUTIC_WORDS = ("治疗", "切除", "置入", "修补", "引流", "成形", "栓塞", "取出", "植入",
                     "注射", "灌注", "消融", "扩张", "复位", "固定")
TABLE_FILE = "procedure_class.csv"
# a region's class table: cell → our class (介入治疗: DIP has no interventional comprehensive type)
REGION_CLASS_NAMES = {"手术": "surgical", "介入治疗": "surgical", "介入": "surgical",
                      "治疗性操作": "therapeutic", "诊断性操作": "diagnostic",
                      "surgical": "surgical", "surgery": "surgical",
                      "interventional": "surgical", "therapeutic": "therapeutic",
                      "diagnostic": "diagnostic"}
REGION_HEADERS = {"code": ("code", "手术操作编码", "手术操作代码", "编码", "px_code"),
                  "class": ("class", "手术操作类别", "类别", "操作类别", "treatment_class")}


def _chapter_rules(code: pl.Expr) -> pl.Expr:
    chapter = code.str.slice(0, 2).cast(pl.Int32, strict=False)
    return (pl.when(chapter.is_between(87, 91)).then(pl.lit("diagnostic|chapter_87_91"))
            .when(pl.any_horizontal(*(code.str.starts_with(p) for p in DIAGNOSTIC_PREFIXES)))
            .then(pl.lit("diagnostic|diagnostic_prefix")))


def derive_procedure_classes(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """(code, class, basis) for every code of the ruleset's `icd9cm3` dictionary."""
    or_codes = tables["or_procedures"]["px_code"].unique().implode()
    name = pl.col("name").fill_null("")
    diag_word = pl.any_horizontal(*(name.str.contains(w, literal=True) for w in DIAGNOSTIC_WORDS))
    ther_word = pl.any_horizontal(*(name.str.contains(w, literal=True) for w in THERAPEUTIC_WORDS))
    tagged = tables["icd9cm3"].select(
        "code",
        pl.when(pl.col("code").is_in(or_codes)).then(pl.lit("surgical|or_procedures"))
        .otherwise(_chapter_rules(pl.col("code")))
        .fill_null(pl.when(diag_word & ~ther_word).then(pl.lit("diagnostic|name_keyword"))
                   .otherwise(pl.lit("therapeutic|non_or_default")))
        .alias("tag"),
    )
    return (tagged.select("code", pl.col("tag").str.split_exact("|", 1)
                          .struct.rename_fields(["class", "basis"]).alias("t"))
            .unnest("t").unique("code", keep="first").sort("code"))


def load_procedure_classes(path: str | None = None) -> pl.DataFrame:
    """The class table (code, class, basis, rank): the shipped one, or the region's file."""
    if not path:
        return _shipped_classes()
    file = Path(path)
    try:
        stat = file.stat()
    except OSError as exc:
        raise InputError(f"procedure-class table {path} not found: import the catalogue again "
                         f"with --procedure-classes naming an existing file") from exc
    return _region_classes(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1)
def _shipped_classes() -> pl.DataFrame:
    text = resources.files("grouper").joinpath("dip_data", TABLE_FILE).read_bytes()
    table = pl.read_csv(text, schema_overrides={"code": pl.String, "class": pl.String,
                                                 "basis": pl.String})
    return table.with_columns(pl.col("class").replace_strict(CLASS_RANK, return_dtype=pl.Int8)
                              .alias("rank"))


@lru_cache(maxsize=8)
def _region_classes(path: str, mtime_ns: int, size: int) -> pl.DataFrame:
    """A region's table read and checked (keyed by path, modification time and size, so an
    edited file is read again)."""
    file = Path(path)
    if file.suffix.lower() in (".xlsx", ".xlsm"):
        raw = pl.read_excel(file, infer_schema_length=0)
    else:
        raw = pl.read_csv(file, infer_schema_length=0, encoding="utf8-lossy")
    found = {}
    lowered = {c.strip().lower(): c for c in raw.columns}
    for ours, names in REGION_HEADERS.items():
        hit = next((lowered[n.lower()] for n in names if n.lower() in lowered), None)
        if hit is None:
            raise InputError(f"{file.name}: no {ours} column (one of {', '.join(names)}); "
                             f"columns found: {', '.join(raw.columns)}")
        found[ours] = hit
    rows: dict[str, str] = {}
    for i, (code, cls) in enumerate(raw.select(found["code"], found["class"]).iter_rows(), 2):
        code, cls = (code or "").strip(), (cls or "").strip()
        mapped = REGION_CLASS_NAMES.get(cls) or REGION_CLASS_NAMES.get(cls.lower())
        if mapped is None:
            raise InputError(f"{file.name} row {i}: class {cls!r} of {code!r} is none of "
                             f"{', '.join(dict.fromkeys(REGION_CLASS_NAMES))}")
        if not _PX.match(code):
            raise InputError(f"{file.name} row {i}: {code!r} is not an ICD-9-CM-3 code")
        if rows.setdefault(code, mapped) != mapped:
            raise InputError(f"{file.name} row {i}: {code!r} listed twice with different classes")
    table = pl.DataFrame({"code": list(rows), "class": list(rows.values())},
                         schema={"code": pl.String, "class": pl.String}).sort("code")
    return table.with_columns(pl.lit(f"region:{file.name}").alias("basis"),
                              pl.col("class").replace_strict(CLASS_RANK, return_dtype=pl.Int8)
                              .alias("rank"))


def procedure_ranks(px: pl.DataFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """(_row, code, rank) for exploded procedures (`_row`, `code`); codes missing from the table
    fall back to their base code (first 7 characters), then to the chapter rules."""
    lookup = classes.select("code", "rank")
    base = lookup.rename({"code": "base", "rank": "base_rank"})
    fallback = (pl.when(_chapter_rules(pl.col("code")).is_not_null())
                .then(pl.lit(CLASS_RANK["diagnostic"], pl.Int8))
                .otherwise(pl.lit(CLASS_RANK["therapeutic"], pl.Int8)))
    vocab = (px.select(pl.col("code").unique())
             .with_columns(pl.col("code").str.slice(0, 7).alias("base"))
             .join(lookup, on="code", how="left")
             .join(base, on="base", how="left")
             .select("code", pl.coalesce("rank", "base_rank", fallback).alias("rank")))
    return px.select("_row", "code").join(vocab, on="code", how="left")


def class_of_rank(rank: pl.Expr) -> pl.Expr:
    return rank.replace_strict(dict(enumerate(CLASSES)), return_dtype=pl.String)


def main(argv: list[str]) -> None:
    from grouper.ruleset import load_ruleset

    name = argv[0] if argv else "chs_drg_11"
    table = derive_procedure_classes(load_ruleset(name).tables)
    out = Path(__file__).with_name("dip_data") / (
        TABLE_FILE if name == "chs_drg_11" else TABLE_FILE.replace(".csv", f"_{name}.csv"))
    table.write_csv(out)
    counts = table.group_by("class").len().sort("class").rows()
    print(f"wrote {out} ({table.height} codes): {counts}")


if __name__ == "__main__":
    main(sys.argv[1:])
