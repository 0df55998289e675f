"""ICD-10 chapters for the DIP fallback groups (兜底病种): a case that no core or comprehensive
group takes goes to the catalogue's `CPnn` group of its principal diagnosis's chapter × its
treatment class, else to the catch-all (`KBBZ`), else it is ungroupable.

`dip_data/icd10_chapters.csv` holds the 22 chapters (CP01 = chapter I, A00–B99 … CP22 = chapter
XXII, U00–U99, the special-purpose codes) with their published first category; each range runs
to the category before the next chapter starts, so every category has one chapter. Reading
Pingdingshan's `CP01`–`CP22` as ICD-10 chapters is an inference (its README says so), adopted
because 22 numbered groups × 4 treatment classes match the 22 chapters.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import polars as pl

CHAPTERS_FILE = "icd10_chapters.csv"


@lru_cache(maxsize=1)
def load_chapters() -> tuple[tuple[str, str, str], ...]:
    """(chapter, first category, last category) in file order."""
    text = resources.files("grouper").joinpath("dip_data", CHAPTERS_FILE).read_bytes()
    table = pl.read_csv(text, infer_schema_length=0)
    return tuple(table.select("chapter", "first", "last").iter_rows())


def chapter_of(category: str) -> str | None:
    """`CPnn` of a 3-character ICD-10 category (`K80` → `CP11`), None outside every chapter."""
    for chapter, first, last in load_chapters():
        if first <= category <= last:
            return chapter
    return None


def chapter_expr(category: pl.Expr) -> pl.Expr:
    """`chapter_of` as a polars expression."""
    expr: pl.Expr = pl.lit(None, pl.String)
    for chapter, first, last in reversed(load_chapters()):  # the first range that holds wins
        expr = (pl.when(category.is_between(pl.lit(first), pl.lit(last)))
                .then(pl.lit(chapter)).otherwise(expr))
    return expr
