"""Engine layer: ingestion, policies, settlement, clearing, supervision, reports, the CLI."""

__version__ = "0.1.0"  # the one copy: pyproject.toml reads it (dynamic version)
