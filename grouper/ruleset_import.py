"""Import a ruleset from a directory of CHS-DRG CSV tables into the project's own format.

Used once per scheme by a developer (`drgdip rulesets import SRC --name N [--base B]`); the
grouper itself only ever reads `grouper/rulesets/`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from grouper.errors import RulesetError
from grouper.ruleset_files import (
    RULESET_ROOT,
    TABLE_COLUMNS,
    _read_csv_bytes,
    read_manifest,
    read_table,
    sha256_bytes,
    write_csv_bytes,
)

# A delta is kept only when it is much smaller than the full table.
_DELTA_MAX_SHARE = 0.2


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def import_ruleset(
    source: Path, name: str, *, base: str | None = None, meta: dict[str, str] | None = None,
    root: Path = RULESET_ROOT,
) -> Path:
    """Convert `source/*.csv` into `root/name/` (full tables or row deltas on `base`)."""
    dest = root / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    base_manifest = read_manifest(base, root) if base else None
    entries: dict[str, dict[str, object]] = {}
    for table, columns in TABLE_COLUMNS.items():
        src = source / f"{table}.csv"
        if not src.is_file():
            raise RulesetError(f"{src}: table file missing")
        frame = _read_csv_bytes(src.read_bytes(), src, columns)
        if base_manifest is not None:
            base_frame = read_table(base_manifest, table)
            removed = base_frame.join(frame, on=list(columns), how="anti", nulls_equal=True,
                                      maintain_order="left")
            added = frame.join(base_frame, on=list(columns), how="anti", nulls_equal=True,
                               maintain_order="left")
            if removed.height == 0 and added.height == 0:
                entries[table] = {"inherit": True, "rows": frame.height}
                continue
            if removed.height + added.height <= _DELTA_MAX_SHARE * frame.height:
                delta = pl.concat([
                    removed.select(pl.lit("-").alias("op"), *columns),
                    added.select(pl.lit("+").alias("op"), *columns),
                ])
                data = write_csv_bytes(delta)
                (dest / f"{table}.delta.csv").write_bytes(data)
                entries[table] = {"delta": f"{table}.delta.csv", "rows": frame.height,
                                  "removed": removed.height, "added": added.height,
                                  "sha256": sha256_bytes(data)}
                continue
        data = write_csv_bytes(frame)
        (dest / f"{table}.csv").write_bytes(data)
        entries[table] = {"file": f"{table}.csv", "rows": frame.height,
                          "sha256": sha256_bytes(data)}
    meta = dict(meta or {})
    lines = [f"name = {_toml_value(name)}"]
    for key in ("title", "version", "source", "license", "effective_from", "effective_to"):
        lines.append(f"{key} = {_toml_value(meta.get(key, ''))}")
    if base:
        lines.append(f"base = {_toml_value(base)}")
    for table, entry in entries.items():
        lines.append("")
        lines.append(f"[tables.{table}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in entry.items())
    (dest / "manifest.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest
