"""Engine layer: ingestion, policies, settlement, clearing, supervision, reports, the CLI."""
