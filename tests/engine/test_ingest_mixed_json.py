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
