"""Build the offline report: one self-contained HTML page (plotly.js inlined, no network), plus
the same numbers as CSV files and one Excel workbook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import polars as pl
from markupsafe import Markup
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from engine.report import charts
from engine.report.tables import write_csv, write_workbook
from engine.supervision.flags import KIND_NAMES
from engine.supervision.thresholds import DEFAULT_THRESHOLDS, SupervisionThresholds

HOSPITAL_TABLE = (  # (column, Chinese header, format)
    ("hospital_id", "医院", "hospital"), ("hospital_level", "级别", "level"),
    ("n_cases", "病例数", "d"),
    ("grouping_rate", "入组率", "%"), ("n_groups", "病组数", "d"), ("cmi", "CMI", "4"),
    ("cost_index", "费用消耗指数", "3"), ("time_index", "时间消耗指数", "3"),
    ("low_risk_mortality", "低风险组死亡率", "%"), ("high_outlier_rate", "高倍率占比", "%"),
    ("low_outlier_rate", "低倍率占比", "%"), ("mcc_cc_share", "MCC/CC 占比", "%"),
    ("upcoding_oe", "MCC/CC O/E", "3"), ("split_admission_rate", "分解住院率", "%"),
    ("low_standard_rate", "低标入院率", "%"), ("self_pay_share", "全自费占比", "%"),
)


@dataclass
class ReportData:
    """What a report shows; frames as stored (indicators, supervision_flags) or computed."""

    run_id: str
    indicators: pl.DataFrame
    flags: pl.DataFrame
    groups: pl.DataFrame  # group_code, group_name, n (cases per group)
    clearing: pl.DataFrame | None = None  # clearing_results rows (hospital_id, surplus, overspend)
    thresholds: SupervisionThresholds = DEFAULT_THRESHOLDS
    title: str = "医保 DRG/DIP 支付监管指标报告"
    hospital_names: dict[str, str] = field(default_factory=dict)  # hospital_id → name, if known
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    csv: tuple[Path, ...]
    xlsx: Path


def _fmt(value: Any, kind: str, names: dict[str, str] | None = None) -> str:
    if value is None:
        return "—"
    if kind == "hospital":  # the id, and the name where the hospital table knows it
        name = (names or {}).get(str(value))
        return f"{value} {name}" if name else str(value)
    if kind == "%":
        return f"{value * 100:.2f}%"
    if kind == "d":
        return f"{int(value):,}"
    if kind == "level":
        return charts.LEVEL_NAMES.get(str(value), str(value))
    if kind in ("3", "4"):
        return f"{value:.{kind}f}"
    return str(value)


def _table(frame: pl.DataFrame, spec: tuple[tuple[str, str, str], ...], title: str,
           *, text_cols: int, note: str = "", names: dict[str, str] | None = None
           ) -> dict[str, Any]:
    rows = [[_fmt(r[c], k, names) for c, _, k in spec] for r in frame.iter_rows(named=True)]
    return {"title": title, "headers": [h for _, h, _ in spec], "rows": rows,
            "text_cols": text_cols, "note": note}


def latest_year(indicators: pl.DataFrame) -> str:
    years = indicators.filter((pl.col("period_kind") == "year") & (pl.col("period") != "unknown"))
    if years.is_empty():
        return "unknown"
    # the year with most cases: a December discharge spilling into next January is not the year
    top = (years.filter(pl.col("scope") == "region").sort(["n_cases", "period"],
                                                           descending=True))
    return str(top["period"][0]) if not top.is_empty() else str(years["period"].max())


def build_report(data: ReportData, out: Path, *, hospital: str | None = None,
                 period: str | None = None, top_flags: int = 50) -> ReportFiles:
    """Write report.html, indicators.csv, flags.csv, groups.csv (clearing.csv) and report.xlsx.

    With `hospital`, only that hospital's indicators and flags are written; other hospitals
    appear unlabelled in the peer scatter.
    """
    out.mkdir(parents=True, exist_ok=True)
    ind, flags = data.indicators, data.flags
    if hospital is not None:
        ind = ind.filter(pl.col("hospital_id").is_null() | (pl.col("hospital_id") == hospital))
        flags = flags.filter(pl.col("hospital_id") == hospital)
    period = period or latest_year(data.indicators)
    all_h = data.indicators.filter((pl.col("scope") == "hospital") & (pl.col("period") == period))
    own_h = ind.filter((pl.col("scope") == "hospital") & (pl.col("period") == period))
    region = data.indicators.filter((pl.col("scope") == "region") & (pl.col("period") == period))
    figures: list[dict[str, str]] = []

    def add(fig: Any, title: str, note: str = "") -> None:
        figures.append({"title": title, "note": note,
                        "html": charts.to_fragment(fig, f"chart{len(figures) + 1}")})

    add(charts.cmi_vs_cost_index(all_h, highlight=hospital), "CMI 与费用消耗指数",
        "气泡大小为病例数；虚线为区域平均（1.0）。" + ("仅标注本院。" if hospital else ""))
    clearing = data.clearing
    if clearing is not None and hospital is not None:
        clearing = clearing.filter(pl.col("hospital_id") == hospital)
    if clearing is not None and not clearing.is_empty():
        add(charts.surplus_overspend(clearing), "结余与超支（年度清算）")
    if hospital is None:
        add(charts.outlier_rates(own_h), "高、低倍率病例占比")
    else:
        months = ind.filter((pl.col("scope") == "hospital") & (pl.col("period_kind") == "month"))
        add(charts.outlier_rates(months.with_columns(pl.col("period").alias("hospital_id"))),
            "本院各月高、低倍率病例占比")
    add(charts.group_distribution(data.groups), "病组分布")
    if not flags.is_empty():
        add(charts.flag_counts(flags, KIND_NAMES), "监管标记")

    names = data.hospital_names
    tables = [_table(own_h.sort("hospital_id"), HOSPITAL_TABLE, f"医院指标（{period}）",
                     text_cols=2, names=names)]
    if hospital is not None:
        depts = ind.filter((pl.col("scope") == "dept") & (pl.col("period") == period))
        spec = (("dept", "科室", "s"),) + HOSPITAL_TABLE[1:]
        tables.append(_table(depts.sort("dept", nulls_last=True), spec,
                             f"本院科室指标（{period}）", text_cols=2))
    r = region.row(0, named=True) if not region.is_empty() else {}
    cards = [
        {"label": "病例数", "value": _fmt(r.get("n_cases"), "d")},
        {"label": "入组率", "value": _fmt(r.get("grouping_rate"), "%")},
        {"label": "区域 CMI", "value": _fmt(r.get("cmi"), "4")},
        {"label": "病组数", "value": _fmt(r.get("n_groups"), "d")},
        {"label": "低风险组死亡率", "value": _fmt(r.get("low_risk_mortality"), "%")},
        {"label": "监管标记（条）", "value": f"{flags.height:,}"},
    ]
    if hospital is not None and not own_h.is_empty():
        h = own_h.row(0, named=True)
        cards[:0] = [{"label": f"{hospital} CMI", "value": _fmt(h["cmi"], "4")},
                     {"label": f"{hospital} 费用消耗指数", "value": _fmt(h["cost_index"], "3")}]
    top = flags.sort(["score", "flag_id"], descending=[True, False]).head(top_flags)
    flag_rows = [{
        "kind": KIND_NAMES.get(f["kind"], f["kind"]),
        "hospital_id": _fmt(f["hospital_id"], "hospital", names) if f["hospital_id"] else "",
        "period": f["period"], "case_id": f["case_id"] or "", "score": f"{f['score']:.2f}",
        "message": f["message"],
        "evidence": "、".join(f["evidence_case_ids"][:10])
        + (f" 等 {f['n_evidence']} 例" if f["n_evidence"] > 10 else ""),
    } for f in top.iter_rows(named=True)]

    csv_files = {"indicators.csv": ind, "flags.csv": flags, "groups.csv": data.groups}
    if clearing is not None and not clearing.is_empty():
        csv_files["clearing.csv"] = clearing
    written = []
    for name, frame in csv_files.items():
        write_csv(frame, out / name)
        written.append(out / name)
    xlsx = out / "report.xlsx"
    write_workbook({name.removesuffix(".csv"): frame for name, frame in csv_files.items()},
                   xlsx, hospital_names=data.hospital_names)

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             loader=jinja2.FunctionLoader(_template))
    html = env.get_template("report.html.j2").render(
        title=data.title + (f"（{hospital}）" if hospital else ""), run_id=data.run_id,
        period=period, generated_at=datetime.now().strftime("%Y-%m-%d %H:%M"),
        hospital=hospital, cards=cards, charts=figures, tables=tables, flags=flag_rows,
        thresholds=data.thresholds,
        thresholds_rows=list(data.thresholds.model_dump().items()),
        downloads=[p.name for p in (*written, xlsx)],
        plotly_js=Markup(get_plotlyjs()))
    page = out / "report.html"
    page.write_text(html, encoding="utf-8")
    return ReportFiles(html=page, csv=tuple(written), xlsx=xlsx)


def _template(name: str) -> str:
    return (resources.files("engine.report") / "templates" / name).read_text(encoding="utf-8")
