"""Settlement policies: one TOML file per region and year, validated on load, versioned.

A policy holds every parameter of payment-rules.md §2.4–§4 for one region and year; its fund pools
(`employee` 职工, `resident` 居民) carry their own budgets and point values, so a parameter set is
keyed `(region, fund_pool, year)`. Shipped files live in `engine/policies/` (illustrative values);
`load_policy` takes a shipped name (`foshan_drg_2025`) or a path to any TOML file.

Unknown keys, out-of-range values and inconsistent thresholds stop the load with one line naming
the file, the field and the value.
"""

from __future__ import annotations

import hashlib
import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.supervision.thresholds import SupervisionThresholds
from grouper.errors import DrgDipError

FUND_POOLS = ("employee", "resident")
HOSPITAL_LEVELS = ("3", "2", "1", "community")
# Chinese level names from hospital tables → the level keys of a policy.
LEVEL_ALIASES = {"三级": "3", "二级": "2", "一级": "1", "基层": "community", "社区": "community",
                 "3": "3", "2": "2", "1": "1", "community": "community"}


class PolicyError(DrgDipError):
    """A policy file is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _max_dp(value: Decimal, dp: int, name: str) -> Decimal:
    if value.as_tuple().exponent < -dp:  # type: ignore[operator]
        raise ValueError(f"{name}={value} has more than {dp} decimal places")
    return value


class Meta(_Strict):
    region: str
    year: int = Field(ge=2000, le=2100)
    version: str
    method: Literal["drg", "dip"]
    title: str = ""
    source: str = ""
    illustrative: bool = True
    ruleset: str = "chs_drg_11"
    # a region's own calendar for `--ruleset auto`: {"YYYY-MM-DD": ruleset in force from then};
    # empty: the national calendar of the manifests (grouper.by_date)
    ruleset_calendar: dict[str, str] = Field(default_factory=dict)
    # DRG: "rate" (费率法, points are RW-equivalents paid at base_rate) or "points" (点数法,
    # point value fixed after the year). DIP is always points.
    payment_basis: Literal["rate", "points"] = "points"
    points_per_weight: Decimal = Decimal(1)  # DRG: points per 1.0 RW (100 in point-method cities)
    unmatched_payment: Literal["ffs", "cost_points"] = "ffs"  # QY / 0000 / no weight
    fund_share_method: Literal["liability", "ratio"] = "liability"
    # `drgdip settle` refuses a run holding more than this share of its cases (unless
    # --allow-held): a misspelt money header holds every case and pays nothing.
    max_held_share: Decimal = Field(default=Decimal("0.05"), ge=0, le=1)
    # a settle run warns (and stores, `off_scale_pools`) when a fund pool's payable ÷ FFS fund
    # amount falls outside this band: a point value or base rate on another catalogue's scale
    # pays several times (or a fraction of) what the cases cost.
    scale_warning_band: tuple[Decimal, Decimal] = (Decimal("0.5"), Decimal("2.0"))


class Scope(_Strict):
    min_los: int | None = None  # LOS <= min_los → paid FFS (DRG default 2 in payment-rules §2.1)
    max_los: int | None = None  # LOS >= max_los → per diem


class KTier(_Strict):
    weight_max: Decimal | None = None  # tier applies to weight <= weight_max (None = no limit)
    k: Decimal = Field(gt=0)


class Outliers(_Strict):
    k_high: Decimal = Field(default=Decimal("2.0"), gt=1)
    k_high_tiers: tuple[KTier, ...] = ()  # by RW; first tier whose weight_max >= RW wins
    k_low: Decimal = Field(default=Decimal("0.5"), ge=0, lt=1)
    high_inclusive: bool = False
    low_inclusive: bool = False
    high_outlier_method: Literal["points_excess", "cost_excess_share", "ffs"] = "points_excess"
    excess_share: Decimal = Field(default=Decimal("0.9"), ge=0, le=1)
    apply_inst_to_deviation: bool = True
    review_ratio: Decimal = Field(default=Decimal(5), gt=1)  # r >= this → review recommended
    low_exempt_types: tuple[str, ...] = ("day_surgery", "tcm")
    # avg of r (payment-rules §3.3): the group's mean cost among hospitals of the case's level
    # when the weight version has it from at least `level_cost_min_cases` kept cases, else the
    # regional mean; "regional" always uses the regional mean.
    avg_cost_basis: Literal["same_level", "regional"] = "same_level"
    level_cost_min_cases: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _tiers(self) -> Outliers:
        for name in ("k_high", "k_low", "excess_share", "review_ratio"):
            _max_dp(getattr(self, name), 4, name)
        if self.k_high_tiers and self.k_high_tiers[-1].weight_max is not None:
            raise ValueError("the last k_high_tiers entry must have no weight_max (catch-all)")
        for tier in self.k_high_tiers:
            _max_dp(tier.k, 4, "k_high_tiers.k")
            if tier.k <= 1:
                raise ValueError(f"k_high_tiers.k={tier.k} must be > 1")
        return self


class IncompleteStay(_Strict):
    discharge_ways: tuple[int, ...] = (2, 4, 5)
    short_los: int = Field(default=3, ge=0)


class Band(_Strict):
    from_day: int = Field(ge=1)
    to_day: int | None = None
    factor: Decimal = Field(gt=0, le=2)


class PerDiemCategory(_Strict):
    name: str
    dx_prefixes: tuple[str, ...] = ()  # principal diagnosis prefixes (DRG and DIP)
    adrgs: tuple[str, ...] = ()  # DRG only
    daily_rate: Decimal = Field(gt=0)


DEFAULT_BANDS = (Band(from_day=1, to_day=60, factor=Decimal(1)),
                 Band(from_day=61, to_day=90, factor=Decimal("0.9")),
                 Band(from_day=91, factor=Decimal("0.8")))


class PerDiem(_Strict):
    bands: tuple[Band, ...] = DEFAULT_BANDS
    long_stay_daily_rate: Decimal | None = None  # rate for LOS >= scope.max_los outside categories
    episode_cap: Decimal | None = None
    categories: tuple[PerDiemCategory, ...] = ()

    @model_validator(mode="after")
    def _contiguous(self) -> PerDiem:
        expect = 1
        for band in self.bands:
            if band.from_day != expect:
                raise ValueError(f"per_diem.bands: from_day={band.from_day}, expected {expect}")
            if band.to_day is None:
                break
            expect = band.to_day + 1
        else:
            raise ValueError("per_diem.bands: the last band must have no to_day")
        return self


class Readmission(_Strict):
    merge: bool = True
    merge_days: int = Field(default=10, ge=0)
    planned_dx_prefixes: tuple[str, ...] = ("Z51", "Z49")


class Review(_Strict):
    quota: Decimal = Field(default=Decimal("0.05"), ge=0, le=1)  # of the hospital's cases
    uplift_share: Decimal = Field(default=Decimal(1), ge=0, le=1)


class InstitutionCoef(_Strict):
    by_level: dict[str, Decimal] = Field(default_factory=lambda: {
        "3": Decimal(1), "2": Decimal("0.85"), "1": Decimal("0.7"), "community": Decimal("0.7")})
    type_add_on: dict[str, Decimal] = Field(default_factory=dict)
    type_min: dict[str, Decimal] = Field(default_factory=dict)  # e.g. tcm = 0.88 (Chaozhou)
    hospital: dict[str, Decimal] = Field(default_factory=dict)  # explicit per-hospital values
    basic_group_coef: Decimal = Decimal(1)  # 基层病种: same coefficient at every level
    tcm_group_coef: Decimal = Decimal(1)  # optional tilt for TCM-advantage groups

    @model_validator(mode="after")
    def _levels(self) -> InstitutionCoef:
        missing = [lv for lv in HOSPITAL_LEVELS if lv not in self.by_level]
        unknown = [lv for lv in self.by_level if lv not in HOSPITAL_LEVELS]
        if missing or unknown:
            raise ValueError(f"by_level needs exactly {', '.join(HOSPITAL_LEVELS)}; "
                             f"missing {missing}, unknown {unknown}")
        for group in (self.by_level, self.type_add_on, self.type_min, self.hospital):
            for key, value in group.items():
                _max_dp(value, 4, key)
                if value < 0 or value > 3:
                    raise ValueError(f"coefficient {key}={value} outside [0, 3]")
        return self


class DrgOptions(_Strict):
    """`[drg]`: DRG-only parameters. `cost_coefficient = "hospital_group"` multiplies the base
    points of a case by the hospital cost coefficient c_{h,g} (payment-rules §2.3, point method
    [L:Jinhua]): the hospital's mean cost in the group over the city's, from the weight
    version's `drg_hospital_costs`; 1 for a group the hospital had fewer than
    `cost_coefficient_min_cases` kept cases of (new groups). Then `1 + blend × (c − 1)`
    (blend 1 = c itself), bounded by the optional floor and cap, 4 dp."""

    cost_coefficient: Literal["none", "hospital_group"] = "none"
    cost_coefficient_min_cases: int = Field(default=30, ge=1)
    cost_coefficient_blend: Decimal = Field(default=Decimal(1), ge=0, le=1)
    cost_coefficient_floor: Decimal | None = Field(default=None, gt=0, le=1)
    cost_coefficient_cap: Decimal | None = Field(default=None, ge=1, le=3)

    @model_validator(mode="after")
    def _dp(self) -> DrgOptions:
        for name in ("cost_coefficient_blend", "cost_coefficient_floor",
                     "cost_coefficient_cap"):
            value = getattr(self, name)
            if value is not None:
                _max_dp(value, 4, name)
        return self


class Pool(_Strict):
    budget: Decimal = Field(ge=0)  # B: annual DRG/DIP fund budget of the pool (yuan)
    base_rate: Decimal | None = Field(default=None, gt=0)  # DRG rate method: yuan per 1.0 RW
    pv_budget: Decimal | None = Field(default=None, gt=0)  # provisional point value
    pv_basis: Literal["plus_liability", "ratio"] = "plus_liability"
    reimbursement_ratio: Decimal | None = Field(default=None, gt=0, le=1)
    pv_prev_year: Decimal | None = Field(default=None, gt=0)
    pv_cap_ratio: Decimal | None = Field(default=None, gt=0)
    special_review_pool: Decimal = Field(default=Decimal(0), ge=0)

    @model_validator(mode="after")
    def _dp(self) -> Pool:
        _max_dp(self.budget, 2, "budget")
        _max_dp(self.special_review_pool, 2, "special_review_pool")
        for name in ("base_rate", "pv_budget", "pv_prev_year"):
            value = getattr(self, name)
            if value is not None:
                _max_dp(value, 4, name)
        return self


class Clearing(_Strict):
    risk_reserve_rate: Decimal = Field(default=Decimal("0.05"), ge=0, lt=1)
    surplus_rule: Literal["banded", "capped_pct_of_ffs", "full"] = "banded"
    surplus_floor: Decimal = Field(default=Decimal("0.85"), ge=0, le=1)
    keep_in_band: Decimal = Field(default=Decimal(1), ge=0, le=1)
    keep_beyond: Decimal = Field(default=Decimal(0), ge=0, le=1)
    ffs_cap_pct: Decimal = Field(default=Decimal("1.03"), ge=1)
    overspend_rule: Literal["banded", "none"] = "banded"
    overspend_cap: Decimal = Field(default=Decimal("0.10"), ge=0)
    share_in_band: Decimal = Field(default=Decimal("0.5"), ge=0, le=1)
    share_beyond: Decimal = Field(default=Decimal(0), ge=0, le=1)
    reserve_left: Literal["return", "redistribute"] = "return"
    turnover_recover_at_clearing: bool = False


class Prepay(_Strict):
    method: Literal["ffs_ratio", "points"] = "ffs_ratio"
    ratio: Decimal = Field(default=Decimal("0.9"), ge=0, le=1)


class Assessment(_Strict):
    default: Decimal = Field(default=Decimal(1), ge=0, le=2)
    hospital: dict[str, Decimal] = Field(default_factory=dict)
    overspend_unreasonable: tuple[str, ...] = ()  # hospitals whose overspend is not shared


class Turnover(_Strict):
    hospital: dict[str, Decimal] = Field(default_factory=dict)  # 周转金 advanced (yuan)


class Rounding(_Strict):
    mode: Literal["ROUND_HALF_UP"] = "ROUND_HALF_UP"
    money_dp: Literal[2] = 2
    points_dp: Literal[4] = 4
    point_value_dp: Literal[4] = 4


class Policy(_Strict):
    """A validated policy. `name`, `path` and `checksum` identify the exact file used."""

    policy: Meta
    scope: Scope = Scope()
    outliers: Outliers = Outliers()
    incomplete_stay: IncompleteStay = IncompleteStay()
    per_diem: PerDiem = PerDiem()
    readmission: Readmission = Readmission()
    review: Review = Review()
    institution_coef: InstitutionCoef = InstitutionCoef()
    drg: DrgOptions = DrgOptions()
    pool: dict[str, Pool]
    clearing: Clearing = Clearing()
    prepay: Prepay = Prepay()
    assessment: Assessment = Assessment()
    turnover: Turnover = Turnover()
    rounding: Rounding = Rounding()
    supervision: SupervisionThresholds = SupervisionThresholds()  # payment-rules §5 (issue 8)
    name: str = ""
    checksum: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        unknown = [p for p in self.pool if p not in FUND_POOLS]
        if unknown or not self.pool:
            raise ValueError(f"pool keys must be among {', '.join(FUND_POOLS)}; got {unknown}")
        meta = self.policy
        if meta.method != "drg" and self.drg.cost_coefficient != "none":
            raise ValueError(f"drg.cost_coefficient={self.drg.cost_coefficient!r} needs "
                             f"method = \"drg\" (the policy pays {meta.method})")
        for pool_name, pool in self.pool.items():
            if meta.method == "drg" and meta.payment_basis == "rate" and pool.base_rate is None:
                raise ValueError(f"pool.{pool_name}.base_rate is required for the DRG rate method")
            if (meta.payment_basis == "points" or meta.method == "dip") and pool.pv_budget is None:
                raise ValueError(f"pool.{pool_name}.pv_budget is required for point methods")
        return self

    @property
    def method(self) -> str:
        return self.policy.method

    @property
    def year(self) -> int:
        return self.policy.year

    @property
    def fixed_point_value(self) -> bool:
        """True when the unit value is known in advance (DRG rate method)."""
        return self.policy.method == "drg" and self.policy.payment_basis == "rate"

    def pool_params(self, fund_pool: str) -> Pool:
        if fund_pool not in self.pool:
            raise PolicyError(f"policy {self.name}: no fund_pool={fund_pool!r}; "
                              f"has {', '.join(self.pool)}")
        return self.pool[fund_pool]

    def provisional_point_value(self, fund_pool: str) -> Decimal:
        """Yuan per point used before clearing: base_rate / points_per_weight or pv_budget."""
        pool = self.pool_params(fund_pool)
        if self.fixed_point_value:
            assert pool.base_rate is not None
            return pool.base_rate / self.policy.points_per_weight
        assert pool.pv_budget is not None
        return pool.pv_budget

    def key(self) -> tuple[str, int, str]:
        return (self.policy.region, self.policy.year, self.policy.version)


def shipped_policies() -> list[str]:
    """Names of the policy files shipped in engine/policies/."""
    folder = resources.files("engine") / "policies"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def store_policy_dir(store: Path | None = None) -> Path:
    """The folder of policies kept next to a store (`policies/` beside the store file; the
    policy `drgdip demo` fits is written there), for `store` or the configured store."""
    if store is None:
        from engine.settings import get_settings

        store = get_settings().db
    return Path(store).resolve().parent / "policies"


def _locate(name_or_path: str | Path, store: Path | None = None) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise PolicyError(f"policy file {path}: no such file")
        return path
    candidate = Path(str(resources.files("engine") / "policies" / f"{name_or_path}.toml"))
    if candidate.is_file():
        return candidate
    beside = store_policy_dir(store) / f"{name_or_path}.toml"
    if beside.is_file():  # a shipped name always wins; a store's file cannot shadow it
        return beside
    raise PolicyError(f"unknown policy={str(name_or_path)!r}; shipped: "
                      f"{', '.join(shipped_policies())}, or a file in {beside.parent.name}/ "
                      f"next to the store (or give a path to a .toml file)")


def parse_policy(text: str, *, name: str = "policy", source: str = "<text>") -> Policy:
    """Validate policy TOML text; raises PolicyError with one line naming the bad field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from exc
    return validate_policy(raw, name=name, source=source,
                           checksum=hashlib.sha256(text.encode()).hexdigest()[:16])


def validate_policy(raw: dict[str, Any], *, name: str, source: str, checksum: str) -> Policy:
    """Validate a policy's parsed TOML (a file, or a file with overrides: engine.simulate);
    raises PolicyError with one line naming the bad field."""
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (value {value!r})"
        raise PolicyError(f"{source}: {where}: {err['msg']}{shown}") from exc
    return policy.model_copy(update={"name": name, "checksum": checksum})


def policy_source(name_or_path: str | Path, *, store: Path | None = None) -> tuple[Path, str]:
    """(path, TOML text) of a shipped policy name, a policy kept next to the store (`store`,
    else the configured one) or a policy file."""
    path = _locate(name_or_path, store)
    try:
        return path, path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {path}: unreadable: {exc}") from exc


def load_policy(name_or_path: str | Path, *, store: Path | None = None) -> Policy:
    """A shipped policy by name (`jiangmen_dip_2025`), one kept in `policies/` next to the store
    (`store`, else the configured store; e.g. `fuzhou_drg_2025-demo`, written by `drgdip demo`)
    or a TOML file by path, validated.

    >>> load_policy("foshan_drg_2025").method
    'drg'
    """
    path, text = policy_source(name_or_path, store=store)
    return parse_policy(text, name=path.stem, source=str(path))
