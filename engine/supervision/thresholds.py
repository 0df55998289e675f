"""Supervision thresholds: the `[supervision]` section of a policy file (payment-rules.md §5–6).

Every number a supervision flag is compared with lives here, so a region tunes its screening
in its policy TOML, not in code. Defaults are the [T] values of payment-rules.md §5.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SPLIT_MATCH_KEYS = ("drg", "adrg", "dx3")


class SupervisionThresholds(BaseModel):
    """Thresholds and windows of the supervision screens; `[supervision]` in a policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Peers: hospitals of the same level, all hospitals when a level has fewer than min_peers.
    # A hospital is never its own peer (leave-one-out).
    min_peers: int = Field(default=5, ge=2)
    peer_percentile: float = Field(default=0.90, gt=0, lt=1)
    # Hospital flags need value > peer P90 AND a robust z (value − median) / (1.4826·MAD) ≥ this.
    min_robust_z: float = Field(default=2.0, ge=0)
    min_hospital_cases: int = Field(default=30, ge=1)
    # Hospital-level flags are raised per year (monthly counts are too small to compare).
    flag_period: Literal["year", "month"] = "year"

    # Outlier cases when the input carries no settled case type: r = cost / mean cost of the
    # group among same-level hospitals ("level", DIP §3.3) or the whole region ("region");
    # a level with fewer cases of the group uses region mean × the level's cost factor.
    ratio_basis: Literal["level", "region"] = "level"
    min_group_cases_for_level_mean: int = Field(default=20, ge=1)
    k_low: float = Field(default=0.4, gt=0, lt=1)
    k_high: float = Field(default=3.0, gt=1)

    # 分解住院: same patient, same hospital, re-admitted within split_admission_days of discharge
    # into the same DRG, ADRG or 3-character principal diagnosis (split_match, strongest first).
    split_admission_days: int = Field(default=15, ge=0)
    split_match: tuple[str, ...] = SPLIT_MATCH_KEYS
    planned_dx_prefixes: tuple[str, ...] = ("Z51", "Z49", "Z50", "Z47")  # chemo/radio, dialysis…

    # 低标入院: LOS ≤ max_los and r < max_ratio and no operating-room procedure, or a principal
    # diagnosis on the outpatient-treatable list. Incomplete stays (transfer, against advice,
    # death) are not screened.
    low_standard_max_los: int = Field(default=2, ge=0)
    low_standard_max_ratio: float = Field(default=0.3, gt=0, lt=1)
    # … and no procedure at all (a coded procedure is care the stay delivered); false screens the
    # §5 rule as written (no operating-room procedure) and halves the score of stays with one.
    low_standard_require_no_procedure: bool = True
    outpatient_dx_prefixes: tuple[str, ...] = ()
    low_standard_exclude_discharge_ways: tuple[int, ...] = (2, 4, 5)

    # 转院再入: the same patient admitted to another hospital within transfer_readmission_days
    # of a discharge, same DRG / ADRG / 3-char principal dx (split_match), not planned
    # (planned_dx_prefixes, readmit_plan_31d) and not a documented transfer: the first stay's
    # discharge_way in transfer_discharge_ways (2 医嘱转院, 3 转社区/乡镇卫生院) is a referral.
    transfer_readmission_days: int = Field(default=15, ge=0)
    transfer_discharge_ways: tuple[int, ...] = (2, 3)

    # 挂床住院: LOS ≥ bed_blocking_min_los, no procedure at all, and cost per day below
    # bed_blocking_max_daily_ratio × the group's median cost per day (same level when the level
    # has min_group_cases_for_level_mean cases of the group, as for r); groups need
    # bed_blocking_min_group_cases cases for a median. Hospitals: share of such stays vs peers.
    bed_blocking_min_los: int = Field(default=4, ge=1)
    bed_blocking_max_daily_ratio: float = Field(default=0.3, gt=0, lt=1)
    bed_blocking_min_group_cases: int = Field(default=20, ge=1)

    # CMI 异常增长: hospital CMI growth over its previous period (of flag_period) above
    # cmi_drift_min_growth and above the peers' median growth by cmi_drift_min_excess, with
    # min_hospital_cases weighted cases in both periods.
    cmi_drift_min_growth: float = Field(default=0.10, gt=0)
    cmi_drift_min_excess: float = Field(default=0.10, gt=0)

    # 推诿重症: share of heavy cases (MCC, or RW ≥ dumping_min_weight) leaving by a discharge way
    # in dumping_discharge_ways (2 医嘱转院, 4 非医嘱离院) above peer P90, robust z ≥ min_robust_z
    # and ≥ peer median + dumping_margin.
    dumping_min_weight: float = Field(default=2.0, gt=0)
    dumping_discharge_ways: tuple[int, ...] = (2, 4)
    dumping_margin: float = Field(default=0.03, ge=0, lt=1)

    # 编码高套: MCC/CC share O/E against same-level peers over ADRGs with severity splits.
    upcoding_oe: float = Field(default=1.2, gt=1)
    upcoding_min_expected: float = Field(default=10.0, ge=0)
    # … and the excess is beyond chance: (O − E) / √E ≥ upcoding_min_z (Poisson).
    upcoding_min_z: float = Field(default=3.0, ge=0)

    # 费用转嫁: out-of-scope self-pay share above peer P90 and above the peer median by this many
    # percentage points (as a fraction: 0.05 = 5 pp).
    cost_shift_margin: float = Field(default=0.05, ge=0, lt=1)

    # Low-risk mortality: risk levels (1 low … 4 high) whose deaths are flagged case by case.
    flag_death_risk_levels: tuple[int, ...] = (1,)

    # Evidence listed per hospital flag (the strongest cases first).
    max_evidence: int = Field(default=50, ge=1)

    @model_validator(mode="after")
    def _keys(self) -> SupervisionThresholds:
        unknown = [k for k in self.split_match if k not in SPLIT_MATCH_KEYS]
        if unknown or not self.split_match:
            raise ValueError(f"split_match={list(self.split_match)}: use a non-empty subset of "
                             f"{', '.join(SPLIT_MATCH_KEYS)}")
        bad = [lv for lv in self.flag_death_risk_levels if lv not in (1, 2, 3, 4)]
        if bad:
            raise ValueError(f"flag_death_risk_levels={bad}: risk levels are 1–4")
        return self


DEFAULT_THRESHOLDS = SupervisionThresholds()
