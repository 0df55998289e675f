"""Ruleset directories on disk: table specs, manifest, full tables and row deltas.

A ruleset is a directory `grouper/rulesets/<name>/` holding `manifest.toml` and one CSV per
table. A local ruleset may name a `base` ruleset; a table is then either a full file of its own,
inherited unchanged, or a row delta on the base (`<table>.delta.csv`: the base columns plus a first
column `op`, `-` removes a base row, `+` adds one).
"""

from __future__ import annotations

import csv
import hashlib
import io
import tomllib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from grouper.errors import RulesetError

RULESET_ROOT = Path(__file__).parent / "rulesets"

# table name -> its columns, in file order (the CHS-DRG table layout of the source README)
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "mdc": ("mdc", "eval_order", "rule_kind", "sex", "age_years", "min_trauma_regions",
            "ambiguity_check", "name"),
    "mdc_principal_dx": ("mdc", "dx_code"),
    "mdc_entry_px": ("mdc", "px_code"),
    "mdc_dx_prefix": ("mdc", "prefix"),
    "trauma_region_dx": ("dx_code", "region"),
    "adrg": ("adrg", "variant", "mdc", "order_in_mdc", "section", "rule_kind", "age_days_max",
             "weight_min_g", "weight_max_g", "px_group_expr", "if_no_drg", "name", "age_days_min",
             "age_years"),
    "adrg_codes": ("adrg", "variant", "list", "code"),
    "drg": ("drg", "adrg", "order_in_adrg", "condition", "age_lt", "los_gt", "icu_hours_gt",
            "icu_hours_ge", "icu_hours_le", "age_days_max", "name"),
    "drg_codes": ("drg", "list", "code"),
    "mcc": ("dx_code", "exclusion_table"),
    "cc": ("dx_code", "exclusion_table"),
    "cc_exclusion": ("principal_dx_code", "exclusion_table"),
    "or_procedures": ("px_code", "name"),
    "icd10": ("code", "name"),
    "icd9cm3": ("code", "name"),
    "dx_code_map": ("from_code", "to_code"),
    "px_code_map": ("from_code", "to_code"),
}

# Columns a table may lack at its end (added by a later scheme; empty = no constraint).
OPTIONAL_TRAILING: dict[str, tuple[str, ...]] = {"adrg": ("age_days_min", "age_years")}
# Tables a ruleset may leave out of its manifest (then empty).
OPTIONAL_TABLES = frozenset({"mdc_dx_prefix"})


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    version: str
    base: str | None
    source: str
    license: str
    effective_from: str
    effective_to: str
    tables: dict[str, dict[str, object]]
    path: Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def available_rulesets(root: Path = RULESET_ROOT) -> list[str]:
    return sorted(p.parent.name for p in root.glob("*/manifest.toml"))


def read_manifest(name: str, root: Path = RULESET_ROOT) -> Manifest:
    path = root / name / "manifest.toml"
    if not path.is_file():
        available = ", ".join(available_rulesets(root))
        raise RulesetError(f"unknown ruleset={name!r}; available: {available}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RulesetError(f"{path}: not valid TOML: {exc}") from exc
    missing = [k for k in ("name", "version", "source", "tables") if k not in raw]
    if missing:
        raise RulesetError(f"{path}: manifest lacks {', '.join(missing)}")
    unknown = sorted(set(raw["tables"]) - set(TABLE_COLUMNS))
    if unknown:
        raise RulesetError(f"{path}: unknown table(s) {', '.join(unknown)}; "
                           f"known: {', '.join(TABLE_COLUMNS)}")
    return Manifest(
        name=raw["name"], title=raw.get("title", raw["name"]), version=str(raw["version"]),
        base=raw.get("base"), source=raw["source"], license=raw.get("license", ""),
        effective_from=str(raw.get("effective_from", "")),
        effective_to=str(raw.get("effective_to", "")),
        tables=raw["tables"], path=path.parent,
    )


def _read_csv_bytes(data: bytes, file: Path, columns: tuple[str, ...]) -> pl.DataFrame:
    # Every cell is text: codes compare as exact strings (a leading space is kept).
    try:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False, quote_char='"')
    except pl.exceptions.PolarsError as exc:
        raise RulesetError(f"{file}: unreadable CSV: {exc}") from exc
    optional = {c for cols in OPTIONAL_TRAILING.values() for c in cols}
    missing = columns[len(frame.columns):]
    if (missing and set(missing) <= optional
            and tuple(frame.columns) == columns[:len(frame.columns)]):
        frame = frame.with_columns(pl.lit(None, pl.String).alias(c) for c in missing)
    if tuple(frame.columns) != columns:
        raise RulesetError(f"{file}: columns {frame.columns} != expected {list(columns)}")
    return frame


def read_table(manifest: Manifest, table: str) -> pl.DataFrame:
    """Read one table of a ruleset (following `base` for inherited tables and deltas)."""
    columns = TABLE_COLUMNS[table]
    entry = manifest.tables.get(table)
    if entry is None and table in OPTIONAL_TABLES and manifest.base is None:
        return pl.DataFrame(schema={c: pl.String for c in columns})
    if entry is None or entry.get("inherit"):
        if manifest.base is None:
            raise RulesetError(f"{manifest.path}/manifest.toml: table {table!r} missing")
        return read_table(read_manifest(manifest.base, manifest.path.parent), table)
    file = manifest.path / str(entry.get("file") or entry.get("delta"))
    if not file.is_file():
        raise RulesetError(f"{file}: file named in manifest does not exist")
    data = file.read_bytes()
    expected = entry.get("sha256")
    if expected and sha256_bytes(data) != expected:
        raise RulesetError(f"{file}: sha256 {sha256_bytes(data)[:12]}… does not match the "
                           f"manifest ({str(expected)[:12]}…); re-import or fix the manifest")
    if "file" in entry:
        return _read_csv_bytes(data, file, columns)
    if manifest.base is None:
        raise RulesetError(f"{file}: a delta table needs `base` in the manifest")
    delta = _read_csv_bytes(data, file, ("op", *columns))
    bad = delta.filter(~pl.col("op").is_in(["+", "-"]))
    if bad.height:
        raise RulesetError(f"{file}: op must be + or -, got {bad['op'][0]!r}")
    base = read_table(read_manifest(manifest.base, manifest.path.parent), table)
    removed = delta.filter(pl.col("op") == "-").drop("op")
    added = delta.filter(pl.col("op") == "+").drop("op")
    kept = base.join(removed, on=list(columns), how="anti", nulls_equal=True,
                     maintain_order="left")
    return pl.concat([kept, added])


def write_csv_bytes(frame: pl.DataFrame) -> bytes:
    """CSV bytes with RFC 4180 quoting, empty cell for null, LF line ends."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(frame.columns)
    for row in frame.iter_rows():
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode("utf-8")
