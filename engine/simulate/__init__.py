"""What-if simulation (测算): the same cases settled under a baseline and scenarios.

- `scenario` — `POLICY[@WEIGHTS]` specs, `--set section.key=value` overrides validated as a
  policy file, `--sweep` points.
- `compare` — baseline against scenario per case, hospital and group; the change by cause.
- `solve` — budget-neutral base rate / point value.
- `run` — the run: settle, compare, store in the sim tables.
- `tables` — the sim tables and view (migration 400).
- `output` — CSV/xlsx with Chinese headers and the offline HTML report.
"""
