"""Issue 14 item 4: a structurally bad CSV line (extra or missing field, stray or unclosed quote)
is a row problem (I112) with its line number and the rest of the file goes on, up to a share
from settings or `--max-bad-lines`; past it the file fails naming the first bad lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from engine.ingest import IngestCode, read_cases
from engine.ingest.limits import IngestLimits, parse_share
from grouper.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
HEADER = "病案号,性别,年龄,诊断编码,医疗总费用\n"
LINES = [  # (line text, malformed?)
    ("A1,男,30,I10.x00,100.00", False),
    ("A2,女,40,J18.900,200.00,extra", True),  # an extra field
    ('A3,女,4"0,J18.900,300.00', True),  # a stray quote inside a field
    ('A4,男,50,"I10.x00|E11.900,400.00', True),  # a quote left open
    ("A5,男,60,I10.x00,500.00", False),
    ('A6,男,61,"I10.x00|\nE11.900",600.00', False),  # a quoted field over two lines: fine
    ("A7,女,3,J18.900", True),  # a field missing
    ('"A8",女,3,"J18.900","1,000.00"', False),  # quoted fields with a separator inside
    ("A9,女,9,J18.900,900.00", False),
]
BAD_LINE_NUMBERS = [3, 4, 5, 9]  # physical lines (the header is line 1; A6 spans lines 7-8)


def write(path: Path, encoding: str = "utf-8") -> Path:
    path.write_bytes((HEADER + "\n".join(t for t, _ in LINES) + "\n").encode(encoding))
    return path


LENIENT = IngestLimits(max_bad_line_share=0.5)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_bad_lines_become_row_problems_with_line_numbers(tmp_path: Path, encoding: str) -> None:
    result = read_cases(write(tmp_path / "cases.csv", encoding), limits=LENIENT)
    cases = result.cases
    # every line once, in order, with a status; the malformed ones keep their case id as a hint
    assert cases["_row"].to_list() == list(range(len(LINES)))
    assert cases["case_id"].to_list() == [f"A{i}" for i in range(1, 10)]
    assert cases["ingest_status"].to_list() == ["error" if bad else "ok" for _, bad in LINES]
    bad = cases.filter(pl.col("ingest_status") == "error")
    assert set(bad["ingest_error_code"]) == {IngestCode.MALFORMED_LINE.value}
    problems = result.problems.filter(pl.col("error_code") == "I112")
    assert problems["_row"].to_list() == [1, 2, 3, 6]
    assert problems["field"].unique().to_list() == ["line"]
    for msg, line in zip(problems["message"], BAD_LINE_NUMBERS, strict=True):
        assert f"line={line} (" in msg and "malformed CSV line" in msg and "格式错误" in msg
    assert "6 fields, the header has 5" in problems["message"][0]
    assert "stray or unclosed quote" in problems["message"][1]
    assert "4 fields, the header has 5" in problems["message"][3]
    # a malformed line has one problem only (nothing else of it was read)
    assert result.problems.filter(pl.col("_row").is_in([1, 2, 3, 6])).height == 4
    good = cases.filter(pl.col("ingest_status") == "ok")
    assert good["age"].to_list() == [30, 60, 61, 3, 9]
    assert good["diagnoses"].to_list()[1] == ["I10.x00"]
    assert good["diagnoses"].to_list()[2] == ["I10.x00", "E11.900"]
    assert str(good["total_cost"][3]) == "1000.00"


def test_the_same_rows_as_the_file_without_its_bad_lines(tmp_path: Path) -> None:
    """The well-formed rows are read exactly as polars reads a clean file of them."""
    result = read_cases(write(tmp_path / "cases.csv"), limits=LENIENT)
    clean = tmp_path / "clean.csv"
    clean.write_text(HEADER + "\n".join(t for t, bad in LINES if not bad) + "\n",
                     encoding="utf-8")
    want = read_cases(clean).cases.drop("_row")
    got = result.cases.filter(pl.col("ingest_status") == "ok").drop("_row")
    assert got.equals(want)


def test_a_malformed_lines_id_never_makes_another_row_a_repeat(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("case_id,sex,age,diagnoses\nX,1,30,I10.x00,extra\nX,1,30,I10.x00\n"
                    "Y,1,30,I10.x00\n", encoding="utf-8")
    cases = read_cases(path, limits=LENIENT).cases
    assert cases["ingest_error_code"].to_list() == ["I112", None, None]


def test_past_the_share_the_file_fails_naming_the_first_bad_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "cases.csv")
    with pytest.raises(InputError) as info:
        read_cases(path, limits=IngestLimits(max_bad_line_share=0.10))
    text = str(info.value)
    assert "\n" not in text
    assert "4 of 9 lines are malformed (44.44%)" in text and "10.00% allowed" in text
    assert "line 3: " in text and "line 9: " in text and "格式错误" in text
    assert "--max-bad-lines" in text
    with pytest.raises(InputError, match="more than the 0.00% allowed"):
        read_cases(path, limits=IngestLimits(max_bad_line_share=0.0))
    assert read_cases(path, limits=IngestLimits(max_bad_line_share=4 / 9)).error_rows == 4


def test_a_clean_file_is_unchanged_by_the_scan(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('case_id,sex,age,diagnoses\r\n1,1,30,"I10.x00|E11.900"\r\n\r\n'
                    '2,2,40,J18.900\r\n', encoding="utf-8")
    cases = read_cases(path, limits=IngestLimits(max_bad_line_share=0.0)).cases
    assert cases["case_id"].to_list() == ["1", None, "2"]  # a blank line is a row (I101)
    assert cases["ingest_error_code"].to_list() == [None, "I101", None]


def test_share_spellings() -> None:
    assert parse_share("0.05") == 0.05 and parse_share("5%") == 0.05 and parse_share("0") == 0
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_share("5")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True,
                          text=True, timeout=300, check=False, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_cli_option_and_setting_take_effect(tmp_path: Path) -> None:
    path = write(tmp_path / "cases.csv")
    refused = run_cli("validate", str(path))  # default 10 %
    assert refused.returncode == 3, refused.stderr
    assert refused.stderr.count("\n") == 1 and "4 of 9 lines are malformed" in refused.stderr
    ok = run_cli("validate", "--max-bad-lines", "50%", str(path))
    assert ok.returncode == 0, ok.stderr
    assert "9 rows, 4 with problems" in ok.stdout and "I112 line: 4" in ok.stdout
    env = run_cli("validate", str(path), env={"DRGDIP_INGEST_MAX_BAD_LINE_SHARE": "0.5"})
    assert env.returncode == 0, env.stderr
    wrong = run_cli("validate", "--max-bad-lines", "5", str(path))
    assert wrong.returncode == 2 and "between 0 and 1" in wrong.stderr


def test_group_writes_every_row_once_with_a_status(tmp_path: Path) -> None:
    path = write(tmp_path / "cases.csv")
    out = tmp_path / "groups.parquet"
    run = run_cli("group", "--max-bad-lines", "0.5", str(path), str(out))
    assert run.returncode == 0, run.stderr
    got = pl.read_parquet(out)
    assert got["case_id"].to_list() == [f"A{i}" for i in range(1, 10)]
    assert got["status"].null_count() == 0
    held = got.filter(pl.col("case_id").is_in(["A2", "A3", "A4", "A7"]))
    assert set(held["status"]) == {"invalid"}


def test_a_stray_quote_never_swallows_whole_rows(tmp_path: Path) -> None:
    """Seen in the 1M-row test: an age `"` and, lines later, an age `0"` close into a valid
    RFC 4180 record of the right width — four rows read as one. Each line holds a whole
    record's separators on its own, so the quote is stray and no row is lost."""
    path = tmp_path / "c.csv"
    path.write_text('case_id,sex,age,diagnoses\nA,1,",I10.x00\nB,1,30,I10.x00\n'
                    'C,2,0",J18.900\nD,1,30,I10.x00\n', encoding="utf-8")
    cases = read_cases(path, limits=LENIENT).cases
    assert cases["case_id"].to_list() == ["A", "B", "C", "D"]
    assert cases["ingest_error_code"].to_list() == ["I112", None, "I112", None]
