"""Import/export of DRG weight tables and hospital coefficient lists (CSV, GB18030, Excel)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from weights import build_drg_weights
from weights.io import (
    DRG_HEADERS,
    HOSPITAL_HEADERS,
    bureau_headers,
    export_table,
    import_drg_weights,
    import_hospitals,
)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_bureau_layout_round_trip(tmp_path: Path, history: pl.DataFrame,
                                  grouped: pl.DataFrame, suffix: str) -> None:
    w = build_drg_weights(history, "chs_drg_11", grouped=grouped)
    path = export_table(bureau_headers(w.select("drg", "drg_name", "rw", "base_points",
                                                "mean_cost", "n_cases"), DRG_HEADERS),
                        tmp_path / f"weights{suffix}")
    back = import_drg_weights(path, "chs_drg_11")
    assert back.rejected.height == 0 and back.rows_read == w.height
    assert back.rows["drg"].to_list() == w["drg"].to_list()
    assert back.rows["rw"].to_list() == w["rw"].to_list()
    assert back.rows["base_points"].to_list() == w["base_points"].to_list()


BAD_ROWS = [  # (DRG编码, 权重, expected (column, reason fragment) or None)
    ("GB11", "1.2345", None),
    ("XX99", "1.0", ("drg", "unknown DRG code")),
    ("GB11", "1.1", ("drg", "duplicate of row 2")),
    ("GB29", "0", ("rw", "must be > 0")),
    ("GB15", "-0.5", ("rw", "must be > 0")),
    ("GC13", "abc", ("rw", "not a number")),
    ("GD13", "", ("rw", "missing")),
    ("", "1.0", ("drg", "empty")),
    ("gk19", "0.98765", None),
]


def test_rejects_by_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    lines = ["DRG编码,DRG名称,权重"] + [f"{c},名称,{rw}" for c, rw, _ in BAD_ROWS]
    path.write_bytes("\n".join(lines).encode("gb18030"))
    result = import_drg_weights(path, "chs_drg_11")
    want = [(i + 2, *e) for i, (_, _, e) in enumerate(BAD_ROWS) if e is not None]
    got = [(r["row"], r["column"], r["reason"]) for r in result.rejected.iter_rows(named=True)]
    assert len(got) == len(want)
    for (row, col, reason), (grow, gcol, greason) in zip(want, got, strict=True):
        assert (row, col) == (grow, gcol) and reason in greason
    assert result.rows["drg"].to_list() == ["GB11", "GK19"]
    assert result.rows["rw"].to_list() == [Decimal("1.2345"), Decimal("0.9877")]  # HALF_UP
    assert "7 of 9 rows rejected" in result.summary()


def test_missing_column_fails_fast(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text("DRG编码,名称\nGB11,x\n", encoding="utf-8")
    with pytest.raises(Exception, match="lacks column.*rw"):
        import_drg_weights(path, "chs_drg_11")


def test_hospital_list(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(
        "医疗机构编码,医疗机构名称,医院等级,系数,生效日期,调整原因\n"
        "H001,市人民医院,三级甲等,1.0000,2024-01-01,年度核定\n"
        "H002,市中医院,二级,0.88,,\n"
        "H003,社区中心,社区,0.7,2024-01-01,年度核定\n"
        "H003,重复,社区,0.7,2024-01-01,年度核定\n"
        "H004,某医院,特级,0,2024-13-01,\n", encoding="utf-8")
    result = import_hospitals(path, default_from=date(2024, 7, 1),
                              default_reason="中医院系数上调")
    assert result.rows.select("hospital_id", "level").rows() == [
        ("H001", "3"), ("H002", "2"), ("H003", "community")]
    assert result.rows["effective_from"].to_list() == [date(2024, 1, 1), date(2024, 7, 1),
                                                       date(2024, 1, 1)]
    assert result.rows["reason"][1] == "中医院系数上调"
    problems = {(r["row"], r["column"]) for r in result.rejected.iter_rows(named=True)}
    assert problems == {(5, "hospital_id"), (6, "level"), (6, "coefficient"),
                        (6, "effective_from")}
    out = export_table(bureau_headers(result.rows, HOSPITAL_HEADERS), tmp_path / "h.xlsx")
    again = import_hospitals(out)
    assert again.rejected.height == 0
    assert again.rows["coefficient"].to_list() == result.rows["coefficient"].to_list()
