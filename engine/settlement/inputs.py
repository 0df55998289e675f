"""Inputs of per-case settlement brought to one shape: cases, grouping results, weights and
hospitals, with money in fen and weights/coefficients ×10⁴ (see engine.settlement.money)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl

from engine.policy import LEVEL_ALIASES, Policy, PolicyError
from engine.settlement.money import scaled, to_fen, to_scaled
from grouper.errors import RefusedError

MONEY_COLUMNS = ("total_cost", "fund_paid", "other_fund_paid", "patient_paid")
POOL_ALIASES = {"employee": "employee", "职工": "employee", "城镇职工": "employee",
                "resident": "resident", "居民": "resident", "城乡居民": "resident"}


def hospital_type_key(value: str | None) -> str:
    """`TCM` → `tcm`, `maternal-child` → `maternal_child`."""
    return (value or "").strip().lower().replace("-", "_").replace(" ", "_")


def institution_coefficients(hospitals: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """(hospital_id, hospital_level, hospital_type, inst4): level base + type add-ons, raised to
    the type minimum (payment-rules §3.5); a `coefficient` column (the store's value in force)
    replaces that, and an explicit per-hospital value in the policy wins over everything.
    Raises PolicyError for a hospital whose level the policy does not know."""
    coef = policy.institution_coef
    rows = []
    optional = [(pl.col(c) if c in hospitals.columns else pl.lit(None)).alias(c)
                for c in ("type", "coefficient")]
    for row in hospitals.select("hospital_id", "level", *optional).iter_rows():
        hid, level_raw, kind_raw, stored = str(row[0]), str(row[1] or "").strip(), row[2], row[3]
        level = LEVEL_ALIASES.get(level_raw)
        if level is None:
            raise PolicyError(f"hospital {hid}: level={level_raw!r}; accepted: "
                              f"{', '.join(LEVEL_ALIASES)}")
        kind = hospital_type_key(kind_raw)
        value = coef.by_level[level] + coef.type_add_on.get(kind, 0)
        value = max(value, coef.type_min.get(kind, value))
        if stored is not None:  # the store's coefficient in force (weights.hospitals)
            value = Decimal(str(stored))
        value = coef.hospital.get(hid, value)
        rows.append((hid, level, kind, scaled(value)))
    return pl.DataFrame(rows, schema={"hospital_id": pl.String, "hospital_level": pl.String,
                                      "hospital_type": pl.String, "inst4": pl.Int64},
                        orient="row")


def _first_dx(frame: pl.DataFrame) -> pl.Expr:
    if "diagnoses" not in frame.columns:
        return pl.lit("").alias("dx0")
    col = pl.col("diagnoses")
    if frame.schema["diagnoses"] in (pl.String, pl.Utf8):
        col = col.str.split("|")
    return col.list.first().fill_null("").str.strip_chars().str.to_uppercase().alias("dx0")


def _date(frame: pl.DataFrame, col: str) -> pl.Expr:
    if col not in frame.columns:
        return pl.lit(None, pl.Date).alias(col)
    if frame.schema[col] == pl.Date:
        return pl.col(col)
    if isinstance(frame.schema[col], pl.Datetime):
        return pl.col(col).dt.date()
    return pl.col(col).cast(pl.String).str.to_date(strict=False).alias(col)


def prepare_cases(cases: pl.DataFrame) -> pl.DataFrame:
    """_row, case_id, hospital_id, fund_pool, los, discharge_way, dx0, patient_id, dates,
    tcm_treatment, day_surgery and the four money columns in fen."""
    text = {c: (pl.col(c).cast(pl.String).str.strip_chars() if c in cases.columns
                else pl.lit(None, pl.String)).alias(c)
            for c in ("case_id", "hospital_id", "patient_id", "insurance_type")}
    frame = cases.with_columns(_date(cases, "admit_date"), _date(cases, "discharge_date"))
    los = (pl.col("los").cast(pl.Int64, strict=False) if "los" in cases.columns
           else pl.lit(None, pl.Int64))
    derived = pl.max_horizontal(
        (pl.col("discharge_date") - pl.col("admit_date")).dt.total_days(), pl.lit(1))
    way = (pl.col("discharge_way").cast(pl.Int64, strict=False) if "discharge_way" in cases.columns
           else pl.lit(None, pl.Int64))
    return frame.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
        *text.values(),
        pl.col("insurance_type").cast(pl.String).str.strip_chars().str.to_lowercase()
        .replace_strict(POOL_ALIASES, default=None).alias("fund_pool")
        if "insurance_type" in cases.columns else pl.lit(None, pl.String).alias("fund_pool"),
        pl.coalesce(los, derived).alias("los"),
        way.alias("discharge_way"),
        _first_dx(cases),
        "admit_date", "discharge_date",
        *((pl.when(pl.col("ingest_status") == "error").then(pl.col(c)).alias(c)
           for c in ("ingest_error_code", "ingest_error_message"))
          if "ingest_status" in cases.columns else
          (pl.lit(None, pl.String).alias(c) for c in ("ingest_error_code", "ingest_error_message"))),
        *(to_fen(cases, c) for c in MONEY_COLUMNS),
    ).drop("insurance_type")


def prepare_grouped(grouped: pl.DataFrame, method: str) -> pl.DataFrame:
    """group_status, group_code, group_name, group_type, adrg, case_weight4 (DIP: adjusted
    score), group_error_code, group_error_message."""
    g = grouped
    common = [pl.col("status").alias("group_status"),
              (pl.col("error_code") if "error_code" in g.columns else pl.lit(None, pl.String))
              .alias("group_error_code"),
              (pl.col("error_message") if "error_message" in g.columns
               else pl.lit(None, pl.String)).alias("group_error_message")]
    if method == "drg":
        return g.select(*common, pl.col("drg").alias("group_code"),
                        (pl.col("drg_name") if "drg_name" in g.columns
                         else pl.lit(None, pl.String)).alias("group_name"),
                        pl.lit("drg").alias("group_type"), pl.col("adrg"),
                        pl.lit(None, pl.Int64).alias("case_weight4"))
    score = "adjusted_score" if "adjusted_score" in g.columns else "dip_score"
    return g.select(*common, pl.col("dip_code").alias("group_code"),
                    pl.col("dip_name").alias("group_name"), pl.col("dip_type").alias("group_type"),
                    pl.lit(None, pl.String).alias("adrg"),
                    to_scaled(g, score, 4).alias("case_weight4"))


def prepare_grouped_typed(grouped: pl.DataFrame, method: str) -> pl.DataFrame:
    """prepare_grouped with every text column as String (all-null columns included)."""
    out = prepare_grouped(grouped, method)
    return out.with_columns(pl.col(c).cast(pl.String) for c in (
        "group_status", "group_error_code", "group_error_message", "group_code", "group_name",
        "group_type", "adrg"))


def prepare_weights(weights: pl.DataFrame, method: str) -> pl.DataFrame:
    """(group_code, weight4, avg_fen, n_cases, cost_code) from drg_weights (drg, rw, mean_cost, n_cases)
    or a DIP catalogue (dip_code, score, mean_cost, n_cases)."""
    code, weight = ("drg", "rw") if method == "drg" else ("dip_code", "score")
    for c in (code, weight, "mean_cost"):
        if c not in weights.columns:
            raise PolicyError(f"weight table lacks column {c!r}; has {', '.join(weights.columns)}")
    n = (pl.col("n_cases").cast(pl.Int64).fill_null(1) if "n_cases" in weights.columns
         else pl.lit(1, pl.Int64))
    out = weights.select(pl.col(code).cast(pl.String).alias("group_code"),
                         to_scaled(weights, weight, 4).alias("weight4"),
                         to_fen(weights, "mean_cost").alias("avg_fen"),
                         n.alias("n_cases"),
                         (pl.col("ref_code").cast(pl.String) if "ref_code" in weights.columns
                          else pl.lit(None, pl.String)).alias("ref_code"),
                         ).unique("group_code", keep="first")
    # DIP TCM and day-surgery groups copy the score of a reference group (同病同效同分值) and
    # have no cost history of their own: their deviation baseline is the reference's mean cost
    # (`cost_code` names the group whose costs, regional and same-level, are used).
    ref = out.select(pl.col("group_code").alias("ref_code"), pl.col("avg_fen").alias("ref_avg"))
    return (out.join(ref, on="ref_code", how="left", maintain_order="left")
            .with_columns(pl.coalesce("avg_fen", "ref_avg").alias("avg_fen"),
                          pl.when(pl.col("avg_fen").is_null() & pl.col("ref_avg").is_not_null())
                          .then(pl.col("ref_code")).otherwise(pl.col("group_code"))
                          .alias("cost_code"))
            .drop("ref_code", "ref_avg")
            .pipe(_refuse_dip_without_mean_costs, method))


def _refuse_dip_without_mean_costs(table: pl.DataFrame, method: str) -> pl.DataFrame:
    """A DIP version whose groups carry no mean cost would settle every case as `unmatched`
    (0 points, fee-for-service) without a word (issue 16): refuse it, naming the groups."""
    if method == "drg":
        return table
    missing = table.filter(pl.col("avg_fen").is_null() | (pl.col("avg_fen") <= 0))["group_code"]
    if missing.len():
        shown = ", ".join(missing.sort().head(5).to_list()) + (" …" if missing.len() > 5 else "")
        raise RefusedError(
            f"DIP 目录 {missing.len()} 个病种无次均费用，不能用于结算；"
            f"DIP catalogue: {missing.len()} of {table.height} groups have no mean cost "
            f"(次均费用), so it cannot be used for settlement ({shown}); re-import it with "
            f"mean costs or derive them (score × regional average cost / scale)")
    return table


LEVEL_COSTS = "level_costs"  # optional weight-table column: list of (level, mean_cost, n_kept)


def nest_costs(table: pl.DataFrame, rows: pl.DataFrame, code: str, key: str,
               column: str) -> pl.DataFrame:
    """The weight table with `column`: per group, the list of struct (key, mean_cost, n_kept)
    of its cost `rows` (code, key, mean_cost, n_kept); groups without rows get null."""
    nested = rows.group_by(code).agg(
        pl.struct(pl.col(key).cast(pl.String), "mean_cost",
                  pl.col("n_kept").cast(pl.Int64)).alias(column))
    return (table.drop(column, strict=False)
            .join(nested, on=code, how="left", maintain_order="left"))


def unnest_costs(weights: pl.DataFrame, method: str, column: str,
                 code_alias: str) -> pl.DataFrame | None:
    """The nested cost `column` of the weight table (`nest_costs`) as one row per group and key
    (code_alias, key, mean_cost, n_kept); None when the table has no such column."""
    if column not in weights.columns:
        return None
    code = "drg" if method == "drg" else "dip_code"
    return (weights.select(pl.col(code).cast(pl.String).alias(code_alias), column)
            .explode(column).drop_nulls(column).unnest(column))


def attach_level_costs(table: pl.DataFrame, levels: pl.DataFrame, code: str) -> pl.DataFrame:
    """The weight table with a `level_costs` column from a same-level cost table (code, level,
    mean_cost, n_kept; the store's `{kind}_level_costs` rows)."""
    return nest_costs(table, levels, code, "level", LEVEL_COSTS)


def prepare_level_costs(weights: pl.DataFrame, method: str) -> pl.DataFrame:
    """(cost_code, hospital_level, level_avg_fen, level_n) from the weight table's optional
    `level_costs` column; empty without it."""
    schema = {"cost_code": pl.String, "hospital_level": pl.String, "level_avg_fen": pl.Int64,
              "level_n": pl.Int64}
    long = unnest_costs(weights, method, LEVEL_COSTS, "cost_code")
    if long is None:
        return pl.DataFrame(schema=schema)
    return long.select(
        "cost_code", pl.col("level").cast(pl.String).replace(LEVEL_ALIASES).alias(
            "hospital_level"),
        to_fen(long, "mean_cost").alias("level_avg_fen"),
        pl.col("n_kept").cast(pl.Int64).alias("level_n"),
    ).unique(["cost_code", "hospital_level"], keep="first")


def period_of(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"
