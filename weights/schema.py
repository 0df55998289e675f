"""The store schema, defined once: numbered DDL migrations in portable SQL.

Only types and statements that DuckDB and PostgreSQL both accept are used (VARCHAR, INTEGER,
BIGINT, DECIMAL, DOUBLE PRECISION, BOOLEAN, DATE, TIMESTAMP, CHECK, PRIMARY KEY, sequences,
views), so the same list can create the tables in a shared PostgreSQL database later.

Other areas add their tables here: append a `Migration` with the next free number to
`MIGRATIONS` (a small edit), or call `register_migration()` from a module that is imported
before `open_store()`. Applied migrations are recorded in `schema_migrations` and never re-run;
never edit an applied migration, add a new one (ALTER TABLE …) instead.

Number ranges by owner, to avoid collisions: 1–99 weights (issue 4), 100–199 DIP (issue 5),
200–299 settlement and clearing (issue 6), 300+ others.
"""

from __future__ import annotations

from dataclasses import dataclass

from weights.errors import StoreError


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    statements: tuple[str, ...]


BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    number INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL
)"""

_WEIGHTS_CORE = (
    "CREATE SEQUENCE weight_version_id START 1",
    """CREATE TABLE weight_versions (
        version VARCHAR PRIMARY KEY,
        id INTEGER NOT NULL UNIQUE DEFAULT nextval('weight_version_id'),
        kind VARCHAR NOT NULL CHECK (kind IN ('drg', 'dip')),
        ruleset VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        year INTEGER NOT NULL,
        source VARCHAR NOT NULL,
        params VARCHAR,
        n_rows INTEGER NOT NULL,
        checksum VARCHAR NOT NULL,
        status VARCHAR NOT NULL CHECK (status IN ('draft', 'published', 'retired')),
        created_at TIMESTAMP NOT NULL,
        created_by VARCHAR NOT NULL,
        published_at TIMESTAMP,
        published_by VARCHAR,
        retired_at TIMESTAMP
    )""",
    """CREATE TABLE drg_weights (
        version VARCHAR NOT NULL,
        drg VARCHAR NOT NULL,
        adrg VARCHAR,
        mdc VARCHAR,
        drg_name VARCHAR,
        rw DECIMAL(12, 4) NOT NULL,
        rw_base DECIMAL(12, 4),
        adj DECIMAL(12, 4),
        base_points DECIMAL(14, 4),
        mean_cost DECIMAL(18, 2),
        mean_los DOUBLE PRECISION,
        n_cases BIGINT,
        n_kept BIGINT,
        cv DOUBLE PRECISION,
        stable BOOLEAN,
        rw_source VARCHAR,
        PRIMARY KEY (version, drg)
    )""",
    """CREATE TABLE dip_catalog (
        version VARCHAR NOT NULL,
        dip_code VARCHAR NOT NULL,
        dip_type VARCHAR NOT NULL,
        principal_dx VARCHAR,
        procedures VARCHAR,
        treatment_class VARCHAR,
        name VARCHAR,
        score DECIMAL(14, 4) NOT NULL,
        mean_cost DECIMAL(18, 2),
        n_cases BIGINT,
        cv DOUBLE PRECISION,
        ref_code VARCHAR,
        PRIMARY KEY (version, dip_code)
    )""",
)

_HOSPITALS = (
    """CREATE TABLE hospital_master (
        hospital_id VARCHAR PRIMARY KEY,
        name VARCHAR,
        level VARCHAR,
        type VARCHAR,
        region VARCHAR,
        updated_at TIMESTAMP NOT NULL,
        updated_by VARCHAR NOT NULL
    )""",
    # Half-open validity [effective_from, effective_to); effective_to NULL = open-ended.
    """CREATE TABLE hospital_coefficients (
        hospital_id VARCHAR NOT NULL,
        coefficient DECIMAL(8, 4) NOT NULL CHECK (coefficient > 0),
        effective_from DATE NOT NULL,
        effective_to DATE,
        reason VARCHAR NOT NULL,
        set_at TIMESTAMP NOT NULL,
        set_by VARCHAR NOT NULL,
        PRIMARY KEY (hospital_id, effective_from)
    )""",
    # Analysts' view (contracts §5): every hospital with the coefficient in force today.
    """CREATE VIEW hospitals AS
       SELECT m.hospital_id, m.name, m.level, m.type, m.region, c.coefficient,
              c.effective_from, c.effective_to, c.reason
       FROM hospital_master m
       LEFT JOIN hospital_coefficients c
         ON c.hospital_id = m.hospital_id
        AND c.effective_from <= CURRENT_DATE
        AND (c.effective_to IS NULL OR c.effective_to > CURRENT_DATE)""",
)

_FUNDING = (
    # Base rates (费率, DRG) and point values (点值, DIP/DRG points) per region, pool and period.
    """CREATE TABLE rates (
        region VARCHAR NOT NULL,
        fund_pool VARCHAR NOT NULL CHECK (fund_pool IN ('employee', 'resident')),
        year INTEGER NOT NULL,
        period VARCHAR NOT NULL,
        scheme VARCHAR NOT NULL CHECK (scheme IN ('drg', 'dip')),
        kind VARCHAR NOT NULL CHECK (kind IN ('base_rate', 'point_value', 'pv_budget',
                                              'pv_settle')),
        level VARCHAR NOT NULL,
        value DECIMAL(18, 4) NOT NULL CHECK (value > 0),
        source VARCHAR,
        set_at TIMESTAMP NOT NULL,
        set_by VARCHAR NOT NULL,
        PRIMARY KEY (region, fund_pool, year, period, scheme, kind, level)
    )""",
    """CREATE TABLE fund_budgets (
        region VARCHAR NOT NULL,
        fund_pool VARCHAR NOT NULL CHECK (fund_pool IN ('employee', 'resident')),
        year INTEGER NOT NULL,
        period VARCHAR NOT NULL,
        scheme VARCHAR NOT NULL CHECK (scheme IN ('drg', 'dip')),
        amount DECIMAL(18, 2) NOT NULL CHECK (amount >= 0),
        risk_reserve_rate DECIMAL(6, 4),
        note VARCHAR,
        set_at TIMESTAMP NOT NULL,
        set_by VARCHAR NOT NULL,
        PRIMARY KEY (region, fund_pool, year, period, scheme)
    )""",
)

_AUDIT = (
    "CREATE SEQUENCE audit_log_id START 1",
    """CREATE TABLE audit_log (
        id BIGINT PRIMARY KEY DEFAULT nextval('audit_log_id'),
        changed_at TIMESTAMP NOT NULL,
        who VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        entity VARCHAR NOT NULL,
        entity_key VARCHAR NOT NULL,
        why VARCHAR NOT NULL,
        detail VARCHAR
    )""",
)

# Supervision indicators and flags (issue 8, engine.supervision; docs/supervision.md).
_SUPERVISION = (
    """CREATE TABLE indicators (
        run_id VARCHAR NOT NULL,
        scope VARCHAR NOT NULL,
        period_kind VARCHAR NOT NULL,
        period VARCHAR NOT NULL,
        hospital_id VARCHAR,
        dept VARCHAR,
        hospital_level VARCHAR,
        n_cases BIGINT,
        n_grouped BIGINT,
        grouping_rate DOUBLE PRECISION,
        qy_rate DOUBLE PRECISION,
        ungroupable_rate DOUBLE PRECISION,
        invalid_rate DOUBLE PRECISION,
        n_groups BIGINT,
        total_weight DOUBLE PRECISION,
        cmi DOUBLE PRECISION,
        cost_index DOUBLE PRECISION,
        time_index DOUBLE PRECISION,
        mean_cost DOUBLE PRECISION,
        mean_los DOUBLE PRECISION,
        deaths BIGINT,
        mortality DOUBLE PRECISION,
        low_risk_cases BIGINT,
        low_risk_deaths BIGINT,
        low_risk_mortality DOUBLE PRECISION,
        medium_low_risk_cases BIGINT,
        medium_low_risk_deaths BIGINT,
        medium_low_risk_mortality DOUBLE PRECISION,
        n_high_outlier BIGINT,
        high_outlier_rate DOUBLE PRECISION,
        n_low_outlier BIGINT,
        low_outlier_rate DOUBLE PRECISION,
        n_split_cases BIGINT,
        mcc_cc_share DOUBLE PRECISION,
        severe_observed DOUBLE PRECISION,
        severe_expected DOUBLE PRECISION,
        upcoding_oe DOUBLE PRECISION,
        n_split_admission BIGINT,
        split_admission_rate DOUBLE PRECISION,
        n_low_standard BIGINT,
        low_standard_rate DOUBLE PRECISION,
        self_pay_share DOUBLE PRECISION,
        patient_share DOUBLE PRECISION,
        computed_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE supervision_flags (
        run_id VARCHAR NOT NULL,
        flag_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        level VARCHAR NOT NULL CHECK (level IN ('case', 'hospital')),
        hospital_id VARCHAR,
        dept VARCHAR,
        period VARCHAR NOT NULL,
        case_id VARCHAR,
        score DOUBLE PRECISION NOT NULL,
        value DOUBLE PRECISION,
        threshold DOUBLE PRECISION,
        peer_value DOUBLE PRECISION,
        n_evidence BIGINT NOT NULL,
        evidence_case_ids VARCHAR[] NOT NULL,
        detail VARCHAR,
        message VARCHAR NOT NULL,
        computed_at TIMESTAMP NOT NULL,
        PRIMARY KEY (run_id, flag_id)
    )""",
)

_DIP_AUX = (
    """CREATE TABLE dip_aux (
        version VARCHAR NOT NULL,
        dip_code VARCHAR NOT NULL,
        dimension VARCHAR NOT NULL CHECK (dimension IN ('tumour', 'severity', 'cci', 'age')),
        level VARCHAR NOT NULL,
        coef DECIMAL(10, 4) NOT NULL CHECK (coef > 0),
        n_cases BIGINT,
        PRIMARY KEY (version, dip_code, dimension, level)
    )""",
)

_SERVICE = (  # the HTTP service (issue 7): API keys (salted hashes) and batch jobs
    """CREATE TABLE api_keys (
        key_id VARCHAR PRIMARY KEY,
        salt VARCHAR NOT NULL,
        secret_hash VARCHAR NOT NULL,
        role VARCHAR NOT NULL CHECK (role IN ('hospital', 'analyst', 'admin')),
        hospital_id VARCHAR,
        label VARCHAR,
        created_at TIMESTAMP NOT NULL,
        revoked_at TIMESTAMP
    )""",
    """CREATE TABLE jobs (
        job_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL CHECK (kind IN ('drg', 'dip')),
        params VARCHAR NOT NULL,
        state VARCHAR NOT NULL CHECK (state IN ('accepted', 'running', 'done', 'failed')),
        key_id VARCHAR NOT NULL,
        hospital_id VARCHAR,
        filename VARCHAR NOT NULL,
        input_path VARCHAR NOT NULL,
        result_path VARCHAR,
        rows_total BIGINT,
        rows_done BIGINT NOT NULL DEFAULT 0,
        counts VARCHAR,
        error VARCHAR,
        created_at TIMESTAMP NOT NULL,
        started_at TIMESTAMP,
        finished_at TIMESTAMP
    )""",
)

# Same-level mean cost of each DRG (payment-rules §3.3: r = cost / the group's mean cost among
# hospitals of the case's level), built with the weights when the history's hospitals have a
# level; owned by the weight version like drg_weights (weights.versions.VERSIONED_TABLES).
_DRG_LEVEL_COSTS = (
    """CREATE TABLE drg_level_costs (
        version VARCHAR NOT NULL,
        drg VARCHAR NOT NULL,
        level VARCHAR NOT NULL CHECK (level IN ('3', '2', '1', 'community')),
        mean_cost DECIMAL(18, 2) NOT NULL,
        n_cases BIGINT NOT NULL,
        n_kept BIGINT NOT NULL,
        PRIMARY KEY (version, drg, level)
    )""",
)

# Mean cost of each DRG per hospital (payment-rules §2.3, the DRG point method's hospital cost
# coefficient c_{h,g} = hospital mean / city mean cost in g), built with the weights when the
# history has hospital ids; owned by the weight version like drg_weights.
_DRG_HOSPITAL_COSTS = (
    """CREATE TABLE drg_hospital_costs (
        version VARCHAR NOT NULL,
        drg VARCHAR NOT NULL,
        hospital_id VARCHAR NOT NULL,
        mean_cost DECIMAL(18, 2) NOT NULL,
        n_cases BIGINT NOT NULL,
        n_kept BIGINT NOT NULL,
        PRIMARY KEY (version, drg, hospital_id)
    )""",
)

# Same-level mean cost of each DIP group (payment-rules §3.3, as drg_level_costs), built with the
# catalogue when the history's hospitals have a level; owned by the dip version like dip_catalog.
_DIP_LEVEL_COSTS = (
    """CREATE TABLE dip_level_costs (
        version VARCHAR NOT NULL,
        dip_code VARCHAR NOT NULL,
        level VARCHAR NOT NULL CHECK (level IN ('3', '2', '1', 'community')),
        mean_cost DECIMAL(18, 2) NOT NULL,
        n_cases BIGINT NOT NULL,
        n_kept BIGINT NOT NULL,
        PRIMARY KEY (version, dip_code, level)
    )""",
)

# Average length of stay of a DIP group, as official catalogues publish it (issue 16); left out of
# a version's checksum while all null (weights.versions), so older versions keep theirs.
_DIP_AVG_LOS = ("ALTER TABLE dip_catalog ADD COLUMN avg_los DOUBLE PRECISION",)

MIGRATIONS: list[Migration] = [
    Migration(1, "weight versions, drg_weights, dip_catalog", _WEIGHTS_CORE),
    Migration(2, "hospitals and institution coefficients", _HOSPITALS),
    Migration(3, "rates, point values and fund budgets", _FUNDING),
    Migration(4, "audit log", _AUDIT),
    Migration(5, "drg_level_costs: same-level mean cost per DRG", _DRG_LEVEL_COSTS),
    Migration(6, "drg_hospital_costs: mean cost per DRG and hospital", _DRG_HOSPITAL_COSTS),
    Migration(100, "dip_aux: DIP auxiliary-catalogue coefficients", _DIP_AUX),
    Migration(101, "dip_level_costs: same-level mean cost per DIP group", _DIP_LEVEL_COSTS),
    Migration(102, "dip_catalog.avg_los: published average length of stay", _DIP_AVG_LOS),
    Migration(300, "service: api keys and batch jobs", _SERVICE),
    Migration(310, "supervision indicators and flags", _SUPERVISION),
]


def register_migration(migration: Migration) -> None:
    """Add a migration at run time (idempotent for the same migration; a clash is an error)."""
    for known in MIGRATIONS:
        if known.number == migration.number:
            if known == migration:
                return
            raise StoreError(f"migration number {migration.number} ({migration.name!r}) is "
                             f"already taken by {known.name!r}")
    MIGRATIONS.append(migration)


def pending(applied: set[int]) -> list[Migration]:
    """The migrations not yet applied, in number order."""
    return sorted((m for m in MIGRATIONS if m.number not in applied), key=lambda m: m.number)
