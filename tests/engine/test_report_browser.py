"""The report opens in headless Chromium (Debian `chromium`) with no console errors and a drawn,
non-blank chart area. Chromium runs with networking features off: the page must need none."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from engine.cli import cli

REGION = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "region"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not "
                                "installed (`apt-get install -y chromium`; .ci/run does it)")


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=10000", *args, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def console_messages(stderr: str) -> list[str]:
    """Console output of the page (Chromium logs every console message and uncaught error)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    result = CliRunner().invoke(cli, [
        "report", "--cases", str(REGION / "cases.parquet"),
        "--hospitals", str(REGION / "hospitals.parquet"), "--db", str(tmp / "s.duckdb"),
        "--out", str(tmp / "out")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return tmp / "out" / "report.html"


def test_console_error_detection_works(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    run = chromium(bad, tmp_path / "profile", "--dump-dom")
    assert any("Uncaught ReferenceError" in m for m in console_messages(run.stderr))


def test_report_renders_charts_without_console_errors(page: Path, tmp_path: Path) -> None:
    run = chromium(page, tmp_path / "profile", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_messages(run.stderr) == []
    dom = run.stdout
    n_charts = dom.count('class="plotly-graph-div')
    assert n_charts >= 4
    # plotly drew every chart: an SVG per chart with trace groups in it
    assert dom.count('class="main-svg"') >= n_charts
    assert len(re.findall(r'class="(?:trace|point)\b', dom)) > 20


def test_chart_area_is_not_blank(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    run = chromium(page, tmp_path / "profile", "--window-size=1280,1400", "--hide-scrollbars",
                   f"--screenshot={shot}")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    # the first chart (CMI against cost index) sits below the header and summary cards
    chart = np.asarray(image.crop((0, 260, image.width, 900)), dtype=np.int16)
    colored = int((chart.max(axis=2) - chart.min(axis=2) > 60).sum())
    non_white = int((chart.min(axis=2) < 200).sum())
    assert colored > 500, f"only {colored} coloured pixels in the chart area"
    assert non_white > 2000
