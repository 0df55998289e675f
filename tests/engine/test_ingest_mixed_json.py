"""Issue 13 bullet 2: JSONL cells mixing lists and strings are read per row, never stringified."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.ingest import IngestCode, read_cases


def test_list_and_string_code_cells_are_read_per_row(tmp_path: Path) -> None:
    src = tmp_path / "cases.jsonl"
    rows = [{"case_id": "a", "sex": 1, "age": 30, "diagnoses": ["I10.x00", "E11.900"]},
            {"case_id": "b", "sex": 1, "age": 40, "diagnoses": "I10.x00|E11.900"},
            {"case_id": "c", "sex": 2, "age": 50, "diagnoses": "I10.x00"}]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    r = read_cases(src)
    assert r.cases["diagnoses"].to_list() == [["I10.x00", "E11.900"], ["I10.x00", "E11.900"],
                                              ["I10.x00"]]
    assert r.problems.height == 0


def test_a_list_where_one_value_belongs_is_a_row_problem(tmp_path: Path) -> None:
    src = tmp_path / "cases.jsonl"
    rows = [{"case_id": "a", "sex": 1, "age": 30, "diagnoses": ["I10.x00"]},
            {"case_id": "b", "sex": 1, "age": [40], "diagnoses": [["I10.x00"]]}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = read_cases(src)
    assert r.cases["ingest_status"].to_list() == ["ok", "error"]
    wrong = r.problems.filter(error_code=IngestCode.WRONG_CELL_TYPE.value)
    assert sorted(wrong["field"].to_list()) == ["age", "diagnoses"]
    run = subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(src)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0 and "I111" in run.stdout, run.stderr


def test_unknown_header_listed_with_closest_alias_by_validate(tmp_path: Path) -> None:
    src = tmp_path / "cases.csv"
    src.write_text("病案号,性别,年龄,诊断编码,医疗总费\na,男,30,I10.x00,100\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(src)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert "医疗总费 → 医疗总费用?" in run.stdout


def test_missing_column_names_the_users_header_and_closest_alias(tmp_path: Path) -> None:
    src = tmp_path / "cases.csv"
    src.write_text("病案号,性别,年龄,主要诊断代码\na,男,30,I10.x00\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(src)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 3
    assert "主要诊断代码 → 主要诊断编码?" in run.stderr and "got: case_id" not in run.stderr
