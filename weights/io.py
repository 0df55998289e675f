"""DRG weight tables and hospital coefficient lists as CSV / Excel files, in the layout bureaus
publish them (Chinese headers, e.g. `DRG编码, DRG名称, 权重, 基准点数`) or with the store's
column names. Every row is checked and every problem reported as (row, column, value, reason);
`row` is the line of the file (header = 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl

from grouper import load_ruleset
from grouper.errors import InputError
from weights.dip_catalog_io import read_table
from weights.errors import WeightTableError
from weights.hospitals import normalise_level

DRG_HEADERS: dict[str, tuple[str, ...]] = {
    "drg": ("DRG编码", "DRG组编码", "病组编码", "DRG代码", "drg", "drg_code"),
    "drg_name": ("DRG名称", "DRG组名称", "病组名称", "drg_name", "name"),
    "rw": ("权重", "相对权重", "RW", "调整后权重", "rw"),
    "base_points": ("基准点数", "点数", "base_points"),
    "mean_cost": ("平均费用", "例均费用", "次均费用", "mean_cost"),
    "mean_los": ("平均住院日", "mean_los"),
    "n_cases": ("例数", "病例数", "n_cases"),
    "cv": ("变异系数", "CV", "cv"),
    "stable": ("是否稳定", "stable"),
}
HOSPITAL_HEADERS: dict[str, tuple[str, ...]] = {
    "hospital_id": ("医疗机构编码", "定点医疗机构编码", "机构编码", "hospital_id"),
    "name": ("医疗机构名称", "机构名称", "name"),
    "level": ("医院等级", "机构等级", "等级", "level"),
    "type": ("机构类型", "类型", "type"),
    "region": ("统筹区", "区划", "region"),
    "coefficient": ("医疗机构系数", "权重系数", "系数", "调整系数", "coefficient"),
    "effective_from": ("生效日期", "执行日期", "effective_from"),
    "effective_to": ("失效日期", "effective_to"),
    "reason": ("调整原因", "原因", "reason"),
}
REJECT_SCHEMA = {"row": pl.Int64, "column": pl.String, "value": pl.String, "reason": pl.String}
RW_PLACES = Decimal("0.0001")


@dataclass
class TableImport:
    """The accepted rows, one row per problem of the rejected ones, and the rows read."""

    rows: pl.DataFrame
    rejected: pl.DataFrame
    rows_read: int

    def summary(self) -> str:
        if not self.rejected.height:
            return f"{self.rows.height} of {self.rows_read} rows accepted"
        first = self.rejected.row(0, named=True)
        return (f"{self.rejected['row'].n_unique()} of {self.rows_read} rows rejected; first: "
                f"row {first['row']} {first['column']}={first['value']!r}: {first['reason']}")


def read_weight_file(path: Path, headers: dict[str, tuple[str, ...]],
                     required: tuple[str, ...]) -> pl.DataFrame:
    """All-string table with canonical column names; unknown columns are dropped."""
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    table = read_table(path)
    rename: dict[str, str] = {}
    for target, aliases in headers.items():
        for col in table.columns:
            if col.strip() in aliases and target not in rename.values() and col not in rename:
                rename[col] = target
    missing = [c for c in required if c not in rename.values()]
    if missing:
        wanted = "; ".join(f"{c} ({' / '.join(headers[c][:2])})" for c in missing)
        raise InputError(f"{path}: lacks column(s) {wanted}; got: {', '.join(table.columns)}")
    return table.select([pl.col(src).cast(pl.String).str.strip_chars().alias(dst)
                         for src, dst in rename.items()])


def _number(text: str | None, column: str, problems: list[tuple[str, Any, str]], *,
            positive: bool = True) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        problems.append((column, text, "not a number"))
        return None
    if not value.is_finite() or (positive and value <= 0) or value < 0:
        problems.append((column, text, "must be > 0" if positive else "must be >= 0"))
        return None
    return value


def _rejected(problems: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(problems, schema=REJECT_SCHEMA)


def import_drg_weights(path: Path, ruleset: str) -> TableImport:
    """DRG weights of a file; unknown DRG codes (not in `ruleset`), duplicates, missing or
    non-positive weights are rejected by row. RW is kept to 4 dp (ROUND_HALF_UP);
    base_points default to rw × 100."""
    table = read_weight_file(path, DRG_HEADERS, ("drg", "rw"))
    rules = load_ruleset(ruleset)
    drgs = rules.tables["drg"].select("drg", "adrg")
    known = dict(drgs.iter_rows())
    mdc_of = dict(rules.tables["adrg"].select("adrg", "mdc").unique("adrg").iter_rows())
    good, problems = [], []
    seen: dict[str, int] = {}
    for i, raw in enumerate(table.iter_rows(named=True)):
        line = i + 2
        found: list[tuple[str, Any, str]] = []
        code = (raw.get("drg") or "").upper()
        if not code:
            found.append(("drg", raw.get("drg"), "empty"))
        elif code not in known:
            found.append(("drg", code, f"unknown DRG code in ruleset {ruleset}"))
        elif code in seen:
            found.append(("drg", code, f"duplicate of row {seen[code]}"))
        else:
            seen[code] = line
        rw = _number(raw.get("rw"), "rw", found)
        if rw is None and not any(c == "rw" for c, _, _ in found):
            found.append(("rw", raw.get("rw"), "missing"))
        points = _number(raw.get("base_points"), "base_points", found)
        mean_cost = _number(raw.get("mean_cost"), "mean_cost", found)
        mean_los = _number(raw.get("mean_los"), "mean_los", found)
        n_cases = _number(raw.get("n_cases"), "n_cases", found, positive=False)
        if n_cases is not None and n_cases != n_cases.to_integral_value():
            found.append(("n_cases", raw.get("n_cases"), "not a whole number"))
        cv = _number(raw.get("cv"), "cv", found, positive=False)
        if found:
            problems += [{"row": line, "column": c, "value": "" if v is None else str(v),
                          "reason": why} for c, v, why in found]
            continue
        assert rw is not None
        rw4 = rw.quantize(RW_PLACES, rounding=ROUND_HALF_UP)
        good.append({
            "drg": code, "adrg": known[code], "mdc": mdc_of.get(known[code]),
            "drg_name": raw.get("drg_name") or rules.drg_names.get(code),
            "rw": rw4, "rw_base": rw4, "adj": Decimal(1),
            "base_points": (points if points is not None else rw4 * 100).quantize(RW_PLACES),
            "mean_cost": None if mean_cost is None else mean_cost.quantize(Decimal("0.01")),
            "mean_los": None if mean_los is None else float(mean_los),
            "n_cases": None if n_cases is None else int(n_cases),
            "cv": None if cv is None else float(cv), "rw_source": "import"})
    schema = {"drg": pl.String, "adrg": pl.String, "mdc": pl.String, "drg_name": pl.String,
              "rw": pl.Decimal(12, 4), "rw_base": pl.Decimal(12, 4), "adj": pl.Decimal(12, 4),
              "base_points": pl.Decimal(14, 4), "mean_cost": pl.Decimal(18, 2),
              "mean_los": pl.Float64, "n_cases": pl.Int64, "cv": pl.Float64,
              "rw_source": pl.String}
    return TableImport(rows=pl.DataFrame(good, schema=schema, orient="row"),
                       rejected=_rejected(problems), rows_read=table.height)


def _date(text: str | None, column: str, found: list[tuple[str, Any, str]]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10].replace("/", "-"))
    except ValueError:
        found.append((column, text, "not a date (YYYY-MM-DD)"))
        return None


def import_hospitals(path: Path, *, default_from: date | None = None,
                     default_reason: str = "") -> TableImport:
    """Hospitals and coefficients of a file (hospital_id required; coefficient rows also need an
    effective date and a reason, from the file or the defaults)."""
    table = read_weight_file(path, HOSPITAL_HEADERS, ("hospital_id",))
    good, problems = [], []
    seen: dict[str, int] = {}
    for i, raw in enumerate(table.iter_rows(named=True)):
        line = i + 2
        found: list[tuple[str, Any, str]] = []
        hid = raw.get("hospital_id") or ""
        if not hid:
            found.append(("hospital_id", hid, "empty"))
        elif hid in seen:
            found.append(("hospital_id", hid, f"duplicate of row {seen[hid]}"))
        else:
            seen[hid] = line
        level = None
        if raw.get("level"):
            level = normalise_level(raw["level"])
            if level is None:
                found.append(("level", raw["level"], "accepted: 3/2/1/community, 三级/二级/一级/社区"))
        coef = _number(raw.get("coefficient"), "coefficient", found)
        if coef is not None and coef != coef.quantize(RW_PLACES):
            found.append(("coefficient", raw.get("coefficient"), "at most 4 decimal places"))
        start = _date(raw.get("effective_from"), "effective_from", found) or default_from
        reason = raw.get("reason") or default_reason
        if coef is not None and start is None:
            found.append(("effective_from", "", "a coefficient needs an effective date"))
        if coef is not None and not reason:
            found.append(("reason", "", "a coefficient change needs a reason"))
        if found:
            problems += [{"row": line, "column": c, "value": "" if v is None else str(v),
                          "reason": why} for c, v, why in found]
            continue
        good.append({"hospital_id": hid, "name": raw.get("name"), "level": level,
                     "type": raw.get("type"), "region": raw.get("region"),
                     "coefficient": coef, "effective_from": start if coef is not None else None,
                     "reason": reason if coef is not None else None})
    schema = {"hospital_id": pl.String, "name": pl.String, "level": pl.String,
              "type": pl.String, "region": pl.String, "coefficient": pl.Decimal(8, 4),
              "effective_from": pl.Date, "reason": pl.String}
    return TableImport(rows=pl.DataFrame(good, schema=schema, orient="row"),
                       rejected=_rejected(problems), rows_read=table.height)


def bureau_headers(frame: pl.DataFrame, headers: dict[str, tuple[str, ...]]) -> pl.DataFrame:
    """Columns renamed to the first (Chinese) alias; others unchanged."""
    return frame.rename({c: headers[c][0] for c in frame.columns if c in headers})


def export_table(frame: pl.DataFrame, path: Path) -> Path:
    """Write a table as CSV (UTF-8 with BOM, so Excel reads Chinese) or .xlsx."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        path.write_bytes(b"\xef\xbb\xbf" + frame.write_csv().encode())
    elif suffix == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(frame.columns)  # type: ignore[union-attr]
        for row in frame.iter_rows():
            sheet.append([float(v) if isinstance(v, Decimal) else v  # type: ignore[union-attr]
                          for v in row])
        book.save(path)
    else:
        raise WeightTableError(f"{path}: unsupported format {suffix!r}; accepted: .csv, .xlsx")
    return path
