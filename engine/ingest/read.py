"""`read_cases`: any claim file or frame → typed contracts §1 cases plus per-row problems."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from engine.ingest.codes import MESSAGES, IngestCode
from engine.ingest.coerce import COERCERS, OUT_DTYPES
from engine.ingest.fields import (
    ALIASES,
    BY_NAME,
    COST_COLUMNS,
    FIELDS,
    REQUIRED,
    WIDE_PATTERNS,
    header_key,
)
from engine.ingest.formats import TYPE_ERRORS, read_raw
from grouper.errors import InputError

PanicException = pl.exceptions.PanicException  # a BaseException, not an Exception

PROBLEM_SCHEMA = {"case_id": pl.String, "_row": pl.UInt32, "field": pl.String,
                  "error_code": pl.String, "message": pl.String}
MONEY_PARTS = ("fund_paid", "other_fund_paid", "patient_paid")
NON_NEGATIVE = ("age", "age_days", "birth_weight", "los", "icu_hours", "vent_hours")


@dataclass(frozen=True)
class IngestResult:
    """`cases`: one row per input row, in order, typed, with `_row` and `ingest_status`
    (`ok`/`error`), `ingest_error_code`, `ingest_error_message` (the row's first problem).
    `problems`: every problem, one row each (case_id, _row, field, error_code, message)."""

    cases: pl.DataFrame
    problems: pl.DataFrame
    source: str = "<frame>"
    # headers not recognised, with the closest known alias: (("医疗总费", "医疗总费用"), …)
    unknown_headers: tuple[tuple[str, str], ...] = ()

    def header_note(self) -> str | None:
        """One line for the user, or None: `未识别的列 / unknown columns: 医疗总费 → 医疗总费用?`"""
        if not self.unknown_headers:
            return None
        return ("未识别的列 / unknown columns (not read): "
                + "; ".join(f"{h} → {a}?" for h, a in self.unknown_headers))

    @property
    def error_rows(self) -> int:
        return int((self.cases["ingest_status"] == "error").sum())


def _canonical(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """Rename aliased headers; the first header found for a field wins, others stay as-is."""
    renames: dict[str, str] = {}
    taken: set[str] = set()
    for col in frame.columns:
        target = ALIASES.get(header_key(col))
        if target is not None and target not in taken:
            renames[col] = target
            taken.add(target)
    clash = [c for c in frame.columns if c not in renames and c in taken]
    frame = frame.rename({c: f"{c}_original" for c in clash})  # e.g. a second `case_id`
    return frame.rename(renames)


def _wide_codes(frame: pl.DataFrame) -> pl.DataFrame:
    """主要诊断编码 + 其他诊断编码1…N → one `diagnoses` list (same for procedures)."""
    for target, (principal_names, numbered) in WIDE_PATTERNS.items():
        if target in frame.columns:
            continue
        keys = {header_key(c): c for c in frame.columns}
        principal = next((keys[header_key(n)] for n in principal_names
                          if header_key(n) in keys), None)
        others = sorted(((int(m.group(1)), c) for c in frame.columns
                         if (m := numbered.match(header_key(c)))), key=lambda t: t[0])
        if principal is None:
            continue
        parts = [pl.col(c).cast(pl.String).str.strip_chars().fill_null("")
                 for c in (principal, *(c for _, c in others))]
        frame = frame.with_columns(pl.concat_str(parts, separator="|").alias(target))
        frame = frame.drop(principal, *(c for _, c in others))
    return frame


def _to_frame(data: Any, source: str) -> pl.DataFrame:
    if isinstance(data, (str, Path)):
        return read_raw(Path(data))
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, pa.Table):
        return pl.from_arrow(data)  # type: ignore[return-value]
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, list):
        return pl.DataFrame(data, infer_schema_length=None, strict=False)
    raise InputError(f"cases must be a file path or a polars/pyarrow table, "
                     f"got {type(data).__name__}")


def _repeated(ids: pl.Series) -> pl.Series:
    """True on the second and later rows of a repeated non-null id.

    Hash, sort and compare (fast on millions of rows); only rows whose hash repeats are
    compared exactly.
    """
    h = ids.hash(seed=0).to_numpy()
    order = np.argsort(h, kind="stable")
    hs = h[order]
    same = np.flatnonzero(hs[1:] == hs[:-1])
    out = np.zeros(len(ids), dtype=bool)
    if len(same):
        rows = np.unique(np.concatenate([order[same], order[same + 1]]))
        sub = ids.gather(rows)
        later = (~sub.is_first_distinct() & sub.is_not_null()).to_numpy()
        out[rows[later]] = True
    return pl.Series(out)


def _value_text(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String, strict=False).fill_null("(空)")


def read_cases(path_or_frame: Any, *, ruleset_needs: Iterable[str] | None = None,
               patient_ids: str = "pseudonymise") -> IngestResult:
    """Read cases from a file or frame (`_read_cases`); `patient_id` comes out pseudonymised
    with the configured key, refused without one (`patient_ids="drop"`: emptied, for readers
    that never link stays), engine.pseudonym — no clear patient id leaves ingestion."""
    from engine.pseudonym import pseudonymise

    result = _read_cases(path_or_frame, ruleset_needs=ruleset_needs)
    return replace(result, cases=pseudonymise(result.cases, patient_ids))


def _read_cases(path_or_frame: Any, *, ruleset_needs: Iterable[str] | None = None) -> IngestResult:
    """Read cases from a file (.parquet/.csv/.jsonl/.xlsx) or a frame; never drops a row.

    `ruleset_needs`: further fields the caller requires (e.g. `("icu_hours",)` for a ruleset
    that splits on ICU time, or the settlement fields): a missing column is an `InputError`,
    a missing value a per-row `I101` problem.

    >>> r = read_cases(pl.DataFrame({"病案号": ["a"], "性别": ["女"], "年龄": ["30"],
    ...                              "诊断编码": ["O80.000|Z37.000"]}))
    >>> r.cases.select("case_id", "sex", "age", "diagnoses").row(0)
    ('a', 2, 30, ['O80.000', 'Z37.000'])
    """
    source = str(path_or_frame) if isinstance(path_or_frame, (str, Path)) else "<frame>"
    original = _to_frame(path_or_frame, source)
    user_headers = [c for c in original.columns if not c.startswith("_")]
    raw = _wide_codes(_canonical(original, source))
    needs = tuple(dict.fromkeys((*REQUIRED, *(ruleset_needs or ()))))
    unknown = [n for n in needs if n not in BY_NAME]
    if unknown:
        raise InputError(f"ruleset_needs names unknown field(s): {', '.join(unknown)}")
    missing = [n for n in needs if n not in raw.columns]
    if missing:
        hints = [f"{h} → {a}?" for h, a in closest_aliases(user_headers)]
        raise InputError(f"{source}: missing required column(s) 缺少必填列: "
                         f"{', '.join(_label(m) for m in missing)}; "
                         + (f"did you mean 是否应为: {'; '.join(hints)}; " if hints else "")
                         + f"the file's headers 文件表头: {', '.join(user_headers) or '(none)'}")
    unknown_headers = tuple(closest_aliases(user_headers))
    try:
        return replace(_coerce(raw, needs), unknown_headers=unknown_headers)
    except PanicException:
        pass  # a polars internal assertion: retry once on a contiguous all-text copy
    try:
        return _coerce(_as_text(raw), needs)
    except PanicException as exc:  # never let a BaseException out of ingestion
        raise InputError(f"{source}: the file could not be read (internal reader error: "
                         f"{_first_line(exc)}); please report it with the file") from None


def _label(name: str) -> str:
    """`diagnoses (诊断编码)`: a field with its first Chinese alias."""
    zh = next((a for a in BY_NAME[name].aliases if not a.isascii()), None)
    if name == "diagnoses":
        zh = "诊断编码 or 主要诊断编码"
    return f"{name} ({zh})" if zh else name


def closest_aliases(headers: Iterable[str]) -> list[tuple[str, str]]:
    """(header, closest known alias) for each header ingestion does not recognise."""
    import difflib

    known = {header_key(a): a for f in FIELDS for a in (f.name, *f.aliases)}
    for principal, _ in WIDE_PATTERNS.values():
        known.update({header_key(a): a for a in principal})
    out = []
    for h in headers:
        key = header_key(h)
        if key in known or any(p.match(key) for _, p in WIDE_PATTERNS.values()):
            continue
        best = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
        if best:
            out.append((h, known[best[0]]))
    return out


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _as_text(raw: pl.DataFrame) -> pl.DataFrame:
    """Every column as text (lists as lists of text), each in one chunk."""
    return raw.select(
        pl.col(c).cast(pl.List(pl.String), strict=False) if isinstance(t, pl.List)
        else pl.col(c).cast(pl.String, strict=False) for c, t in raw.schema.items()).rechunk()


def _coerce(raw: pl.DataFrame, needs: tuple[str, ...]) -> IngestResult:
    known = [f for f in FIELDS if f.name in raw.columns]
    exprs: list[pl.Expr] = []
    checks: list[tuple[str, IngestCode, pl.Expr, pl.Expr]] = []
    for f in known:
        dtype = raw.schema[f.name]
        typed, bad = COERCERS[f.kind](f.name, dtype)
        # the raw cell is kept as-is; it becomes text only in the messages of problem rows
        exprs += [typed.cast(OUT_DTYPES[f.kind]).alias(f.name), bad.alias(f"bad:{f.name}"),
                  pl.col(f.name).alias(f"raw:{f.name}") if not isinstance(dtype, pl.List)
                  else pl.lit(None, pl.String).alias(f"raw:{f.name}")]
        code = {"date": IngestCode.BAD_DATE, "int": IngestCode.NOT_A_NUMBER,
                "float": IngestCode.NOT_A_NUMBER, "money": IngestCode.NOT_A_NUMBER}.get(
                    f.kind, IngestCode.BAD_CATEGORY)
        checks.append((f.name, code, pl.col(f"bad:{f.name}"), _value_text(f"raw:{f.name}")))
    absent = [pl.lit(None, dtype=OUT_DTYPES[f.kind]).alias(f.name) for f in FIELDS
              if f.name not in raw.columns and f.name not in COST_COLUMNS]
    passthrough = [c for c in raw.columns if c not in BY_NAME and not c.startswith("_")]
    typed_errors = [TYPE_ERRORS] if TYPE_ERRORS in raw.columns else []
    work = raw.with_row_index("_row").select("_row", *exprs, *absent, *passthrough,
                                             *typed_errors)
    if typed_errors:  # JSON lists/objects where one value belongs (formats._json_columns)
        headers = sorted({h for v in work[TYPE_ERRORS].drop_nulls().to_list()
                          for h in v.split("\t")})
        checks[:0] = [(ALIASES.get(header_key(h), h), IngestCode.WRONG_CELL_TYPE,
                       pl.col(TYPE_ERRORS).str.split("\t").list.contains(h),
                       pl.lit("(列表/对象 list/object)")) for h in headers]
    if "los" not in raw.columns or work["los"].null_count() > 0:
        # same-day discharge counts one day (首页 convention, payment-rules §1)
        derived = (pl.col("discharge_date") - pl.col("admit_date")).dt.total_days()
        work = work.with_columns(pl.coalesce(
            "los", pl.when(derived >= 0).then(pl.max_horizontal(derived, 1))))

    for name in needs:
        blank = (pl.col(name).list.len() == 0) if isinstance(work.schema[name], pl.List) \
            else pl.col(name).is_null()
        checks.append((name, IngestCode.REQUIRED_MISSING, blank & ~pl.col(f"bad:{name}"),
                       pl.lit("(空)")))
    checks += [
        ("age_days", IngestCode.REQUIRED_MISSING,
         (pl.col("age") == 0) & pl.col("age_days").is_null(), pl.lit("(空), age=0")),
        ("birth_weight", IngestCode.REQUIRED_MISSING,
         (pl.col("age") == 0) & (pl.col("age_days") <= 28) & pl.col("birth_weight").is_null(),
         pl.concat_str(pl.lit("(空), age_days="), pl.col("age_days").cast(pl.String))),
    ]
    checks += [(c, IngestCode.OUT_OF_RANGE, pl.col(c) < 0, pl.col(c).cast(pl.String))
               for c in NON_NEGATIVE if c in raw.columns]
    money_cols = [c for c in ("total_cost", *MONEY_PARTS, "self_pay_out_of_scope", *COST_COLUMNS)
                  if c in raw.columns]
    checks += [(c, IngestCode.NEGATIVE_COST, pl.col(c) < 0, pl.col(c).cast(pl.String))
               for c in money_cols]
    checks.append(("discharge_date", IngestCode.DISCHARGE_BEFORE_ADMISSION,
                   pl.col("discharge_date") < pl.col("admit_date"),
                   pl.concat_str(pl.col("discharge_date").cast(pl.String), pl.lit(" < "),
                                 pl.col("admit_date").cast(pl.String))))
    if all(c in raw.columns for c in ("total_cost", *MONEY_PARTS)):
        gap = (pl.sum_horizontal(*MONEY_PARTS) - pl.col("total_cost")).abs()
        checks.append(("total_cost", IngestCode.PAYMENT_PARTS_MISMATCH,
                       gap > pl.lit(1).cast(pl.Decimal(18, 2)) / 100,
                       pl.concat_str(*(pl.col(c).cast(pl.String).fill_null("(空)")
                                       for c in MONEY_PARTS), separator="+")
                       + pl.lit("≠") + pl.col("total_cost").cast(pl.String).fill_null("(空)")))
    present_costs = [c for c in COST_COLUMNS if c in raw.columns]
    if present_costs and "total_cost" in raw.columns:
        tol = pl.lit(len(present_costs)).cast(pl.Decimal(18, 2)) / 100
        gap = (pl.sum_horizontal(*present_costs) - pl.col("total_cost")).abs()
        complete = pl.all_horizontal(pl.col(c).is_not_null() for c in present_costs)
        checks.append(("total_cost", IngestCode.COST_BREAKDOWN_MISMATCH, complete & (gap > tol),
                       pl.lit("Σcost_*=") + pl.sum_horizontal(*present_costs).cast(pl.String)))
    work = work.with_columns(_repeated(work["case_id"]).alias("dup:case_id"))
    checks.append(("case_id", IngestCode.DUPLICATE_CASE_ID, pl.col("dup:case_id"),
                   pl.col("case_id")))

    # One contiguous chunk per column: string expressions (pl.format/concat_str) over a frame
    # whose columns are chunked differently (a parallel CSV read, then with_columns of new
    # columns) panicked inside polars 2.1 (`assertion failed: i < self.len()`, issue 13).
    work = work.rechunk()
    masks = work.select([m.fill_null(False).alias(f"m{i}") for i, (_, _, m, _) in
                         enumerate(checks)])
    parts = []
    for i, (name, code, _, value) in enumerate(checks):
        rows = np.flatnonzero(masks[f"m{i}"].to_numpy())
        if not len(rows):
            continue
        # the problem rows are gathered first (a fresh contiguous frame), their value is
        # rendered as text there, and the message is joined in Python: no string kernel
        # ever runs over a filtered view of the whole file
        hit = work[rows]
        values = hit.select("_row", value.cast(pl.String, strict=False).fill_null("(空)")
                            .alias("_value"))["_value"]  # `_row` broadcasts literal values
        prefix = f"{MESSAGES[code]}: {name}="
        parts.append(pl.DataFrame({
            "case_id": hit["case_id"], "_row": hit["_row"].cast(pl.UInt32),
            "field": pl.Series([name] * len(rows), dtype=pl.String),
            "error_code": pl.Series([code.value] * len(rows), dtype=pl.String),
            "message": pl.Series([prefix + v for v in values.to_list()], dtype=pl.String),
            "_check": pl.Series([i] * len(rows), dtype=pl.Int32)}))
    problems = (pl.concat(parts).sort("_row", "_check").drop("_check") if parts
                else pl.DataFrame(schema=PROBLEM_SCHEMA))
    first = problems.unique("_row", keep="first", maintain_order=True)
    # the row's first problem, scattered by position (rows are 0..n-1)
    code = pl.repeat(None, work.height, dtype=pl.String, eager=True).alias("ingest_error_code")
    message = code.alias("ingest_error_message")
    if first.height:
        code = code.scatter(first["_row"], first["error_code"])
        message = message.scatter(first["_row"], first["message"])
    cases = (work.drop([c for c in work.columns if c.startswith(("raw:", "bad:", "dup:", TYPE_ERRORS))])
             .with_columns(pl.col("_row").cast(pl.UInt32), code, message)
             .with_columns(pl.when(pl.col("ingest_error_code").is_null()).then(pl.lit("ok"))
                           .otherwise(pl.lit("error")).alias("ingest_status")))
    order = ["_row", *(f.name for f in FIELDS if f.name in cases.columns),
             "ingest_status", "ingest_error_code", "ingest_error_message"]
    cases = cases.select(*order, *(c for c in cases.columns if c not in order))
    return IngestResult(cases=cases, problems=problems.cast(PROBLEM_SCHEMA))  # type: ignore[arg-type]
