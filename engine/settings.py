"""Runtime settings (pydantic-settings), read through a cached getter and passed in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment variables are prefixed `DRGDIP_` (e.g. `DRGDIP_DB`)."""

    model_config = SettingsConfigDict(env_prefix="DRGDIP_")

    db: Path = Path("drgdip.duckdb")
    default_ruleset: str = "chs_drg_11"
    # `drgdip sql` sandbox (engine.sql_sandbox): rows fetched at most, seconds, DuckDB memory
    sql_max_rows: int = 100_000
    sql_timeout_seconds: float = 30.0
    sql_memory_limit: str = "1GB"
    # patient ids are pseudonymised at ingest with this key (engine.pseudonym, docs/privacy.md):
    # a file holding the secret (preferred), or the secret itself; never stored in the store
    patient_key_file: Path | None = None
    patient_key: SecretStr | None = None


@lru_cache
def get_settings() -> Settings:
    return Settings()
