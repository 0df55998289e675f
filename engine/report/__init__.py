"""Offline reports of supervision indicators and flags: HTML with plotly charts, CSV, Excel."""

from engine.report.build import ReportData, ReportFiles, build_report

__all__ = ["ReportData", "ReportFiles", "build_report"]
