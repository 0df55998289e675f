"""Settlement tables of the store (contracts §5), as migration 200 of the single schema.

Importing this module registers the migration with `weights.schema`; `engine.pipeline` imports
it before opening the store. Money columns are DECIMAL(18, 2) yuan, points DECIMAL(18, 4).
Every result row carries its `run_id`: a run is replaced as a whole (delete + insert in one
transaction), so a re-run never duplicates rows and a crash never leaves part of one.
"""

from __future__ import annotations

from weights.schema import Migration, register_migration

M = "DECIMAL(18, 2)"
P = "DECIMAL(18, 4)"

SETTLEMENT_MIGRATION = Migration(200, "settlement: runs, case, period and clearing results", (
    """CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL CHECK (kind IN ('settle', 'clear')),
        status VARCHAR NOT NULL CHECK (status IN ('done')),
        policy VARCHAR NOT NULL,
        policy_version VARCHAR NOT NULL,
        policy_checksum VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        year INTEGER NOT NULL,
        period VARCHAR NOT NULL,
        input VARCHAR,
        weights_version VARCHAR,
        n_cases BIGINT NOT NULL,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP NOT NULL,
        summary VARCHAR
    )""",
    f"""CREATE TABLE case_results (
        run_id VARCHAR NOT NULL,
        period VARCHAR NOT NULL,
        case_id VARCHAR NOT NULL,
        hospital_id VARCHAR,
        fund_pool VARCHAR,
        method VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        group_code VARCHAR,
        group_name VARCHAR,
        group_type VARCHAR,
        weight {P},
        institution_coef {P},
        avg_cost {M},
        cost_ratio {P},
        case_type VARCHAR NOT NULL,
        review_outcome VARCHAR,
        review_over_quota BOOLEAN NOT NULL,
        review_recommended BOOLEAN NOT NULL,
        patient_over_standard BOOLEAN NOT NULL,
        points {P} NOT NULL,
        point_value {P},
        fixed_amount {M} NOT NULL,
        payment_standard {M} NOT NULL,
        total_cost {M},
        fund_paid {M},
        other_fund_paid {M},
        patient_paid {M},
        fund_payable {M} NOT NULL,
        deduction {M} NOT NULL,
        los INTEGER,
        discharge_date DATE,
        error_code VARCHAR,
        error_message VARCHAR
    )""",
    f"""CREATE TABLE hospital_period_results (
        run_id VARCHAR NOT NULL,
        period VARCHAR NOT NULL,
        fund_pool VARCHAR NOT NULL,
        hospital_id VARCHAR NOT NULL,
        cases BIGINT NOT NULL,
        cases_invalid BIGINT NOT NULL,
        high_outliers BIGINT NOT NULL,
        low_outliers BIGINT NOT NULL,
        points {P} NOT NULL,
        fixed_amount {M} NOT NULL,
        payment_standard {M} NOT NULL,
        total_cost {M} NOT NULL,
        ffs_fund_amount {M} NOT NULL,
        liability {M} NOT NULL,
        fund_payable {M} NOT NULL,
        deduction {M} NOT NULL,
        point_value {P},
        prepay_method VARCHAR NOT NULL,
        prepayment {M} NOT NULL,
        PRIMARY KEY (run_id, fund_pool, hospital_id)
    )""",
    f"""CREATE TABLE clearing_results (
        run_id VARCHAR NOT NULL,
        year INTEGER NOT NULL,
        fund_pool VARCHAR NOT NULL,
        hospital_id VARCHAR NOT NULL,
        points {P} NOT NULL,
        point_value DECIMAL(38, 4) NOT NULL,
        value {M} NOT NULL,
        liability {M} NOT NULL,
        payable {M} NOT NULL,
        ffs_fund_amount {M} NOT NULL,
        ratio DECIMAL(38, 4),
        outcome VARCHAR NOT NULL,
        surplus {M} NOT NULL,
        overspend {M} NOT NULL,
        surplus_retained {M} NOT NULL,
        surplus_not_retained {M} NOT NULL,
        overspend_shared {M} NOT NULL,
        violation_deduction {M} NOT NULL,
        pay_before_assessment {M} NOT NULL,
        assessment_coef {P} NOT NULL,
        assessment_deduction {M} NOT NULL,
        reserve_redistributed {M} NOT NULL,
        final_payment {M} NOT NULL,
        prepaid {M} NOT NULL,
        turnover {M} NOT NULL,
        turnover_recovered {M} NOT NULL,
        net_clearing {M} NOT NULL,
        reserve_withheld {M} NOT NULL,
        PRIMARY KEY (run_id, fund_pool, hospital_id)
    )""",
    f"""CREATE TABLE clearing_pools (
        run_id VARCHAR NOT NULL,
        year INTEGER NOT NULL,
        fund_pool VARCHAR NOT NULL,
        budget {M} NOT NULL,
        risk_reserve {M} NOT NULL,
        special_review_pool {M} NOT NULL,
        available {M} NOT NULL,
        point_value DECIMAL(38, 4) NOT NULL,
        points {P} NOT NULL,
        payable_total {M} NOT NULL,
        pool_residual {M} NOT NULL,
        ffs_total {M} NOT NULL,
        overspend_shared {M} NOT NULL,
        assessment_deductions {M} NOT NULL,
        violation_deductions {M} NOT NULL,
        surplus_not_retained {M} NOT NULL,
        reserve_redistributed {M} NOT NULL,
        reserve_left {M} NOT NULL,
        final_total {M} NOT NULL,
        prepaid_total {M} NOT NULL,
        net_total {M} NOT NULL,
        PRIMARY KEY (run_id, fund_pool)
    )""",
))

register_migration(SETTLEMENT_MIGRATION)

# The case's patient and admission date (the readmission merge looks up the first episode in
# the year's earlier runs, engine.settlement.readmission_history) and the DRG hospital cost coefficient
# applied (engine.settlement.cost_coef; null when the policy does not use it). Runs stored before
# this migration have them null.
CASE_EPISODE_MIGRATION = Migration(202, "case_results: patient_id, admit_date, cost_coef", (
    "ALTER TABLE case_results ADD COLUMN patient_id VARCHAR",
    "ALTER TABLE case_results ADD COLUMN admit_date DATE",
    f"ALTER TABLE case_results ADD COLUMN cost_coef {P}",
))

register_migration(CASE_EPISODE_MIGRATION)

# The settle runs a year is made of: per period, the latest done settle run of the policy and
# year (a re-run of a period under another run id supersedes the earlier one). Parameters:
# policy, year; `{exclude}` is either empty or an extra AND condition with its own parameters.
LATEST_SETTLE_RUNS = """
    SELECT run_id FROM (
        SELECT run_id, row_number() OVER (PARTITION BY period
                                          ORDER BY finished_at DESC, run_id DESC) AS k
        FROM runs WHERE kind = 'settle' AND status = 'done' AND policy = ? AND year = ?{exclude})
    WHERE k = 1"""
