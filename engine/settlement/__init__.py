"""Settlement (payment-rules.md §2–4; docs/settlement.md): per-case payment, pre-settlement and
clearing, one module per idea.

Rules (pure, no I/O):
- `case_types`  the case-type ladder as one table (name, condition, needs history)
- `outliers`    points of normal, high/low outlier, incomplete and uplift cases
- `per_diem`    per-diem rate and amount
- `cost_coef`   the DRG hospital cost coefficient c_{h,g}
- `review`      special-review outcomes and the quota
- `readmission` readmissions merged into their first episode
- `presettle`   hospital × period sums and the prepayment
- `clear`       year-end clearing of a fund pool
- `calibration` budgets and provisional point values from last year

Evaluation:
- `backend`     the tiny arithmetic the rules are written in (half-up division, min/max, when,
                is_in), as polars expressions (`POLARS`) and as plain values with polars' null
                propagation (`VALUES`)
- `batch`       `settle_cases`: a frame of cases, the rules as polars expressions
- `compiled`    the same steps compiled once per (policy, weight table) into one plain Python
                function with `VALUES`' null rules, for one case
- `one_case`    `settle_one`: one case, the same rules over plain values (compiled)
- `estimate`    the per-case estimate (policy books, lookups) the HTTP router calls

Kinds of thing:
- `inputs`      the case, grouping, weight and hospital tables as the rules read them
- `money`       fen / ×10⁴ integers, half-up division, Decimal conversions
- `codes`       stable per-case settlement codes (S1xx) with bilingual messages
- store adapters: `store_tables` (migration 200), `store_parameters` (rates and budgets of the
  store), `review_quota` and `readmission_history` (the year's earlier runs)

Import the module you need (`from engine.settlement.batch import settle_cases`); this package
imports nothing on its own, so no module is loaded for its side effects.
"""
