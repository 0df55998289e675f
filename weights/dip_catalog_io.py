"""Official DIP catalogue files (CSV/Excel, Chinese or English headers) with row-level
validation, and DIP catalogues as `dip` weight versions in the store."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from grouper.dip_catalog import (
    AUX_SCHEMA,
    GROUP_SCHEMA,
    DipCatalog,
    checked_ignored,
    group_key,
    group_row_problems,
)
from grouper.dip_codes import dx_one
from grouper.dip_errors import DipCatalogCode, DipCatalogError, duplicate_reason
from grouper.errors import InputError

ALIASES_FILE = "catalog_aliases.toml"  # grouper/dip_data: header and value aliases (data)
REQUIRED = ("dip_code", "principal_dx", "score")
KEY_COLUMNS = ("dip_type", "principal_dx", "procedures", "treatment_class")  # of `group_key`
NUMBERS = ("mean_cost", "n_cases", "cv", "avg_los", "region_avg_cost")
CENT = Decimal("0.01")
SCORE_DP = Decimal("0.0001")


@dataclass(frozen=True)
class Aliases:
    """`grouper/dip_data/catalog_aliases.toml`: headers and cell values of official files."""

    headers: dict[str, tuple[str, ...]]
    other_separators: tuple[str, ...]
    dip_type: dict[str, str]  # keys lower-cased
    treatment_class: dict[str, str]  # keys lower-cased
    fallback_dx: re.Pattern[str]
    blank_codes: frozenset[str]
    aux_headers: dict[str, tuple[str, ...]]
    aux_dimension: dict[str, str]  # keys lower-cased
    aux_level: dict[str, str]


@lru_cache(maxsize=1)
def load_aliases() -> Aliases:
    raw = tomllib.loads(resources.files("grouper").joinpath("dip_data", ALIASES_FILE)
                        .read_text(encoding="utf-8"))
    return Aliases(
        headers={k: tuple(v) for k, v in raw["headers"].items()},
        other_separators=tuple(raw["other_procedure_separators"]["values"]),
        dip_type={k.lower(): v for k, v in raw["dip_type"].items()},
        treatment_class={k.lower(): v for k, v in raw["treatment_class"].items()},
        fallback_dx=re.compile(raw["fallback"]["chapter_dx"]),
        blank_codes=frozenset(raw["fallback"]["blank_codes"]),
        aux_headers={k: tuple(v) for k, v in raw["aux_headers"].items()},
        aux_dimension={k.lower(): v for k, v in raw["aux_dimension"].items()},
        aux_level=dict(raw["aux_level"]))


@dataclass
class CatalogImport:
    """The catalogue built from the good rows, and one row per problem of the rejected ones."""

    catalog: DipCatalog | None
    rejected: pl.DataFrame  # row (file line), column, value, reason
    rows_read: int
    source: str | None = None  # the file's name, for messages
    mean_cost_published: int = 0  # good rows whose file gives a mean cost (次均费用)
    mean_cost_derived: int = 0  # good rows whose mean cost is score × regional average / scale
    region_avg_cost: Decimal | None = None  # the regional average cost used to derive them
    columns: dict[str, str] | None = None  # our column → the file's header it was read from

    def mean_cost_note(self) -> str:
        """How the mean costs came about, one line (the CLI prints it)."""
        n = self.catalog.groups.height if self.catalog is not None else 0
        missing = n - self.mean_cost_published - self.mean_cost_derived
        parts = [f"mean cost published for {self.mean_cost_published:,} of {n:,} groups"]
        if self.mean_cost_derived:
            parts.append(f"derived for {self.mean_cost_derived:,} as score × regional average "
                         f"cost {self.region_avg_cost} / scale")
        if missing:
            parts.append(f"missing for {missing:,}: this version cannot be used for settlement "
                         f"(pass --region-avg-cost, or a file with 次均费用)")
        return "; ".join(parts)


def _cell(v: Any) -> str:
    """A workbook cell as text: whole floats without `.0` (openpyxl reads 1 as 1.0 sometimes)."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _known_header(cells: list[str]) -> bool:
    aliases = load_aliases().headers
    names = {c.strip().lower() for c in cells}
    return all(any(a.lower() in names for a in aliases[c]) for c in ("dip_code", "score"))


def read_table(path: Path) -> pl.DataFrame:
    """All-string table of a CSV (UTF-8 or GB18030) or Excel file; fails fast with a reason.
    A workbook is read from its first sheet whose header names a group code and a score
    (the active sheet when none does)."""
    if not path.is_file():
        raise InputError(f"catalogue file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        sheets = [book.active, *book.worksheets]
        rows: list[list[str]] = []
        for sheet in sheets:
            rows = [[_cell(v) for v in r]
                    for r in sheet.iter_rows(values_only=True)]  # type: ignore[union-attr]
            if rows and _known_header(rows[0]):
                break
        else:
            rows = [[_cell(v) for v in r]
                    for r in book.active.iter_rows(values_only=True)]  # type: ignore[union-attr]
        if not rows:
            raise InputError(f"{path}: empty workbook")
        width = max(len(r) for r in rows)
        header = [h or f"column_{i + 1}" for i, h in enumerate(rows[0] + [""] * (width - len(rows[0])))]
        body = [r + [""] * (width - len(r)) for r in rows[1:] if any(r)]
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


def _canonical_columns(table: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
    """The file's columns under our names (aliases from the data file, first one present
    wins), and which header each came from."""
    by_name = {c.strip().lower(): c for c in reversed(table.columns)}
    rename: dict[str, str] = {}
    for target, aliases in load_aliases().headers.items():
        for alias in aliases:
            src = by_name.get(alias.lower())
            if src is not None and src not in rename.values():
                rename[target] = src
                break
    missing = [c for c in REQUIRED if c not in rename]
    if "procedures" not in rename and "main_procedure" not in rename:
        missing.append("procedures")
    if missing:
        headers = load_aliases().headers
        wanted = "; ".join(f"{c} ({'/'.join(headers[c][:2])})" for c in missing)
        raise InputError(f"catalogue lacks column(s): {wanted}; got: {', '.join(table.columns)}")
    return table.select([pl.col(src).alias(dst) for dst, src in rename.items()]), rename


def _text(raw: dict[str, Any], col: str) -> str:
    return (raw.get(col) or "").strip()


def _number(raw: dict[str, Any], col: str,
            problems: list[tuple[str, object, str]]) -> Decimal | None:
    text = _text(raw, col).replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        problems.append((col, raw.get(col), "not a number >= 0"))
        return None
    return value


def _procedures(raw: dict[str, Any]) -> str:
    """The combination: the procedures column, else main + other operations joined by `+`."""
    if "procedures" in raw:
        return _text(raw, "procedures")
    main, other = _text(raw, "main_procedure"), _text(raw, "other_procedures")
    for sep in load_aliases().other_separators:
        other = other.replace(sep, "+")
    return "+".join(p.strip() for p in [main, *other.split("+")] if p.strip())


def _class_word(text: str) -> str | None:
    return load_aliases().treatment_class.get(text.strip().lower()) if text else None


def _row(raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, object, str]]]:
    """A group row from a file row, and problems found while converting it."""
    aliases = load_aliases()
    problems: list[tuple[str, object, str]] = []
    code = _text(raw, "dip_code")
    dx = dx_one(raw.get("principal_dx") or "")
    kind_text = _text(raw, "dip_type")
    kind = aliases.dip_type.get(kind_text.lower())
    if code in aliases.blank_codes or aliases.fallback_dx.match(dx):
        kind = "fallback"  # the catalogue's own fallback groups (CPnn, KBBZ)
    if kind is None:
        problems.append(("dip_type", kind_text,
                         f"accepted: {', '.join(sorted(k for k in aliases.dip_type if k))}"))
    score_text = _text(raw, "score").replace(",", "")
    try:  # 4 dp half-up from the published text (a float round would take 1534.52205 down)
        exact = Decimal(score_text)
        score: float | None = (float(exact.quantize(SCORE_DP, ROUND_HALF_UP))
                               if exact.is_finite() else float(exact))
    except InvalidOperation:
        score = None
    procedures = _procedures(raw)
    tclass_text = _text(raw, "treatment_class")
    tclass = _class_word(tclass_text) or (tclass_text or None)
    if kind in ("comprehensive", "fallback"):
        if tclass is None and _class_word(procedures):
            tclass, procedures = _class_word(procedures), ""  # older layout: class in 手术操作编码
        if tclass is None and ":" in code:
            tclass = _class_word(code.rsplit(":", 1)[1])  # the code's grammar: E11:SS
    if kind == "comprehensive" and tclass is None:
        problems.append(("procedures", procedures, ("a comprehensive row names its treatment "
                         "class: 保守治疗, 诊断性操作, 治疗性操作 or 相关手术")))
        tclass, procedures = "conservative", ""  # reported; keep the other checks going
    numbers = {c: _number(raw, c, problems) for c in NUMBERS}
    row = {"dip_code": code, "dip_type": kind, "principal_dx": dx or None,
           "name": _text(raw, "name") or None, "procedures": procedures,
           "treatment_class": tclass, "score": score,
           "mean_cost": numbers["mean_cost"],
           "n_cases": None if numbers["n_cases"] is None else int(numbers["n_cases"]),
           "cv": None if numbers["cv"] is None else float(numbers["cv"]),
           "avg_los": None if numbers["avg_los"] is None else float(numbers["avg_los"]),
           "region_avg_cost": numbers["region_avg_cost"]}
    if score is None:
        problems.append(("score", raw.get("score"), "not a number"))
    # the remaining checks as for any catalogue row; stand-ins for what is already reported
    probe = {**row, "dip_type": kind or "core", "score": 0.0 if score is None else score}
    problems += group_row_problems(probe)
    return row, problems


def _with_mean_costs(rows: list[dict[str, Any]], region_avg_cost: Decimal | None,
                     score_scale: float) -> tuple[int, int, Decimal | None]:
    """Each row's mean cost in yuan, half-up to the fen: as published, else derived as
    score × regional average cost / scale (the row's own 全市次均费用 column, else
    `region_avg_cost`). Returns (published, derived, the regional average used)."""
    published = derived = 0
    used: set[Decimal] = set()
    scale = Decimal(str(score_scale))
    for r in rows:
        region = r.pop("region_avg_cost") or region_avg_cost
        if r["mean_cost"] is not None:
            published += 1
        elif region is not None and r["score"] is not None:
            r["mean_cost"] = Decimal(str(r["score"])) * region / scale
            derived += 1
            used.add(region)
        if r["mean_cost"] is not None:
            r["mean_cost"] = float(r["mean_cost"].quantize(CENT, ROUND_HALF_UP))
    shown = next(iter(used)) if len(used) == 1 else region_avg_cost
    return published, derived, shown


def import_catalog(path: Path, *, version: str | None = None, score_scale: float = 1000.0,
                   aux_combine: str = "max", ruleset: str = "chs_drg_11",
                   region_avg_cost: Decimal | float | str | None = None,
                   ignored_procedures: tuple[str, ...] = (),
                   aux_path: Path | None = None,
                   procedure_classes: Path | str | None = None) -> CatalogImport:
    """Read an official catalogue file; every row is checked and every problem reported.

    Headers and cell values are read through `grouper/dip_data/catalog_aliases.toml`. Kept per
    group: code, name, diagnosis, combination (one column, or main + other operations), type
    (fallback rows `CPnn`/`KBBZ` recognised), treatment class, score, mean cost, case count, CV
    and average length of stay. A row without a published mean cost gets score × regional
    average cost / scale (its own 全市次均费用, else `region_avg_cost`); the result counts both.

    Besides each row's own problems: a dip_code, or a group key (`group_key`: comprehensive
    类目 × class; principal_dx × combination of a matchable kind) already taken by an earlier
    row is reported on the later row with its stable code, naming the earlier row (which counts
    even when refused for another column: the file is ambiguous either way)."""
    table, columns = _canonical_columns(read_table(path))
    region = None if region_avg_cost is None else Decimal(str(region_avg_cost))
    if region is not None and not (region.is_finite() and region > 0):
        raise InputError(f"region_avg_cost={region_avg_cost!r}: a regional average cost > 0 "
                         f"is required")
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
    published, derived, used = _with_mean_costs(good, region, score_scale)
    catalog = None
    if good:
        aux = read_aux(aux_path) if aux_path is not None else None
        extra = {} if aux is None else {"aux": aux}
        catalog = DipCatalog(groups=pl.DataFrame(good, schema={k: GROUP_SCHEMA[k] for k in good[0]}),
                             score_scale=score_scale, aux_combine=aux_combine, ruleset=ruleset,
                             version=version, ignored_procedures=ignored_procedures,
                             procedure_classes=str(Path(procedure_classes).resolve())
                             if procedure_classes else "", **extra)
    return CatalogImport(catalog=catalog, rejected=rejected, rows_read=table.height,
                         source=path.name, mean_cost_published=published,
                         mean_cost_derived=derived, region_avg_cost=used, columns=columns)


def read_aux(path: Path) -> pl.DataFrame:
    """An auxiliary catalogue file (辅助目录): dip_code (`*` = every group), dimension, level, coef,
    headers and values through the aliases file. The catalogue checks each row (unknown group,
    dimension or level, coef ≤ 0, a repeated key) when it is built."""
    aliases = load_aliases()
    table = read_table(path)
    by_name = {c.strip().lower(): c for c in reversed(table.columns)}
    cols: dict[str, str] = {}
    for target, names in aliases.aux_headers.items():
        src = next((by_name[n.lower()] for n in names if n.lower() in by_name), None)
        if src is None:
            raise InputError(f"{path.name}: auxiliary catalogue lacks column {target} "
                             f"({'/'.join(names[:2])}); got: {', '.join(table.columns)}")
        cols[target] = src
    rows = []
    for i, raw in enumerate(table.iter_rows(named=True)):
        dim_text = (raw[cols["dimension"]] or "").strip()
        level_text = (raw[cols["level"]] or "").strip()
        coef_text = (raw[cols["coef"]] or "").strip()
        try:
            coef = float(Decimal(coef_text).quantize(SCORE_DP, ROUND_HALF_UP))
        except InvalidOperation as exc:
            raise InputError(f"{path.name} row {i + 2}: coef={coef_text!r} is not a number") from exc
        rows.append({"dip_code": (raw[cols["dip_code"]] or "").strip(),
                     "dimension": aliases.aux_dimension.get(dim_text.lower(), dim_text),
                     "level": aliases.aux_level.get(level_text, level_text), "coef": coef,
                     "n_cases": None})
    return pl.DataFrame(rows, schema=AUX_SCHEMA)


IGNORED_HEADERS = ("手术操作编码", "操作编码", "编码", "code", "procedure")


def read_ignored_operations(path: Path) -> tuple[str, ...]:
    """Operations that do not count for grouping, from a CSV/xlsx (column 手术操作编码 or code,
    else the first) or a text file with one code per line (`#` starts a comment)."""
    if path.suffix.lower() in (".csv", ".xlsx", ".xlsm"):
        table = read_table(path)
        names = {c.strip().lower(): c for c in table.columns}
        col = next((names[h.lower()] for h in IGNORED_HEADERS if h.lower() in names),
                   table.columns[0])
        codes = [c.strip() for c in table[col].to_list() if c and c.strip()]
    else:
        if not path.is_file():
            raise InputError(f"ignored-operations file not found: {path}")
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        codes = [line.split("#", 1)[0].strip() for line in lines]
        codes = [c for c in codes if c]
    try:
        return checked_ignored(codes)
    except DipCatalogError as exc:
        raise InputError(f"{path.name}: {exc}") from exc


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
