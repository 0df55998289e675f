"""Issue 16.2/16.4: hand-checked cases against the Pingdingshan 2025 catalogue as shipped
(`/work/shared/dip/pingdingshan_2025/catalog.csv`, imported with `weights import-dip`'s reader).

Each case names the catalogue rows that decide it (looked up by hand in the CSV: codes, scores and
average costs quoted in the reason). Treatment classes come from the shipped
`grouper/dip_data/procedure_class.csv`. Every case also goes through the per-case path
(`group_dip_one`, what HTTP serves), which must give the batch row exactly.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from grouper import group_dip
from grouper.dip_catalog import DipCatalog
from grouper.dip_explain import group_dip_one
from weights.dip_catalog_io import import_catalog, require_clean

SHIPPED = Path("/work/shared/dip/pingdingshan_2025/catalog.csv")
pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="shared DIP catalogue not mounted")

# (reason, diagnoses, procedures, total_cost, expected dip_code)
CASES = [
    # -- exact codes: a full code takes only itself --------------------------------------------
    ("CRRT 39.9500x007 is exact: N17.9:39.9500x007 (6807.55), not haemodialysis N17.9:39.9500",
     ["N17.900"], ["39.9500x007"], None, "N17.9:39.9500x007"),
    ("haemodialysis 39.9500 exact: N17.9:39.9500 (5331.01)",
     ["N17.900"], ["39.9500"], None, "N17.9:39.9500"),
    ("N18.5 with CRRT only: N18.5:39.9500x007, 39.9500 does not take the x007 code",
     ["N18.500"], ["39.9500x007"], None, "N18.5:39.9500x007"),
    ("N18.5 with both codes: the group naming both (N18.5:39.9500x007_39.9500)",
     ["N18.500"], ["39.9500x007", "39.9500"], None, "N18.5:39.9500x007_39.9500"),
    (("E11.2 lists only 39.9500: CRRT is not it, so no core group; 39.9500x007 is surgical "
     "(OR list) → E11:SS"), ["E11.200"], ["39.9500x007"], None, "E11:SS"),
    # -- spelling: lower-case x as published -----------------------------------------------------
    ("caesarean 74.1x01 in its published spelling: O82.0:74.1x01",
     ["O82.000"], ["74.1x01"], None, "O82.0:74.1x01"),
    (("74.1X01 (upper X, as HIS exports and the workbook's operation columns write it) is read "
      "as the 医保版 extension letter x: O82.0:74.1x01"),
     ["O82.000"], ["74.1X01"], None, "O82.0:74.1x01"),
    ("A46.X00 (upper X after the chapter letter) is read as A46.x00: subcategory A46.x",
     ["A46.X00"], [], None, "A46.x"),
    ("X in both codes: A09.900X001 + 44.1300X001 → A09.9:44.1300x001",
     ["A09.900X001"], ["44.1300X001"], None, "A09.9:44.1300x001"),
    ("the chapter letter X stays X: X00 is chapter XX (external causes) → CP20 × BSZL",
     ["X00.x00"], [], None, "CP20:BSZL"),
    ("erysipelas A46.x00 belongs to the x-subcategory A46.x (conservative core)",
     ["A46.x00"], [], None, "A46.x"),
    ("a lower-case chapter letter is read as upper case: a46.x00 → A46.x",
     ["a46.x00"], [], None, "A46.x"),
    ("extension code A09.900x001 belongs to subcategory A09.9 (conservative core)",
     ["A09.900x001"], [], None, "A09.9"),
    # -- most operations named -------------------------------------------------------------------
    ("gastroscopy + colonoscopy: A09.9:44.1300x001_45.2302 names both (beats either alone)",
     ["A09.900x001"], ["44.1300x001", "45.2302"], None, "A09.9:44.1300x001_45.2302"),
    ("gastroscopy alone: A09.9:44.1300x001",
     ["A09.900"], ["44.1300x001"], None, "A09.9:44.1300x001"),
    ("an extra operation no group lists does not stop a match: A09.9:44.1300x001",
     ["A09.900x001"], ["44.1300x001", "99.1800"], None, "A09.9:44.1300x001"),
    ("LC + gastroscopy: K80.1:51.2300_44.1300x001 (two operations) beats K80.1:51.2300",
     ["K80.100"], ["51.2300", "44.1300x001"], None, "K80.1:51.2300_44.1300x001"),
    ("four operations named: N18.5:39.2700x001_38.9501+38.9502+39.9500",
     ["N18.500"], ["39.2700x001", "38.9501", "38.9502", "39.9500"], None,
     "N18.5:39.2700x001_38.9501+38.9502+39.9500"),
    ("three beat two: N18.5:38.9502_38.9501+39.9500 over N18.5:38.9501_39.9500",
     ["N18.500"], ["38.9502", "38.9501", "39.9500"], None, "N18.5:38.9502_38.9501+39.9500"),
    # -- same number of operations: closest average cost, then higher score ----------------------
    (("two one-operation groups; cost 3,000 is closest to A09.9:45.1300x004's 3,220.14 "
     "(A09.9:45.2501 averages 5,098.37)"),
     ["A09.900"], ["45.1300x004", "45.2501"], 3000.0, "A09.9:45.1300x004"),
    ("the same case at cost 6,000: closest to A09.9:45.2501's 5,098.37",
     ["A09.900"], ["45.1300x004", "45.2501"], 6000.0, "A09.9:45.2501"),
    ("the same case without a cost: the higher score, A09.9:45.2501 (891.61 > 563.14)",
     ["A09.900"], ["45.1300x004", "45.2501"], None, "A09.9:45.2501"),
    (("two two-operation groups; cost 10,000 is closest to K80.1:51.2300_54.5101 (10,367.67) "
     "rather than K80.1:51.2300_47.0100 (12,818.92)"),
     ["K80.100"], ["51.2300", "54.5101", "47.0100"], 10000.0, "K80.1:51.2300_54.5101"),
    ("the same at cost 13,000: K80.1:51.2300_47.0100",
     ["K80.100"], ["51.2300", "54.5101", "47.0100"], 13000.0, "K80.1:51.2300_47.0100"),
    # -- conservative core -----------------------------------------------------------------------
    ("no operation: conservative core A03.9", ["A03.900"], [], None, "A03.9"),
    ("no operation: conservative core K80.1", ["K80.100"], [], None, "K80.1"),
    (("a diagnostic operation is an operation: K80.1 lists no 87.4100 group, and its "
     "conservative group needs none → K80:ZDXCZ"), ["K80.100x003"], ["87.4100"], None,
     "K80:ZDXCZ"),
    # -- comprehensive by the case's treatment class ---------------------------------------------
    ("K80.2 lists only 51.2300: open cholecystectomy 51.2200 (surgical) → K80:SS",
     ["K80.200"], ["51.2200"], None, "K80:SS"),
    ("K80.2 with 99.1800 (therapeutic) → K80:ZLXCZ", ["K80.200"], ["99.1800"], None,
     "K80:ZLXCZ"),
    ("K80.2 with 88.3800 CT (diagnostic) → K80:ZDXCZ", ["K80.200"], ["88.3800"], None,
     "K80:ZDXCZ"),
    ("the highest class decides: 88.3800 (diagnostic) + 51.2200 (surgical) on K80.2 → K80:SS",
     ["K80.200"], ["88.3800", "51.2200"], None, "K80:SS"),
    ("E11.2 lists no 99.2500 group; 99.2500 (chemotherapy, therapeutic) → E11:ZLXCZ",
     ["E11.200"], ["99.2500"], None, "E11:ZLXCZ"),
    ("U07 groups exist only in 中间结果 (unlisted): U07.100 + 99.1800 → U07:ZLXCZ",
     ["U07.100"], ["99.1800"], None, "U07:ZLXCZ"),
    # -- fallback groups (ICD-10 chapter × treatment class) --------------------------------------
    ("K80.6 has no core group and K80 no BSZL group → CP11 (chapter XI, digestive) × BSZL",
     ["K80.600"], [], None, "CP11:BSZL"),
    ("K00 has no group at all: no operation → CP11:BSZL", ["K00.000"], [], None, "CP11:BSZL"),
    ("K00 with 23.1100 (surgical in the class table) → CP11:SS", ["K00.000"], ["23.1100"], None,
     "CP11:SS"),
    ("an external-cause code as principal diagnosis: V01 → CP20 (chapter XX) × BSZL",
     ["V01.000"], [], None, "CP20:BSZL"),
]


@pytest.fixture(scope="module")
def catalog() -> DipCatalog:
    return require_clean(import_catalog(SHIPPED, version="pds-2025"))


def _frame(cases: list[tuple[str, list[str], list[str], float | None, str]]) -> list[dict]:
    return [{"case_id": f"P{i:02d}", "diagnoses": dx, "procedures": px, "total_cost": cost}
            for i, (_, dx, px, cost, _) in enumerate(cases)]


def test_at_least_thirty_hand_checked_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(("reason", "dx", "px", "cost", "expected"), CASES,
                         ids=[c[4] + "/" + str(i) for i, c in enumerate(CASES)])
def test_case_groups_as_checked_by_hand(catalog: DipCatalog, reason: str, dx: list[str],
                                        px: list[str], cost: float | None,
                                        expected: str) -> None:
    row = {"case_id": "1", "diagnoses": dx, "procedures": px, "total_cost": cost}
    got = group_dip(pl.DataFrame([row]), catalog).row(0, named=True)
    assert (got["status"], got["dip_code"]) == ("ok", expected), reason
    score = catalog.groups.filter(pl.col("dip_code") == expected)["score"].item()
    assert got["dip_score"] == score


def test_per_case_path_equals_batch_on_every_case(catalog: DipCatalog) -> None:
    rows = _frame(CASES)
    batch = group_dip(pl.DataFrame(rows), catalog)
    assert [group_dip_one(r, catalog) for r in rows] == batch.to_dicts()
    assert batch["dip_code"].to_list() == [c[4] for c in CASES]


def test_catch_all_takes_what_no_chapter_group_takes(catalog: DipCatalog) -> None:
    """With CP11:BSZL removed, K80.6 without operation finds no chapter group: KBBZ (空白病种)."""
    without = DipCatalog(groups=catalog.groups.filter(pl.col("dip_code") != "CP11:BSZL"),
                         score_scale=catalog.score_scale, ruleset=catalog.ruleset)
    rows = [{"case_id": "1", "diagnoses": ["K80.600"], "procedures": [], "total_cost": None}]
    batch = group_dip(pl.DataFrame(rows), without)
    assert batch["dip_code"].item() == "KBBZ" and batch["dip_type"].item() == "fallback"
    assert [group_dip_one(r, without) for r in rows] == batch.to_dicts()


def test_catch_all_unreachable_with_the_full_catalogue(catalog: DipCatalog) -> None:
    """Why KBBZ takes no case under the catalogue as shipped (docs/dip.md, step 5): a valid
    principal diagnosis has a 类目 A00–Z99 (E401 otherwise), every such 类目 has an ICD-10
    chapter, and the catalogue lists CPnn × all four classes for all 22 chapters; so the chapter
    step always finds a group before the catch-all. Checked for every 类目 and class."""
    from grouper.dip_fallback import chapter_of
    from grouper.dip_procedure_class import CLASSES

    listed = set(catalog.fallback.filter(pl.col("chapter") != "")
                 .select("chapter", "treatment_class").iter_rows())
    assert len(listed) == 22 * 4
    categories = [f"{chr(letter)}{n:02d}" for letter in range(ord("A"), ord("Z") + 1)
                  for n in range(100)]
    missing = [(cat, cls) for cat in categories for cls in CLASSES
               if (chapter_of(cat), cls) not in listed]
    assert missing == []
    # one case per chapter × class through both paths: none reaches KBBZ
    px = {"conservative": [], "diagnostic": ["88.3800"], "therapeutic": ["99.2500"],
          "surgical": ["23.1100"]}
    rows = [{"case_id": f"{cat}-{cls}", "diagnoses": [f"{cat}.900"], "procedures": px[cls]}
            for cat in ("K00", "V00", "U99", "Z99", "D49", "H95") for cls in CLASSES]
    batch = group_dip(pl.DataFrame(rows), catalog)
    assert "KBBZ" not in batch["dip_code"].to_list()
    assert [group_dip_one(r, catalog) for r in rows] == batch.to_dicts()


def test_catch_all_reached_when_the_bureau_drops_the_chapter_groups(
        catalog: DipCatalog) -> None:
    """The base-year reading (KBBZ has 23,605 cases, the CPnn rows none): a bureau that does
    not use the chapter groups imports the catalogue without its CPnn rows, and every case no
    core or comprehensive group takes goes to KBBZ, on both paths."""
    without = DipCatalog(groups=catalog.groups.filter(~pl.col("dip_code").str.starts_with("CP")),
                         score_scale=catalog.score_scale, ruleset=catalog.ruleset)
    rows = [{"case_id": "1", "diagnoses": ["K80.600"], "procedures": []},
            {"case_id": "2", "diagnoses": ["K00.000"], "procedures": ["23.1100"]},
            {"case_id": "3", "diagnoses": ["V01.000"], "procedures": []},
            {"case_id": "4", "diagnoses": ["K80.200"], "procedures": ["99.1800"]}]
    batch = group_dip(pl.DataFrame(rows), without)
    assert batch["dip_code"].to_list() == ["KBBZ", "KBBZ", "KBBZ", "K80:ZLXCZ"]
    assert [group_dip_one(r, without) for r in rows] == batch.to_dicts()


def test_stem_counts_only_where_no_longer_listed_code_fits() -> None:
    """A stem (shorter than `NN.NNNN`) takes codes it starts with, except those a candidate
    group lists in full; a full code never takes an extension code."""
    groups = pl.DataFrame({
        "dip_code": ["K80.1", "K80.1:51.23", "K80.1:51.2300x001", "K80.1:51.2200", "K80:SS"],
        "dip_type": ["core", "core", "core", "core", "comprehensive"],
        "principal_dx": ["K80.1", "K80.1", "K80.1", "K80.1", "K80"],
        "procedures": ["", "51.23", "51.2300x001", "51.2200", ""],
        "treatment_class": [None, None, None, None, "surgical"],
        "score": [500.0, 800.0, 900.0, 1000.0, 1200.0]})
    catalog = DipCatalog(groups=groups)
    rows = [{"case_id": str(i), "diagnoses": ["K80.100"], "procedures": [p]}
            for i, p in enumerate(["51.2300x001", "51.2300x002", "51.2300", "51.2200x001"])]
    batch = group_dip(pl.DataFrame(rows), catalog)
    assert batch["dip_code"].to_list() == [
        "K80.1:51.2300x001",  # listed in full: exact, the stem does not take it
        "K80.1:51.23",  # not listed: the stem 51.23 takes it
        "K80.1:51.23",  # likewise
        "K80:SS",  # 51.2200 is a full code: it does not take 51.2200x001
    ]
    assert [group_dip_one(r, catalog) for r in rows] == batch.to_dicts()


def test_ignored_operations_are_removed_before_matching(tmp_path: Path) -> None:
    """An infusion (99.18 stem) and chest CT (87.4100) listed as not counting: A09.9 with them
    only is the conservative core group; with gastroscopy, the gastroscopy group (not the
    therapeutic class 99.1800 would give). Stored with the version; both paths agree."""
    from weights.dip_catalog_io import read_ignored_operations
    from weights.dip_store import load_catalog, save_catalog
    from weights.store import open_store

    listed = tmp_path / "ignored.txt"
    listed.write_text("# 不计入分组的操作\n99.18\n87.4100  # 胸部CT\n", encoding="utf-8")
    ignored = read_ignored_operations(listed)
    assert ignored == ("87.4100", "99.18")
    imported = require_clean(import_catalog(SHIPPED, ignored_procedures=ignored))
    rows = [{"case_id": "1", "diagnoses": ["A09.900"], "procedures": ["99.1800", "87.4100"]},
            {"case_id": "2", "diagnoses": ["A09.900"],
             "procedures": ["99.1801", "44.1300x001"]},
            {"case_id": "3", "diagnoses": ["A09.900"], "procedures": ["87.4101"]}]
    db = tmp_path / "s.duckdb"
    open_store(db, create=True).close()
    save_catalog(db, imported, "pds-ignored", source="test")
    catalog = load_catalog(db, "pds-ignored")
    assert catalog.ignored_procedures == ignored
    batch = group_dip(pl.DataFrame(rows), catalog)
    # 87.4101 is another full code: 87.4100 does not take it (diagnostic → A09:ZDXCZ or CP01)
    assert batch["dip_code"].to_list()[:2] == ["A09.9", "A09.9:44.1300x001"]
    assert batch["dip_code"][2] != "A09.9"
    assert [group_dip_one(r, catalog) for r in rows] == batch.to_dicts()
