"""Order-independent means for the builds: costs as integer fen, year weights as 1/10⁴, sums in
Int128 (exact, so a parallel group-by gives the same bits every run), the division and the final
rounding (ROUND_HALF_UP) in Decimal. A float group-by sum depends on the order rows arrive in,
which is what made `weights build-dip` differ between two runs on the same history (issue 12).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

import polars as pl

CTX = Context(prec=50)
W_SCALE = 10_000


def _int128(e: pl.Expr, scale: int) -> pl.Expr:
    x = e.cast(pl.Float64)
    return ((x.abs() * scale + 0.5).floor() * x.sign()).cast(pl.Int64).cast(pl.Int128)


def exact_sums(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per `keys` (sorted): swc = Σ w4·fen, sw = Σ w4, n, s1 = Σ fen, s2 = Σ fen² (Int128) from
    columns `cost` (yuan) and `w` (year weight)."""
    fen, w4 = _int128(pl.col("cost"), 100), _int128(pl.col("w"), W_SCALE)
    return (frame.select(*keys, fen.alias("fen"), w4.alias("w4"))
            .group_by(keys).agg((pl.col("w4") * pl.col("fen")).sum().alias("swc"),
                                pl.col("w4").sum().alias("sw"), pl.len().alias("n"),
                                pl.col("fen").sum().alias("s1"),
                                (pl.col("fen") * pl.col("fen")).sum().alias("s2"))
            .sort(keys))


def weighted_mean_yuan(swc: int, sw: int) -> Decimal | None:
    """Σ w·cost / Σ w in yuan (unrounded, 50 digits)."""
    if not sw:
        return None
    return CTX.divide(CTX.divide(Decimal(swc), Decimal(sw)), Decimal(100))


def cv_of(n: int, s1: int, s2: int) -> Decimal | None:
    """Sample standard deviation / mean of the costs (polars `std()` / `mean()`), exact sums."""
    if n < 2 or s1 == 0:
        return None
    dn, d1 = Decimal(n), Decimal(s1)
    var = CTX.divide(CTX.subtract(Decimal(s2), CTX.divide(d1 * d1, dn)), dn - 1)
    return CTX.divide(CTX.sqrt(max(var, Decimal(0))), CTX.divide(d1, dn))


def half_up(value: Decimal | None, dp: int) -> Decimal | None:
    return None if value is None else value.quantize(Decimal(1).scaleb(-dp), ROUND_HALF_UP)


def half_up_float(value: Decimal, dp: int) -> float:
    """`value` rounded half-up to `dp` places, as the float of that decimal."""
    return float(value.quantize(Decimal(1).scaleb(-dp), ROUND_HALF_UP))
