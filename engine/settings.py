"""Runtime settings (pydantic-settings), read through a cached getter and passed in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment variables are prefixed `DRGDIP_` (e.g. `DRGDIP_DB`)."""

    model_config = SettingsConfigDict(env_prefix="DRGDIP_")

    db: Path = Path("drgdip.duckdb")
    default_ruleset: str = "chs_drg_11"


@lru_cache
def get_settings() -> Settings:
    return Settings()
