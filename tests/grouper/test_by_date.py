"""`--ruleset auto`: a mixed-year file equals grouping each part with its own ruleset."""

from __future__ import annotations

import polars as pl

from grouper import group_drg
from grouper.by_date import calendar_from, group_drg_auto, national_calendar
from tests.conftest import EXPECTED


def test_national_calendar_switches_to_chs_drg_20_on_2025_01_01() -> None:
    cal = {name: (start, end) for start, end, name in national_calendar()}
    assert str(cal["chs_drg_20"][0]) == "2025-01-01" and cal["chs_drg_20"][1] is None
    assert str(cal["chs_drg_11"][1]) == "2024-12-31"
    assert "foshan_2022" not in cal  # a local refinement applies only where a region names it


def test_mixed_year_file_equals_each_part_with_its_own_ruleset(oracle) -> None:
    old = oracle["chs_drg_11"].head(3000).drop(EXPECTED).with_columns(
        pl.lit("2024-12-31").alias("discharge_date"))
    new = oracle["chs_drg_20"].head(3000).drop(EXPECTED).with_columns(
        pl.lit("2025-01-01").alias("discharge_date"))
    undated = old.head(5).with_columns(pl.lit(None, pl.String).alias("discharge_date"))
    mixed = pl.concat([new.head(1000), old, undated, new.slice(1000)])
    out = group_drg_auto(mixed)
    assert out["case_id"].to_list() == mixed["case_id"].to_list()
    by_part = pl.concat([
        group_drg(new.head(1000), "chs_drg_20").with_columns(pl.lit("chs_drg_20").alias("ruleset")),
        group_drg(old, "chs_drg_11").with_columns(pl.lit("chs_drg_11").alias("ruleset")),
        group_drg(new.slice(1000), "chs_drg_20").with_columns(pl.lit("chs_drg_20").alias("ruleset")),
    ])
    dated = out.filter(pl.col("ruleset").is_not_null())
    assert dated.to_dicts() == by_part.to_dicts()
    rest = out.filter(pl.col("ruleset").is_null())
    assert rest.height == 5 and set(rest["error_code"]) == {"E108"}
    assert set(rest["status"]) == {"invalid"}


def test_region_calendar_overrides(oracle) -> None:
    cases = oracle["foshan_2022"].head(200).drop(EXPECTED).with_columns(
        pl.lit("2025-06-30").alias("discharge_date"))
    out = group_drg_auto(cases, calendar_from([("2022-01-01", "foshan_2022")]))
    assert set(out["ruleset"]) == {"foshan_2022"}
    assert out.drop("ruleset").to_dicts() == group_drg(cases, "foshan_2022").to_dicts()


def test_policy_names_a_regional_calendar() -> None:
    from engine.policy import parse_policy
    from tests.engine.test_settle_cases import DRG_POLICY

    text = DRG_POLICY.replace('method = "drg"',
                              'method = "drg"\nruleset_calendar = { "2022-01-01" = "foshan_2022", '
                              '"2026-01-01" = "chs_drg_20" }', 1)
    policy = parse_policy(text)
    cal = calendar_from(sorted(policy.policy.ruleset_calendar.items()))
    assert [(str(a), str(b) if b else None, n) for a, b, n in cal] == [
        ("2022-01-01", "2025-12-31", "foshan_2022"), ("2026-01-01", None, "chs_drg_20")]
