"""The supervision run over one case frame: risk grading, case screens, indicators, flags."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from engine.supervision.bed_blocking import (
    bed_blocking_case_flags,
    bed_blocking_hospital_flags,
    bed_blocking_stays,
)
from engine.supervision.cmi_drift import cmi_drift_flags
from engine.supervision.flags import (
    low_risk_death_flags,
    low_standard_flags,
    rate_flags,
    split_admission_flags,
    upcoding_flags,
)
from engine.supervision.indicators import compute_indicators
from engine.supervision.low_standard import low_standard_admissions
from engine.supervision.mortality import risk_levels
from engine.supervision.patient_dumping import patient_dumping_flags
from engine.supervision.split_admission import split_admissions
from engine.supervision.thresholds import DEFAULT_THRESHOLDS, SupervisionThresholds
from engine.supervision.transfer_readmission import (
    transfer_readmission_flags,
    transfer_readmissions,
)


@dataclass(frozen=True)
class SupervisionResult:
    indicators: pl.DataFrame  # indicators.INDICATOR_COLUMNS
    flags: pl.DataFrame  # flags.FLAG_COLUMNS, strongest first within a kind
    risk: pl.DataFrame  # mortality.risk_levels: DRG risk grading


def supervise(frame: pl.DataFrame,
              thresholds: SupervisionThresholds = DEFAULT_THRESHOLDS) -> SupervisionResult:
    """Indicators and flags for a supervision case frame (`case_frame.CASE_COLUMNS`).

    >>> result = supervise(supervision_frame(cases, group_drg(cases), weights))  # doctest: +SKIP
    >>> result.flags.filter(pl.col("kind") == "split_admission")  # doctest: +SKIP
    """
    th = thresholds
    risk = risk_levels(frame)
    splits = split_admissions(frame, th)
    low_std = low_standard_admissions(frame, th)
    bed_blocking = bed_blocking_stays(frame, th)
    indicators = compute_indicators(frame, risk, splits["case_id"], low_std["case_id"], th)
    hospital_ind = indicators.filter((pl.col("scope") == "hospital")
                                     & (pl.col("period_kind") == th.flag_period))
    flags = pl.concat([
        split_admission_flags(splits, th),
        low_standard_flags(low_std, th),
        low_risk_death_flags(frame, risk, th),
        upcoding_flags(frame, th),
        rate_flags(frame, hospital_ind, th),
        transfer_readmission_flags(transfer_readmissions(frame, th), th),
        bed_blocking_case_flags(bed_blocking, th),
        bed_blocking_hospital_flags(frame, bed_blocking, th),
        cmi_drift_flags(frame, hospital_ind, th),
        patient_dumping_flags(frame, th),
    ]).sort(["kind", "score", "flag_id"], descending=[False, True, False])
    return SupervisionResult(indicators=indicators, flags=flags, risk=risk)
