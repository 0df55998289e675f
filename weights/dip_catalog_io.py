"""Official DIP catalogue files (CSV/Excel, Chinese or English headers) with row-level
validation, and DIP catalogues as `dip` weight versions in the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from grouper.dip_catalog import GROUP_SCHEMA, DipCatalog, group_key, group_row_problems
from grouper.dip_codes import dx_one
from grouper.dip_errors import DipCatalogCode, DipCatalogError, duplicate_reason
from grouper.errors import InputError

HEADER_ALIASES = {
    "dip_code": ("病种编码", "病种代码", "dip_code", "code"),
    "principal_dx": ("主要诊断编码", "主诊断编码", "诊断编码", "principal_dx"),
    "name": ("主要诊断名称", "病种名称", "诊断名称", "name"),
    "procedures": ("手术操作编码", "手术及操作编码", "治疗方式", "procedures"),
    "score": ("分值", "病种分值", "score"),
    "dip_type": ("病种类型", "类型", "dip_type"),
    "treatment_class": ("治疗类别", "treatment_class"),
}
REQUIRED = ("dip_code", "principal_dx", "procedures", "score")
KEY_COLUMNS = ("dip_type", "principal_dx", "procedures", "treatment_class")  # of `group_key`
TYPE_ALIASES = {
    "": "core", "核心": "core", "核心病种": "core", "core": "core",
    "综合": "comprehensive", "综合病种": "comprehensive", "comprehensive": "comprehensive",
    "基层": "basic", "基层病种": "basic", "basic": "basic",
    "中医": "tcm", "中医病种": "tcm", "中医优势病种": "tcm", "tcm": "tcm",
    "日间": "day_surgery", "日间手术": "day_surgery", "日间手术病种": "day_surgery",
    "day_surgery": "day_surgery",
}
# Comprehensive rows name their treatment class in the procedure column.
CLASS_WORDS = {
    "保守治疗": "conservative", "保守": "conservative", "conservative": "conservative",
    "诊断性操作": "diagnostic", "诊断性": "diagnostic", "diagnostic": "diagnostic",
    "治疗性操作": "therapeutic", "治疗性": "therapeutic", "therapeutic": "therapeutic",
    "相关手术": "surgical", "手术": "surgical", "surgical": "surgical",
}


@dataclass
class CatalogImport:
    """The catalogue built from the good rows, and one row per problem of the rejected ones."""

    catalog: DipCatalog | None
    rejected: pl.DataFrame  # row (file line), column, value, reason
    rows_read: int
    source: str | None = None  # the file's name, for messages


def read_table(path: Path) -> pl.DataFrame:
    """All-string table of a CSV (UTF-8 or GB18030) or Excel file; fails fast with a reason."""
    if not path.is_file():
        raise InputError(f"catalogue file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        sheet = openpyxl.load_workbook(path, read_only=True, data_only=True).active
        rows = [["" if v is None else str(v).strip() for v in r]
                for r in sheet.iter_rows(values_only=True)]  # type: ignore[union-attr]
        if not rows:
            raise InputError(f"{path}: empty workbook")
        header, body = rows[0], [r for r in rows[1:] if any(r)]
        return pl.DataFrame(body, schema=header, orient="row")
    if suffix != ".csv":
        raise InputError(f"{path}: unsupported catalogue format {suffix!r}; accepted: .csv, .xlsx")
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(f"{path}: neither UTF-8 nor GB18030 text")
    return pl.read_csv(text.encode(), infer_schema_length=0)


def _canonical_columns(table: pl.DataFrame) -> pl.DataFrame:
    rename = {}
    for target, aliases in HEADER_ALIASES.items():
        for col in table.columns:
            if col.strip() in aliases and target not in rename.values():
                rename[col] = target
    missing = [c for c in REQUIRED if c not in rename.values()]
    if missing:
        wanted = "; ".join(f"{c} ({'/'.join(HEADER_ALIASES[c][:2])})" for c in missing)
        raise InputError(f"catalogue lacks column(s): {wanted}; got: {', '.join(table.columns)}")
    return table.select([pl.col(src).alias(dst) for src, dst in rename.items()])


def _row(raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, object, str]]]:
    """A group row from a file row, and problems found while converting it."""
    problems: list[tuple[str, object, str]] = []
    kind_text = (raw.get("dip_type") or "").strip()
    kind = TYPE_ALIASES.get(kind_text, TYPE_ALIASES.get(kind_text.lower()))
    if kind is None:
        problems.append(("dip_type", kind_text,
                         f"accepted: {', '.join(sorted(k for k in TYPE_ALIASES if k))}"))
    score_text = (raw.get("score") or "").strip().replace(",", "")
    try:
        score: float | None = float(score_text)
    except ValueError:
        score = None
    procedures = (raw.get("procedures") or "").strip()
    tclass = (raw.get("treatment_class") or "").strip() or None
    if tclass in CLASS_WORDS:
        tclass = CLASS_WORDS[tclass]
    if kind == "comprehensive" and procedures in CLASS_WORDS:
        tclass, procedures = CLASS_WORDS[procedures], ""
    elif kind == "comprehensive" and tclass is None:
        problems.append(("procedures", procedures, ("a comprehensive row names its treatment "
                         "class: 保守治疗, 诊断性操作, 治疗性操作 or 相关手术")))
        tclass, procedures = "conservative", ""  # reported; keep the other checks going
    row = {"dip_code": (raw.get("dip_code") or "").strip(), "dip_type": kind,
           "principal_dx": dx_one(raw.get("principal_dx") or ""),
           "name": (raw.get("name") or "").strip() or None, "procedures": procedures,
           "treatment_class": tclass, "score": score}
    if score is None:
        problems.append(("score", raw.get("score"), "not a number"))
    # the remaining checks as for any catalogue row; stand-ins for what is already reported
    probe = {**row, "dip_type": kind or "core", "score": 0.0 if score is None else score}
    problems += group_row_problems(probe)
    return row, problems


def import_catalog(path: Path, *, version: str | None = None, score_scale: float = 1000.0,
                   aux_combine: str = "max", ruleset: str = "chs_drg_11") -> CatalogImport:
    """Read an official catalogue file; every row is checked and every problem reported.

    Besides each row's own problems: a dip_code, or a group key (`group_key`: comprehensive
    类目 × class; principal_dx × combination of a matchable kind) already taken by an earlier
    row is reported on the later row with its stable code, naming the earlier row (which counts
    even when refused for another column: the file is ambiguous either way)."""
    table = _canonical_columns(read_table(path))
    good, problems = [], []
    seen: dict[str, int] = {}
    keys: dict[tuple[Any, ...], int] = {}
    for i, raw in enumerate(table.iter_rows(named=True)):
        line = i + 2  # 1-based, after the header
        row, found = _row(raw)
        key = None if any(c in KEY_COLUMNS for c, _, _ in found) else group_key(row)
        if row["dip_code"] in seen:
            found.append(("dip_code", row["dip_code"],
                          duplicate_reason(DipCatalogCode.DUPLICATE_CODE, seen[row["dip_code"]])))
        elif row["dip_code"]:
            seen[row["dip_code"]] = line
        if key is not None:
            code, column, value, shown = key
            if value in keys:
                found.append((column, shown, duplicate_reason(code, keys[value])))
            else:
                keys[value] = line
        if found:
            problems += [{"row": line, "column": c, "value": "" if v is None else str(v),
                          "reason": why} for c, v, why in found]
        else:
            good.append(row)
    rejected = pl.DataFrame(problems, schema={"row": pl.Int64, "column": pl.String,
                                              "value": pl.String, "reason": pl.String})
    catalog = None
    if good:
        catalog = DipCatalog(groups=pl.DataFrame(good, schema={k: GROUP_SCHEMA[k] for k in good[0]}),
                             score_scale=score_scale, aux_combine=aux_combine, ruleset=ruleset,
                             version=version)
    return CatalogImport(catalog=catalog, rejected=rejected, rows_read=table.height,
                         source=path.name)


def rejected_summary(result: CatalogImport) -> str:
    """One line: how many rows were rejected and the first reason."""
    first = result.rejected.row(0, named=True)
    rows = result.rejected["row"].n_unique()
    where = f"{result.source}: " if result.source else ""
    return (f"{where}{rows} of {result.rows_read} catalogue rows rejected; first: row "
            f"{first['row']} {first['column']}={first['value']!r}: {first['reason']}")


def require_clean(result: CatalogImport) -> DipCatalog:
    if result.rejected.height:
        raise DipCatalogError(rejected_summary(result))
    if result.catalog is None:
        raise DipCatalogError("catalogue file has no rows")
    return result.catalog
