"""Simulation output for people: CSV (UTF-8 with BOM, so Excel reads the Chinese) and xlsx with
Chinese and English headers, and an offline HTML report with charts (winners and losers, the
fund change by cause, the distribution of payment / cost)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

HEADERS = {
    "scenario": "情景 scenario", "hospital_id": "医院 hospital", "cases": "病例数 cases",
    "base_fund_payable": "基线基金应偿付 baseline fund payable",
    "fund_payable": "情景基金应偿付 scenario fund payable", "change": "变化 change",
    "change_pct": "变化率 change %", "payment_standard": "支付标准 payment standard",
    "total_cost": "医疗总费用 total cost", "surplus": "结余(+)/超支(−) surplus/overspend",
    "payment_cost_ratio": "支付/费用 payment/cost", "cmi": "CMI",
    "group_code": "病组/病种 group", "points": "点数 points", "moved_in": "转入病例 moved in",
    "cause": "原因 cause", "point": "点 point", "params": "参数 parameters",
    "hospitals_gaining": "增收>5%医院 hospitals +5 %",
    "hospitals_losing": "减收>5%医院 hospitals −5 %", "outlier_share": "极值病例占比 outlier share",
    "fund_pool": "基金池 fund pool", "variable": "求解参数 variable", "budget": "预算 budget",
    "value": "预算平衡值 budget-neutral value", "gap": "差额 gap",
    "step_payable": "每0.0001变化 payable per step", "evaluations": "结算次数 settlements",
}
FILES = {"sim_hospital": "hospitals 医院", "sim_group": "groups 病组", "sim_cause": "causes 原因",
         "sim_sweep": "sweep 参数扫描", "sim_solution": "budget-neutral 预算平衡"}


def for_people(frame: pl.DataFrame) -> pl.DataFrame:
    keep = [c for c in frame.columns if c != "sim_id"]
    return frame.select(keep).rename({c: HEADERS.get(c, c) for c in keep})


def write_tables(tables: dict[str, pl.DataFrame], out: Path, *, fmt: str = "csv") -> list[Path]:
    """One file per table (`hospitals 医院.csv` …); csv is UTF-8 with BOM, xlsx one sheet each."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        book.remove(book.active)
        for table, title in FILES.items():
            if table not in tables:
                continue
            sheet = book.create_sheet(title[:31])
            frame = for_people(tables[table])
            sheet.append(frame.columns)
            for row in frame.iter_rows():
                sheet.append(list(row))  # Decimal cells stay exact (openpyxl writes them)
        path = out / "simulation 测算.xlsx"
        book.save(path)
        return [path]
    for table, title in FILES.items():
        if table in tables:
            path = out / f"{title}.csv"
            with path.open("wb") as handle:
                handle.write("\ufeff".encode())
                for_people(tables[table]).write_csv(handle)
            written.append(path)
    return written


def _charts(tables: dict[str, pl.DataFrame], label: str, summary: dict
            ) -> list[tuple[str, object]]:
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    def rows(name: str) -> pl.DataFrame:
        frame = tables.get(name)
        return frame.filter(pl.col("scenario") == label) if frame is not None else pl.DataFrame()

    charts: list[tuple[str, object]] = []
    hosp = rows("sim_hospital")
    if hosp.height:  # display only: Decimal → float for the chart's axis
        hosp = hosp.sort("change")
        change = [float(v) for v in hosp["change"]]
        charts.append(("winners and losers 增收与减收医院", go.Figure(go.Bar(
            x=hosp["hospital_id"].to_list(), y=change,
            marker_color=["#c0392b" if v < 0 else "#27ae60" for v in change]))))
    cause = rows("sim_cause")
    if cause.height:
        summary_base = float(hosp["base_fund_payable"].sum()) if hosp.height else 0.0
        charts.append(("fund change by cause 基金变化分解", go.Figure(go.Waterfall(
            x=["baseline 基线", *cause["cause"].to_list(), "scenario 情景"],
            measure=["absolute", *["relative"] * cause.height, "total"],
            y=[summary_base, *[float(v) for v in cause["change"]], 0]))))
    bins = summary.get("payment_cost_bins")
    if bins:  # the distribution over every case (compare.ratio_bins), not the stored rows
        from engine.simulate.compare import RATIO_BINS, RATIO_MAX

        step = RATIO_MAX / RATIO_BINS
        charts.append(("payment / cost per case 病例支付/费用分布", go.Figure(go.Bar(
            x=[round((k + 0.5) * step, 3) for k in range(RATIO_BINS)], y=bins,
            width=step * 0.95))))
    return charts


def write_report(result: object, out: Path) -> Path:
    """A self-contained HTML page (plotly.js inlined: no network) per scenario."""
    import html

    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    tables: dict[str, pl.DataFrame] = result.frames
    summary: dict = result.summary
    sim_id: str = result.sim_id
    parts = []
    n = 0
    for label, s in summary["scenarios"].items():
        parts.append(f"<h2>{html.escape(label)}</h2><p>fund payable 基金应偿付 "
                     f"{s['base_fund_payable']} → {s['fund_payable']} ({s['change']}); "
                     f"hospitals gaining / losing &gt;5 %: {s['hospitals_gaining']} / "
                     f"{s['hospitals_losing']}; cases moving group: {s['moved_cases']}</p>")
        for title, fig in _charts(tables, label, s):
            n += 1
            fig.update_layout(title=title, template="plotly_white", height=420)  # type: ignore
            parts.append(fig.to_html(full_html=False, include_plotlyjs=False,  # type: ignore
                                     div_id=f"chart-{n}", config={"displaylogo": False}))
    page = (f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            f"<title>测算 simulation {html.escape(sim_id)}</title>"
            f"<script>{get_plotlyjs()}</script></head><body>"
            f"<h1>测算 what-if simulation {html.escape(sim_id)}</h1>{''.join(parts)}"
            f"</body></html>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
