"""Supervision indicators and flags (payment-rules.md §5–6; docs/supervision.md).

Pure functions over polars frames: `supervision_frame` / `frame_from_case_results` build the
case frame, `supervise` computes indicators and flags, and the store adapter writes and reads the
`indicators` and `supervision_flags` tables (`indicators_for`, `flags_for` are what the API
calls).
"""

from engine.supervision.case_frame import (
    CASE_COLUMNS,
    frame_from_case_results,
    severity_table,
    supervision_frame,
)
from engine.supervision.flags import FLAG_COLUMNS, KIND_NAMES
from engine.supervision.indicators import INDICATOR_COLUMNS, compute_indicators
from engine.supervision.mortality import risk_levels
from engine.supervision.screening import SupervisionResult, supervise
from engine.supervision.store import flags_for, indicators_for, supervision_runs, write_supervision
from engine.supervision.thresholds import DEFAULT_THRESHOLDS, SupervisionThresholds

__all__ = [
    "CASE_COLUMNS", "DEFAULT_THRESHOLDS", "FLAG_COLUMNS", "INDICATOR_COLUMNS", "KIND_NAMES",
    "SupervisionResult", "SupervisionThresholds", "compute_indicators", "flags_for",
    "frame_from_case_results", "indicators_for", "risk_levels", "severity_table", "supervise",
    "supervision_frame", "supervision_runs", "write_supervision",
]
