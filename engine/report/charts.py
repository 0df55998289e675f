"""The report's charts, drawn by plotly (figures in, HTML fragments out; no JS from a CDN)."""

from __future__ import annotations

import plotly.graph_objects as go  # type: ignore[import-untyped]
import polars as pl

LEVEL_NAMES = {"3": "三级", "2": "二级", "1": "一级", "community": "基层", "unknown": "未知"}
_LAYOUT = {"template": "plotly_white", "height": 420, "margin": {"l": 60, "r": 20, "t": 50, "b": 80},
           "font": {"family": "Noto Sans CJK SC, Microsoft YaHei, sans-serif"}}


def cmi_vs_cost_index(hospitals: pl.DataFrame, *, highlight: str | None = None) -> go.Figure:
    """Scatter: CMI (x) against cost index (y), one marker per hospital, size by cases."""
    fig = go.Figure()
    h = hospitals.filter(pl.col("cmi").is_not_null() & pl.col("cost_index").is_not_null())
    for level in sorted(h["hospital_level"].unique().to_list()):
        part = h.filter(pl.col("hospital_level") == level)
        labels = [hid if highlight in (None, hid) else "" for hid in part["hospital_id"]]
        fig.add_trace(go.Scatter(
            x=part["cmi"].to_list(), y=part["cost_index"].to_list(), mode="markers+text",
            text=labels, textposition="top center", name=LEVEL_NAMES.get(level, level),
            marker={"size": [max(8.0, min(40.0, n ** 0.5 / 2)) for n in part["n_cases"]]},
            customdata=part["n_cases"].to_list(),
            hovertemplate="CMI %{x:.3f}<br>费用消耗指数 %{y:.3f}<br>病例 %{customdata}"))
    fig.add_hline(y=1.0, line_dash="dot", line_color="grey")
    fig.add_vline(x=1.0, line_dash="dot", line_color="grey")
    fig.update_layout(title="CMI 与费用消耗指数（各医院）", xaxis_title="CMI",
                      yaxis_title="费用消耗指数", **_LAYOUT)
    return fig


def surplus_overspend(clearing: pl.DataFrame) -> go.Figure:
    """Bar: surplus (positive) and overspend (negative) per hospital, yuan."""
    c = clearing.sort("hospital_id")
    net = [float(s) - float(o) for s, o in zip(c["surplus"], c["overspend"], strict=True)]
    fig = go.Figure(go.Bar(
        x=c["hospital_id"].to_list(), y=net,
        marker_color=["#2a9d8f" if v >= 0 else "#e76f51" for v in net],
        hovertemplate="%{x}<br>%{y:,.2f} 元"))
    fig.update_layout(title="结余（正）与超支（负）：各医院", yaxis_title="元", **_LAYOUT)
    return fig


def outlier_rates(hospitals: pl.DataFrame) -> go.Figure:
    """Grouped bars: high- and low-outlier shares per hospital (%)."""
    h = hospitals.sort("hospital_id")
    fig = go.Figure([
        go.Bar(name="费用超高", x=h["hospital_id"].to_list(),
               y=[None if v is None else v * 100 for v in h["high_outlier_rate"]]),
        go.Bar(name="费用超低", x=h["hospital_id"].to_list(),
               y=[None if v is None else v * 100 for v in h["low_outlier_rate"]]),
    ])
    fig.update_layout(title="高倍率与低倍率病例占比（%）", barmode="group", yaxis_title="%",
                      **_LAYOUT)
    return fig


def group_distribution(groups: pl.DataFrame, *, top: int = 30) -> go.Figure:
    """Bar: the `top` groups by cases (group_code, group_name, n)."""
    g = groups.sort("n", descending=True).head(top)
    fig = go.Figure(go.Bar(
        x=g["group_code"].to_list(), y=g["n"].to_list(),
        customdata=g["group_name"].fill_null("").to_list(),
        hovertemplate="%{x} %{customdata}<br>%{y} 例"))
    fig.update_layout(title=f"病组分布（病例数前 {top} 组）", yaxis_title="病例数", **_LAYOUT)
    return fig


def flag_counts(flags: pl.DataFrame, kind_names: dict[str, str]) -> go.Figure:
    """Stacked bars: flags per hospital by kind."""
    counts = flags.group_by("hospital_id", "kind").agg(pl.len().alias("n")).sort("hospital_id")
    fig = go.Figure()
    for kind in sorted(counts["kind"].unique().to_list()):
        part = counts.filter(pl.col("kind") == kind)
        fig.add_trace(go.Bar(name=kind_names.get(kind, kind), x=part["hospital_id"].to_list(),
                             y=part["n"].to_list()))
    fig.update_layout(title="监管标记数：各医院、各类型", barmode="stack", yaxis_title="条",
                      **_LAYOUT)
    return fig


def to_fragment(fig: go.Figure, div_id: str) -> str:
    """The figure as a <div> + <script> fragment; plotly.js itself is inlined once by the page."""
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                           config={"displaylogo": False, "responsive": True}))
