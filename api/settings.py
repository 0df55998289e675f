"""Service settings (pydantic-settings, env prefix `DRGDIP_`), passed to `create_app`."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from api.jobs import JobLimits


class ApiSettings(BaseSettings):
    """`DRGDIP_DB` is the store; jobs keep their uploaded and result files beside it."""

    model_config = SettingsConfigDict(env_prefix="DRGDIP_")

    db: Path = Path("drgdip.duckdb")
    jobs_dir: Path | None = None  # default: <db>.jobs/
    # a request without `ruleset`: auto = the ruleset in force on the case's discharge_date
    # (a case without one is refused with 422 naming body.case.discharge_date; a batch row
    # without one is held with E108); a ruleset name pins every such request to it
    default_ruleset: str = "auto"
    rulesets: tuple[str, ...] = ()  # empty: every available ruleset
    # DIP catalogues from official files, name -> path (besides the store's published versions)
    dip_catalog_files: dict[str, Path] = {}
    max_body_bytes: int = 256 * 1024  # JSON bodies of the per-case endpoints
    max_upload_bytes: int = 512 * 1024 * 1024  # batch uploads
    key_refresh_seconds: float = 5.0  # an unknown key id reloads the keys at most this often
    key_reload_seconds: float = 30.0  # keys are reloaded this often (revocations take effect)
    store_retry_seconds: float = 10.0  # wait this long for a store lock held by another process
    # reads are served from a read-only copy of the store, refreshed when the store changed
    replica_dir: Path | None = None  # default: <db>.replica/
    replica_refresh_seconds: float = 2.0
    read_cache_mb: int = 64  # answers kept per replica (api.store_access.ReadCache; 0: none)
    run_jobs: bool = True  # start the batch job workers
    # batch jobs (docs/operations.md): worker processes, and what one job may use
    job_workers: int = 2  # worker processes, each running one job at a time
    job_time_limit_seconds: float = 3600.0  # a job running longer is stopped and failed
    job_max_rows: int = 5_000_000  # a file with more rows fails (0: no limit)
    job_max_attempts: int = 2  # starts of a job interrupted by a service stop, then failed
    job_memory_mb: int = 0  # address-space limit of a worker process (0: none)
    upload_retention_seconds: float = 0.0  # uploads deleted this long after the job ends (<0 keep)

    def job_limits(self) -> JobLimits:
        return JobLimits(workers=self.job_workers, time_limit_seconds=self.job_time_limit_seconds,
                         max_rows=self.job_max_rows, max_attempts=self.job_max_attempts,
                         memory_mb=self.job_memory_mb,
                         upload_retention_seconds=self.upload_retention_seconds)

    def job_root(self) -> Path:
        return self.jobs_dir or self.db.with_name(self.db.name + ".jobs")
