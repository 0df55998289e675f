"""Outputs for people (issue 13 bullet 7): CSVs meant for Excel begin with a UTF-8 BOM (so
Chinese is not garbled), `--no-bom` leaves it out for programs and pipes. Real processes, bytes
read back from the files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import EXPECTED

BOM = b"\xef\xbb\xbf"
ROOT = Path(__file__).resolve().parents[2]


def drgdip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=ROOT)


@pytest.fixture(scope="module")
def case_file(tmp_path_factory: pytest.TempPathFactory,
              oracle: dict[str, pl.DataFrame]) -> Path:
    path = tmp_path_factory.mktemp("bom") / "cases.parquet"
    cases = oracle["chs_drg_11"].head(300).drop(EXPECTED)
    # two rows with problems, so validate --problems has Chinese messages to write
    cases = cases.with_columns(pl.when(pl.int_range(pl.len()) < 2).then(pl.lit(None))
                               .otherwise(pl.col("sex")).alias("sex"))
    cases.write_parquet(path)
    return path


@pytest.mark.parametrize("command", ["group", "validate"])
def test_csv_for_excel_has_a_bom_and_no_bom_leaves_it_out(tmp_path: Path, case_file: Path,
                                                          command: str) -> None:
    def run(name: str, *extra: str) -> bytes:
        out = tmp_path / name
        args = ([command, str(case_file), str(out)] if command == "group"
                else [command, str(case_file), "--problems", str(out)])
        proc = drgdip(*args, *extra)
        assert proc.returncode == 0, proc.stderr
        return out.read_bytes()

    excel, plain = run("excel.csv"), run("plain.csv", "--no-bom")
    assert excel.startswith(BOM) and not excel[3:].startswith(BOM)
    assert not plain.startswith(BOM)
    assert excel[len(BOM):] == plain  # the same table otherwise
    text = excel.decode("utf-8-sig")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text)  # Chinese names/messages
    header = text.splitlines()[0].split(",")
    assert header[0] == "case_id"  # the BOM is not glued to the first column's name
    assert pl.read_csv(tmp_path / "excel.csv", infer_schema=False).equals(
        pl.read_csv(tmp_path / "plain.csv", infer_schema=False))


def test_bom_applies_to_csv_only(tmp_path: Path, case_file: Path) -> None:
    out = tmp_path / "groups.jsonl"
    proc = drgdip("group", str(case_file), str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(b"{")
