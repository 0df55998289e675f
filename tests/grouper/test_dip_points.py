"""The adjusted score (score × aux coefficient) is exact and rounded half-up once (issue 12),
with one definition for the batch expression and the per-case function."""

import random
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from grouper.dip_points import adjusted_score, adjusted_score_expr


def _reference(score: str, coef: str) -> Decimal:
    return (Decimal(score) * Decimal(coef)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def test_half_way_products_round_up_not_to_even():
    # 1.0001 × 0.5 = 0.50005 (float: 0.50004999…); 2.0003 × 1.5 = 3.00045; 0.0001 × 0.5
    pairs = [("1.0001", "0.5"), ("2.0003", "1.5"), ("0.0001", "0.5"), ("1234.5671", "1.05")]
    for s, c in pairs:
        assert Decimal(str(adjusted_score(float(s), float(c)))) == _reference(s, c), (s, c)
    assert adjusted_score(1.0001, 0.5) == 0.5001
    assert adjusted_score(None, 1.0) is None


def test_expression_equals_function_and_decimal_reference_on_60000_pairs():
    rng = random.Random(12)
    scores = [f"{rng.randint(0, 99_999_999) / 10_000:.4f}" for _ in range(60_000)]
    coefs = [f"{rng.randint(1_000, 30_000) / 10_000:.4f}" for _ in range(60_000)]
    # force some exact half-way products
    scores[:500] = [f"{2 * k + 1}.0001" for k in range(500)]
    coefs[:500] = ["0.5000"] * 500
    frame = pl.DataFrame({"s": [float(s) for s in scores], "c": [float(c) for c in coefs]})
    batch = frame.select(adjusted_score_expr(pl.col("s"), pl.col("c")).alias("a"))["a"]
    for s, c, a in zip(scores, coefs, batch.to_list(), strict=True):
        ref = _reference(s, c)
        assert Decimal(str(a)) == ref, (s, c, a, ref)
        assert adjusted_score(float(s), float(c)) == a
