"""Analyst views over the settlement tables (migration 201), documented in docs/settlement.md.

- `v_case_settlement`: one row per settled case with its run's policy, region and year.
- `v_hospital_period_summary`: per run × fund pool × hospital: cases, points, payable versus the
  FFS fund amount, prepayment, outlier shares.
- `v_group_statistics`: per run × group: cases, weight, mean cost and LOS, outlier shares.
- `v_hospital_indices`: per run × hospital (grouped, paid cases): groups covered, total weight,
  CMI (DRG: Σ RW / n; DIP: Σ score / (n × region mean score)), cost index and time index
  (Σ_g n_hg × hospital mean / region mean in g, over Σ_g n_hg; region = all hospitals of the run).
"""

from __future__ import annotations

import engine.settlement.store_tables  # noqa: F401  (migration 200 must precede the views)
from engine.simulate.tables import SIMULATION_MIGRATION
from weights.schema import Migration, register_migration

PAID = "status = 'ok' AND case_type NOT IN ('invalid', 'violation') AND weight IS NOT NULL"

VIEWS = Migration(201, "settlement analyst views", (
    """CREATE VIEW v_case_settlement AS
       SELECT r.policy, r.region, r.year, c.*
       FROM case_results c JOIN runs r ON r.run_id = c.run_id""",
    """CREATE VIEW v_hospital_period_summary AS
       SELECT r.policy, r.region, r.year, h.run_id, h.period, h.fund_pool, h.hospital_id,
              h.cases, h.cases_invalid, h.points, h.payment_standard, h.total_cost,
              h.ffs_fund_amount, h.liability, h.fund_payable,
              h.fund_payable - h.ffs_fund_amount AS payable_minus_ffs,
              CAST(h.ffs_fund_amount AS DOUBLE) / nullif(CAST(h.fund_payable AS DOUBLE), 0)
                  AS ffs_to_payable_ratio,
              h.prepayment, h.deduction,
              CAST(h.high_outliers AS DOUBLE) / nullif(h.cases, 0) AS high_outlier_share,
              CAST(h.low_outliers AS DOUBLE) / nullif(h.cases, 0) AS low_outlier_share
       FROM hospital_period_results h JOIN runs r ON r.run_id = h.run_id""",
    f"""CREATE VIEW v_group_statistics AS
       SELECT run_id, period, method, group_code, min(group_name) AS group_name,
              min(group_type) AS group_type, count(*) AS cases,
              count(DISTINCT hospital_id) AS hospitals,
              avg(CAST(weight AS DOUBLE)) AS mean_weight,
              avg(CAST(total_cost AS DOUBLE)) AS mean_cost, avg(los) AS mean_los,
              sum(fund_payable) AS fund_payable, sum(points) AS points,
              avg(CASE WHEN case_type = 'high_outlier' THEN 1.0 ELSE 0.0 END) AS high_share,
              avg(CASE WHEN case_type = 'low_outlier' THEN 1.0 ELSE 0.0 END) AS low_share
       FROM case_results WHERE {PAID}
       GROUP BY run_id, period, method, group_code""",
    f"""CREATE VIEW v_hospital_indices AS
       WITH paid AS (
           SELECT run_id, period, method, hospital_id, group_code, CAST(weight AS DOUBLE) AS w,
                  CAST(total_cost AS DOUBLE) AS cost, CAST(los AS DOUBLE) AS los
           FROM case_results WHERE {PAID}),
       region_group AS (
           SELECT run_id, group_code, avg(cost) AS region_cost, avg(los) AS region_los
           FROM paid GROUP BY run_id, group_code),
       region AS (SELECT run_id, avg(w) AS region_weight FROM paid GROUP BY run_id),
       hosp_group AS (
           SELECT run_id, hospital_id, group_code, count(*) AS n, avg(cost) AS cost,
                  avg(los) AS los
           FROM paid GROUP BY run_id, hospital_id, group_code),
       idx AS (
           SELECT h.run_id, h.hospital_id,
                  sum(h.n * h.cost / nullif(g.region_cost, 0)) / sum(h.n) AS cost_index,
                  sum(h.n * h.los / nullif(g.region_los, 0)) / sum(h.n) AS time_index
           FROM hosp_group h JOIN region_group g
             ON g.run_id = h.run_id AND g.group_code = h.group_code
           GROUP BY h.run_id, h.hospital_id)
       SELECT p.run_id, min(p.period) AS period, p.hospital_id, count(*) AS cases,
              count(DISTINCT p.group_code) AS groups_covered, sum(p.w) AS total_weight,
              CASE WHEN min(p.method) = 'dip' THEN avg(p.w) / min(r.region_weight)
                   ELSE avg(p.w) END AS cmi,
              min(i.cost_index) AS cost_index, min(i.time_index) AS time_index
       FROM paid p JOIN region r ON r.run_id = p.run_id
       JOIN idx i ON i.run_id = p.run_id AND i.hospital_id = p.hospital_id
       GROUP BY p.run_id, p.hospital_id""",
))

register_migration(VIEWS)
register_migration(SIMULATION_MIGRATION)
