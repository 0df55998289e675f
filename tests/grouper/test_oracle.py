"""100 % agreement with the reference groupings (tests/data/ORACLE.md)."""

from __future__ import annotations

import polars as pl
import pytest

from grouper import explain, group_drg, group_one, load_ruleset
from tests.conftest import EXPECTED, RULESETS


@pytest.mark.parametrize("ruleset", RULESETS)
def test_batch_agrees_with_oracle_case_for_case(oracle: dict[str, pl.DataFrame],
                                                ruleset: str) -> None:
    cases = oracle[ruleset]
    out = group_drg(cases.drop(EXPECTED), ruleset)
    assert out.height == cases.height
    assert out["case_id"].to_list() == cases["case_id"].to_list()
    got = out.select("status", "mdc", "adrg", "drg")
    want = cases.select(pl.col(EXPECTED).name.map(lambda c: c.removeprefix("expected_")))
    differ = cases.select("case_id").with_columns(
        pl.concat_str(got.to_series(i).fill_null("∅") for i in range(4)).alias("got"),
        pl.concat_str(want.to_series(i).fill_null("∅") for i in range(4)).alias("want"),
    ).filter(pl.col("got") != pl.col("want"))
    assert differ.height == 0, f"{differ.height} disagreements, first: {differ.head(5)}"


@pytest.mark.parametrize("ruleset", RULESETS)
def test_every_group_of_the_oracle_is_produced(oracle: dict[str, pl.DataFrame],
                                               ruleset: str) -> None:
    out = group_drg(oracle[ruleset], ruleset)
    expected = set(oracle[ruleset]["expected_drg"].drop_nulls())
    assert set(out["drg"].drop_nulls()) == expected


@pytest.mark.parametrize("ruleset", RULESETS)
def test_per_case_path_equals_batch_on_oracle_sample(oracle: dict[str, pl.DataFrame],
                                                     ruleset: str) -> None:
    rs = load_ruleset(ruleset)
    cases = oracle[ruleset].sample(3000, seed=7)
    batch = group_drg(cases, rs)
    for i, (row, want) in enumerate(zip(cases.iter_rows(named=True), batch.iter_rows(named=True),
                                        strict=True)):
        assert group_one(row, rs) == want, row["case_id"]
        if i < 1000:  # explain walks the MDCs with its trace; it decides the same
            assert explain(row, rs).result() == want, row["case_id"]


def test_explain_is_safe_to_call_from_many_threads(oracle: dict[str, pl.DataFrame]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    rs = load_ruleset("foshan_2022")
    rows = oracle["foshan_2022"].head(400).to_dicts()
    sequential = [explain(r, rs).to_dict() for r in rows]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda r: explain(r, rs).to_dict(), rows))
    assert threaded == sequential
    assert all(s["steps"] for s in sequential)
