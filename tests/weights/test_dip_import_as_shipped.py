"""Issue 16.1: an official DIP catalogue imported exactly as a bureau ships it.

The file is the Pingdingshan 2025 catalogue (`/work/shared/dip/pingdingshan_2025/catalog.csv`;
its README documents every column, the source note and the counts checked here). Expected values
come from the file itself, read with the csv module, not from the importer.
"""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from click.testing import CliRunner

from engine.cli import cli
from grouper.errors import InputError
from weights.dip_catalog_io import import_catalog, require_clean
from weights.dip_store import load_catalog, save_catalog
from weights.store import open_store
from weights.versions import checksum

SHIPPED = Path("/work/shared/dip/pingdingshan_2025/catalog.csv")
pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="shared DIP catalogue not mounted")
CLASS_OF = {"surgery": "surgical", "therapeutic": "therapeutic", "diagnostic": "diagnostic",
            "conservative": "conservative"}


def _rows() -> list[dict[str, str]]:
    with SHIPPED.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _fen(text: str) -> float:
    return float(Decimal(text).quantize(Decimal("0.01"), ROUND_HALF_UP))


@pytest.fixture(scope="module")
def shipped() -> pl.DataFrame:
    result = import_catalog(SHIPPED, version="pds-2025")
    assert result.rejected.height == 0, result.rejected.head(5)
    return require_clean(result).groups


def test_every_row_is_imported_with_its_published_columns(shipped: pl.DataFrame) -> None:
    raw = _rows()
    assert shipped.height == len(raw) == 4536
    got = {r["dip_code"]: r for r in shipped.to_dicts()}
    assert len(got) == len(raw)  # dip_code kept exactly as published (no case folding)
    for r in raw:
        g = got[r["dip_code"]]
        assert g["name"] == r["dip_name"]
        assert g["score"] == float(Decimal(r["score"]).quantize(Decimal("0.0001"), ROUND_HALF_UP))
        assert g["mean_cost"] == _fen(r["avg_cost"])  # every group carries its mean cost
        assert g["n_cases"] == (int(r["case_count"]) if r["case_count"] else None)
        assert g["cv"] == (float(r["cv"]) if r["cv"] else None)
        assert g["avg_los"] == (float(r["avg_los"]) if r["avg_los"] else None)


def test_types_classes_and_fallback_rows(shipped: pl.DataFrame) -> None:
    by_type = dict(shipped.group_by("dip_type").len().iter_rows())
    # README counts: 3,877 core; 567 listed + 3 unlisted (U07) comprehensive; 88 CPxx + KBBZ
    assert by_type == {"core": 3877, "comprehensive": 570, "fallback": 89}
    got = {r["dip_code"]: r for r in shipped.to_dicts()}
    for r in _rows():
        g = got[r["dip_code"]]
        if r["treatment_type"]:  # comprehensive and CPxx rows: treatment_type read
            assert g["treatment_class"] == CLASS_OF[r["treatment_type"]], r["dip_code"]
        if r["dip_code"].startswith("CP"):
            assert (g["dip_type"], g["principal_dx"]) == ("fallback", r["principal_dx"])
    assert got["KBBZ"]["dip_type"] == "fallback" and got["KBBZ"]["principal_dx"] is None
    assert got["E11:ZLXCZ"]["treatment_class"] == "therapeutic"
    assert got["U07:BSZL"]["dip_type"] == "comprehensive"
    # conservative core group: no operation
    assert (got["A03.9"]["dip_type"], got["A03.9"]["procedures"]) == ("core", "")


def test_store_round_trip_and_checksum(tmp_path: Path, shipped: pl.DataFrame) -> None:
    db = tmp_path / "s.duckdb"
    catalog = require_clean(import_catalog(SHIPPED, version="pds-2025"))
    open_store(db, create=True).close()
    save_catalog(db, catalog, "pds-2025", source="import-dip catalog.csv")
    back = load_catalog(db, "pds-2025")
    cols = ["dip_code", "dip_type", "principal_dx", "procedures", "treatment_class", "name",
            "score", "mean_cost", "n_cases", "cv", "avg_los"]
    assert back.groups.sort("dip_code").select(cols).equals(
        catalog.groups.sort("dip_code").select(cols))
    con = open_store(db, read_only=True)
    try:
        stored = con.execute("SELECT checksum FROM weight_versions WHERE version = 'pds-2025'"
                             ).fetchone()
        assert stored is not None and stored[0] == checksum(con, "dip", "pds-2025")
    finally:
        con.close()


def _workbook(path: Path, *, with_costs: bool = True) -> Path:
    """The shipped catalogue as a workbook with the usual Chinese headers: operations in two
    columns (others comma-separated), 病种类型 1/0, 治疗方式 in Chinese, numbers as numbers."""
    words = {"surgery": "相关手术", "therapeutic": "治疗性操作", "diagnostic": "诊断性操作",
             "conservative": "保守治疗", "": ""}
    header = ["序号", "病种编码", "病种名称", "主要诊断编码", "主要手术操作编码", "其他手术操作编码",
              "病种类型", "治疗方式", "病种分值", "平均住院日", "例数", "变异系数"]
    if with_costs:
        header.append("次均费用")
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "说明"  # type: ignore[union-attr]
    notes.append(["本目录由医保局发布"])  # type: ignore[union-attr]
    sheet = book.create_sheet("目录")
    sheet.append(header)
    for i, r in enumerate(_rows(), 1):
        cells: list[object] = [
            i, r["dip_code"], r["dip_name"], r["principal_dx"], r["main_procedure"],
            r["other_procedures"].replace("+", ","), 1 if r["dip_type"] == "core" else 0,
            words[r["treatment_type"]], float(r["score"]),
            float(r["avg_los"]) if r["avg_los"] else None,
            int(r["case_count"]) if r["case_count"] else None,
            float(r["cv"]) if r["cv"] else None]
        if with_costs:
            cells.append(float(r["avg_cost"]))
        sheet.append(cells)
    book.save(path)
    return path


@pytest.fixture(scope="module")
def no_costs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped CSV without its mean-cost and regional-average columns."""
    path = tmp_path_factory.mktemp("no_costs") / "no_costs.csv"
    pl.read_csv(SHIPPED, infer_schema_length=0).drop("avg_cost", "region_avg_cost").write_csv(path)
    return path


@pytest.mark.slow  # writing and reading a 4,536-row workbook
def test_xlsx_with_chinese_headers_gives_the_same_catalogue(tmp_path: Path,
                                                            shipped: pl.DataFrame) -> None:
    result = import_catalog(_workbook(tmp_path / "目录.xlsx"))
    assert result.rejected.height == 0, result.rejected.head(5)
    assert result.columns is not None and "procedures" not in result.columns
    assert (result.columns["main_procedure"], result.columns["other_procedures"]) == (
        "主要手术操作编码", "其他手术操作编码")
    book = require_clean(result).groups.sort("dip_code")
    cols = ["dip_code", "dip_type", "principal_dx", "procedures", "treatment_class", "name",
            "score", "n_cases", "cv", "avg_los"]
    assert book.select(cols).equals(shipped.sort("dip_code").select(cols))
    # float cells of the workbook are the published decimals to within a fen
    diff = book.join(shipped, on="dip_code").select(
        (pl.col("mean_cost") - pl.col("mean_cost_right")).abs().max()).item()
    assert diff <= 0.01


def test_mean_cost_derived_when_not_published(no_costs: Path) -> None:
    path = no_costs
    missing = import_catalog(path)
    assert missing.mean_cost_published == 0 and missing.mean_cost_derived == 0
    assert "cannot be used for settlement" in missing.mean_cost_note()
    region = Decimal("5718.153489")
    derived = import_catalog(path, region_avg_cost=region)
    assert derived.mean_cost_derived == 4536
    assert "derived for 4,536 as score × regional average cost 5718.153489" in (
        derived.mean_cost_note())
    groups = require_clean(derived).groups
    raw = {r["dip_code"]: r for r in _rows()}
    for g in groups.to_dicts():
        want = (Decimal(repr(g["score"])) * region / 1000).quantize(Decimal("0.01"),
                                                                      ROUND_HALF_UP)
        assert g["mean_cost"] == float(want)
        # the published score is the published mean / regional average × 1000 (README), so
        # the derived mean is the published one to within a fen of the score's 4 dp
        assert abs(g["mean_cost"] - float(raw[g["dip_code"]]["avg_cost"])) <= 0.01


def test_cli_import_as_shipped_then_derived(tmp_path: Path, no_costs: Path) -> None:
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    out = runner.invoke(cli, ["--create", "weights", "import-dip", str(SHIPPED),
                               "--version", "pds-2025", "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert "imported 4,536 groups (comprehensive 570, core 3,877, fallback 89)" in out.output
    assert "0 rows rejected" in out.output
    assert "mean cost published for 4,536 of 4,536 groups" in out.output
    book = no_costs
    out = runner.invoke(cli, ["weights", "import-dip", str(book), "--version", "pds-derived",
                               "--db", str(db), "--region-avg-cost", "5718.153489"])
    assert out.exit_code == 0, out.output
    assert "derived for 4,536 as score × regional average cost 5718.153489" in out.output
    out = runner.invoke(cli, ["weights", "import-dip", str(book), "--version", "x",
                               "--db", str(db), "--region-avg-cost", "lots"])
    assert out.exit_code == 2 and "--region-avg-cost" in out.output


def test_cli_ignored_operations(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    listed = tmp_path / "ignored.csv"
    listed.write_text("手术操作编码,名称\n99.18,输注\n87.4100,胸部CT\n", encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(cli, ["--create", "weights", "import-dip", str(SHIPPED), "--version",
                              "pds-2025", "--db", str(db), "--ignored-ops", str(listed)])
    assert out.exit_code == 0, out.output
    assert "2 operations do not count for grouping: 87.4100, 99.18" in out.output
    assert load_catalog(db, "pds-2025").ignored_procedures == ("87.4100", "99.18")
    listed.write_text("手术操作编码\n胸部CT\n", encoding="utf-8")
    out = runner.invoke(cli, ["weights", "import-dip", str(SHIPPED), "--version", "bad",
                              "--db", str(db), "--ignored-ops", str(listed)])
    # InputError: `drgdip` exits 3 with this one line (engine.cli maps the error)
    assert isinstance(out.exception, InputError)
    assert "ignored.csv: ignored operation '胸部CT': not an ICD-9-CM-3 code" in str(out.exception)


def test_aux_catalogue_imported_and_applied(tmp_path: Path) -> None:
    """辅助目录 with Chinese headers and values: a region-wide age coefficient and a group's own
    CCI coefficient, applied as built catalogues' are (batch == per-case)."""
    from grouper import group_dip
    from grouper.dip_explain import group_dip_one

    aux = tmp_path / "aux.csv"
    aux.write_text("病种编码,辅助目录类型,等级,调整系数\n*,年龄,老年,1.1\nA09.9,CCI,2,1.25\n"
                   "*,肿瘤,转移,1.3\n", encoding="utf-8")
    catalog = require_clean(import_catalog(SHIPPED, aux_path=aux))
    assert catalog.aux.select("dip_code", "dimension", "level", "coef").rows() == [
        ("*", "age", "elderly", 1.1), ("A09.9", "cci", "2", 1.25), ("*", "tumour", "metastasis", 1.3)]
    rows = [{"case_id": "1", "diagnoses": ["A09.900"], "procedures": [], "age": 70},
            {"case_id": "2", "diagnoses": ["A09.900"], "procedures": [], "age": 40}]
    batch = group_dip(pl.DataFrame(rows), catalog)
    assert batch["aux_coef"].to_list() == [1.1, 1.0]
    # 331.608717 published → 331.6087; × 1.1 = 364.76957 → 364.7696 (half-up once)
    assert batch["adjusted_score"].to_list() == [364.7696, 331.6087]
    assert [group_dip_one(r, catalog) for r in rows] == batch.to_dicts()
    aux.write_text("病种编码,辅助目录类型,等级,调整系数\nNOPE,年龄,老年,1.1\n", encoding="utf-8")
    with pytest.raises(Exception, match="not a group of the catalogue"):
        import_catalog(SHIPPED, aux_path=aux)
