"""Simulation tables (migration 400): what-if results live beside, never in, the settlement
tables. Every row carries its `sim_id`; re-running an id replaces it as a whole (one
transaction). `scenario` is the scenario's label (`s1`, `s2` …, `sweep-3`); the baseline is the
comparison point of every row and has no rows of its own. No patient identifier is stored.
"""

from __future__ import annotations

from weights.schema import Migration

M = "DECIMAL(18, 2)"
P = "DECIMAL(18, 4)"

SIM_TABLES = ("sim_case", "sim_hospital", "sim_group", "sim_cause", "sim_sweep", "sim_solution",
              "sim_runs")

SIMULATION_MIGRATION = Migration(400, "simulation: sim_runs, sim_case, sim_hospital, sim_group", (
    """CREATE TABLE sim_runs (
        sim_id VARCHAR PRIMARY KEY,
        status VARCHAR NOT NULL CHECK (status IN ('done')),
        created_at TIMESTAMP NOT NULL,
        input VARCHAR NOT NULL,
        input_checksum VARCHAR NOT NULL,
        n_cases BIGINT NOT NULL,
        baseline VARCHAR NOT NULL,
        scenarios VARCHAR NOT NULL,
        sweep VARCHAR,
        solve BOOLEAN NOT NULL,
        summary VARCHAR NOT NULL
    )""",
    f"""CREATE TABLE sim_case (
        sim_id VARCHAR NOT NULL,
        scenario VARCHAR NOT NULL,
        case_id VARCHAR NOT NULL,
        hospital_id VARCHAR,
        fund_pool VARCHAR,
        base_group_code VARCHAR,
        group_code VARCHAR,
        moved BOOLEAN NOT NULL,
        base_case_type VARCHAR NOT NULL,
        case_type VARCHAR NOT NULL,
        base_points {P},
        points {P},
        point_value {P},
        fixed_amount {M},
        base_payment_standard {M},
        payment_standard {M},
        base_fund_payable {M},
        fund_payable {M},
        change {M},
        total_cost {M},
        cause VARCHAR NOT NULL
    )""",
    f"""CREATE TABLE sim_hospital (
        sim_id VARCHAR NOT NULL,
        scenario VARCHAR NOT NULL,
        hospital_id VARCHAR NOT NULL,
        cases BIGINT NOT NULL,
        base_fund_payable {M},
        fund_payable {M},
        change {M},
        change_pct {P},
        payment_standard {M},
        total_cost {M},
        surplus {M},
        payment_cost_ratio {P},
        cmi {P}
    )""",
    f"""CREATE TABLE sim_group (
        sim_id VARCHAR NOT NULL,
        scenario VARCHAR NOT NULL,
        group_code VARCHAR,
        cases BIGINT NOT NULL,
        points {P},
        payment_standard {M},
        total_cost {M},
        moved_in BIGINT NOT NULL,
        payment_cost_ratio {P}
    )""",
    f"""CREATE TABLE sim_cause (
        sim_id VARCHAR NOT NULL,
        scenario VARCHAR NOT NULL,
        cause VARCHAR NOT NULL,
        cases BIGINT NOT NULL,
        change {M} NOT NULL
    )""",
    f"""CREATE TABLE sim_sweep (
        sim_id VARCHAR NOT NULL,
        scenario VARCHAR NOT NULL,
        point INTEGER NOT NULL,
        params VARCHAR NOT NULL,
        fund_payable {M},
        change {M},
        change_pct {P},
        hospitals_gaining INTEGER NOT NULL,
        hospitals_losing INTEGER NOT NULL,
        outlier_share {P}
    )""",
    f"""CREATE TABLE sim_solution (
        sim_id VARCHAR NOT NULL,
        scenario VARCHAR NOT NULL,
        fund_pool VARCHAR NOT NULL,
        variable VARCHAR NOT NULL,
        budget {M} NOT NULL,
        value {P} NOT NULL,
        fund_payable {M} NOT NULL,
        gap {M} NOT NULL,
        step_payable {M} NOT NULL,
        evaluations INTEGER NOT NULL
    )""",
    """CREATE VIEW v_sim_scenarios AS
       SELECT r.sim_id, r.created_at, h.scenario, count(*) AS hospitals, sum(h.cases) AS cases,
              sum(h.base_fund_payable) AS base_fund_payable, sum(h.fund_payable) AS fund_payable,
              sum(h.change) AS change,
              count(*) FILTER (WHERE h.change_pct > 0.05) AS hospitals_gaining,
              count(*) FILTER (WHERE h.change_pct < -0.05) AS hospitals_losing
       FROM sim_hospital h JOIN sim_runs r ON r.sim_id = h.sim_id
       GROUP BY r.sim_id, r.created_at, h.scenario""",
))
