"""Issue 16.3: the operation-class table is replaceable per region (`weights import-dip
--procedure-classes FILE`, kept by the stored version), on the batch and the per-case path.

Against the shipped Pingdingshan catalogue: K80.2 (no core group for these operations) goes to
the comprehensive group of K80 × the case's treatment class, so reclassifying one operation in a
region's table moves the case between K80:ZLXCZ, K80:ZDXCZ and K80:SS.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from engine.cli import cli
from grouper import group_dip
from grouper.dip_catalog import DipCatalog
from grouper.dip_explain import group_dip_one
from grouper.errors import InputError
from weights.dip_catalog_io import import_catalog, require_clean
from weights.dip_store import load_catalog, save_catalog

SHIPPED = Path("/work/shared/dip/pingdingshan_2025/catalog.csv")
pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="shared DIP catalogue not mounted")

# (diagnoses, procedures, with the shipped table, with the region's table, why)
CASES = [
    (["K80.200"], ["99.1800"], "K80:ZLXCZ", "K80:ZDXCZ",
     "99.1800 therapeutic in the shipped table, 诊断性操作 in the region's"),
    (["K80.200"], ["88.3800"], "K80:ZDXCZ", "K80:SS",
     "88.3800 (CT) diagnostic in the shipped table, 介入治疗 (read as surgery) in the region's"),
    (["K80.200"], ["88.3800", "99.1800"], "K80:ZLXCZ", "K80:SS",
     "the most invasive class wins: therapeutic / surgery"),
]


def _region_table(path: Path) -> Path:
    pl.DataFrame({"手术操作编码": ["99.1800", "88.3800"],
                  "手术操作类别": ["诊断性操作", "介入治疗"]}).write_csv(path)
    return path


def _rows() -> list[dict]:
    return [{"case_id": f"R{i}", "diagnoses": dx, "procedures": px}
            for i, (dx, px, *_) in enumerate(CASES)]


def _codes(catalog: DipCatalog) -> tuple[list[str], list[str]]:
    batch = group_dip(pl.DataFrame(_rows()), catalog)
    one = [group_dip_one(row, catalog) for row in _rows()]
    assert batch.to_dicts() == one  # the per-case path reads the same table
    return batch["dip_code"].to_list(), [r["treatment_class"] for r in one]


def test_region_table_replaces_the_shipped_one(tmp_path: Path) -> None:
    shipped = require_clean(import_catalog(SHIPPED, version="pds"))
    region = require_clean(import_catalog(SHIPPED, version="pds-region",
                                          procedure_classes=_region_table(tmp_path / "ops.csv")))
    assert _codes(shipped)[0] == [c[2] for c in CASES]
    codes, classes = _codes(region)
    assert codes == [c[3] for c in CASES], [c[4] for c in CASES]
    assert classes == ["diagnostic", "surgical", "surgical"]


def test_stored_version_keeps_the_region_table(tmp_path: Path) -> None:
    region = require_clean(import_catalog(SHIPPED, version="pds-region",
                                          procedure_classes=_region_table(tmp_path / "ops.csv")))
    db = tmp_path / "store.duckdb"
    save_catalog(db, region, "pds-region", source="test")
    loaded = load_catalog(db, "pds-region")
    assert loaded.procedure_classes == str((tmp_path / "ops.csv").resolve())
    assert _codes(loaded)[0] == [c[3] for c in CASES]


def test_bad_region_tables_fail_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pl.DataFrame({"手术操作编码": ["99.1800"], "手术操作类别": ["其他"]}).write_csv(bad)
    with pytest.raises(InputError, match=r"bad.csv row 2: class '其他' of '99.1800'"):
        import_catalog(SHIPPED, version="x", procedure_classes=bad)
    nocol = tmp_path / "nocol.csv"
    pl.DataFrame({"code": ["99.1800"]}).write_csv(nocol)
    with pytest.raises(InputError, match="nocol.csv: no class column"):
        import_catalog(SHIPPED, version="x", procedure_classes=nocol)
    with pytest.raises(InputError, match="not found"):
        import_catalog(SHIPPED, version="x", procedure_classes=tmp_path / "missing.csv")


def test_cli_import_with_region_table(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    ops = _region_table(tmp_path / "ops.csv")
    out = CliRunner().invoke(cli, ["--create", "weights", "import-dip", str(SHIPPED),
                                   "--version", "pds-region", "--db", str(db),
                                   "--procedure-classes", str(ops)])
    assert out.exit_code == 0, out.output
    assert "operation classes: 2 codes from ops.csv" in out.output
    assert _codes(load_catalog(db, "pds-region"))[0] == [c[3] for c in CASES]
