"""Optional translation of older code editions through the ruleset's code maps.

Every code needs a `from_code` row, otherwise the case is rejected (E106/E107); a `to_code` of
`-` drops the code (and rejects the case when it is the principal diagnosis).
"""

from __future__ import annotations

import polars as pl

from grouper.case_input import explode_codes
from grouper.errors import ErrorCode
from grouper.ruleset import Ruleset

_EMPTY = pl.lit([], dtype=pl.List(pl.String))


def translate_codes(cases: pl.DataFrame, rs: Ruleset) -> pl.DataFrame:
    """Replace `diagnoses`/`procedures` by their mapped codes; set `error_code` on failure."""
    for col, table, err in (("diagnoses", "dx_code_map", ErrorCode.DX_UNMAPPED),
                            ("procedures", "px_code_map", ErrorCode.PX_UNMAPPED)):
        mapping = rs.tables[table].rename({"from_code": "code"})
        ex = explode_codes(cases, col).join(mapping, on="code", how="left", maintain_order="left")
        failed = ex.filter(pl.col("to_code").is_null()
                           | ((pl.col("pos") == 0) & (pl.col("to_code") == "-")
                              & pl.lit(col == "diagnoses")))["_row"].unique()
        mapped = (ex.filter(pl.col("to_code").is_not_null() & (pl.col("to_code") != "-"))
                  .sort("_row", "pos").group_by("_row", maintain_order=True)
                  .agg(pl.col("to_code").alias("_mapped")))
        cases = (cases.join(mapped, on="_row", how="left", maintain_order="left")
                 .with_columns(
                     pl.when(pl.col(col).list.len() == 0).then(pl.col(col))
                     .otherwise(pl.col("_mapped").fill_null(_EMPTY)).alias(col),
                     pl.when(pl.col("error_code").is_null()
                             & pl.col("_row").is_in(failed.implode()))
                     .then(pl.lit(err.value)).otherwise(pl.col("error_code")).alias("error_code"),
                 ).drop("_mapped"))
    return cases


def translate_one(case: dict[str, object], dx_map: dict[str, str], px_map: dict[str, str]
                  ) -> tuple[dict[str, object], ErrorCode | None]:
    """The same translation for one case (per-case path)."""
    out = dict(case)
    for col, mapping, err in (("diagnoses", dx_map, ErrorCode.DX_UNMAPPED),
                              ("procedures", px_map, ErrorCode.PX_UNMAPPED)):
        codes = list(case.get(col) or [])  # type: ignore[call-overload]
        new = []
        for pos, code in enumerate(codes):
            to = mapping.get(code)
            if to is None or (col == "diagnoses" and pos == 0 and to == "-"):
                return out, err
            if to != "-":
                new.append(to)
        out[col] = new
    return out, None
