"""`drgdip keys create|list|revoke`: API keys of the HTTP service (stored hashed);
`drgdip keys patient-key`: the patient id pseudonymisation key (engine.pseudonym)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
import duckdb

from engine.commands.db_option import DB_OPTION
from grouper.errors import DrgDipError


@contextmanager
def _store(db: Path | None, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """An existing store (api_keys is migration 300 of weights.schema), waiting at least 10 s
    for a lock held by a running service (it opens the store briefly to record jobs and to copy
    its read replica)."""
    import api.jobs  # noqa: F401  (the service's migrations, so a read-only open sees them)
    from engine.settings import get_settings
    from weights.store import OPTIONS, open_store

    con = open_store(db or get_settings().db, read_only=read_only, create=False,
                     wait=max(10.0, OPTIONS.wait))
    try:
        yield con
    finally:
        con.close()


@click.group("keys")
def keys_command() -> None:
    """API keys for `drgdip serve` (header X-API-Key)."""


@keys_command.command("create")
@click.option("--role", required=True, type=click.Choice(["hospital", "analyst", "admin"]))
@click.option("--hospital", "hospital_id", default=None, help="hospital ID (role hospital)")
@click.option("--label", default=None, help="who or what the key is for")
@DB_OPTION
def keys_create(role: str, hospital_id: str | None, label: str | None, db: Path | None) -> None:
    """Create a key and print it (shown only this once; the store keeps a salted hash)."""
    from api.auth import create_key
    from weights.audit import record

    with _store(db) as con:
        key = create_key(con, role, hospital_id, label)
        record(con, who="", action="create", entity="api_keys", entity_key=key.split("_")[1],
               why=label or "drgdip keys create", detail={"role": role, "hospital": hospital_id})
    click.echo(key)


@keys_command.command("list")
@DB_OPTION
def keys_list(db: Path | None) -> None:
    """List keys (ids, roles, hospitals; never secrets)."""
    with _store(db, read_only=True) as con:
        rows = con.execute("SELECT key_id, role, hospital_id, label, created_at, revoked_at "
                           "FROM api_keys ORDER BY created_at").fetchall()
    for key_id, role, hosp, label, created, revoked in rows:
        state = f"revoked {revoked:%Y-%m-%d}" if revoked else "active"
        click.echo(f"{key_id}\t{role}\t{hosp or '-'}\t{label or '-'}\t{created:%Y-%m-%d}\t{state}")


@keys_command.command("revoke")
@click.argument("key_id")
@DB_OPTION
def keys_revoke(key_id: str, db: Path | None) -> None:
    """Revoke a key by its id (the part after `ddk_`)."""
    from weights.audit import record

    with _store(db) as con:
        n = con.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS "
                        "NULL RETURNING key_id", [datetime.now(), key_id]).fetchall()
        if n:
            record(con, who="", action="revoke", entity="api_keys", entity_key=key_id,
                   why="drgdip keys revoke")
    if not n:
        raise DrgDipError(f"no active key {key_id!r}")
    click.echo(f"revoked {key_id}")


@keys_command.command("patient-key")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path),
              help="file to create (owner read/write only); never inside the store")
def keys_patient_key(out_path: Path) -> None:
    """Create the key that pseudonymises patient ids (患者编号假名化密钥; docs/privacy.md) and
    print its key id; use it with DRGDIP_PATIENT_KEY_FILE=FILE."""
    from engine.pseudonym import load_key_file, write_key_file

    key = load_key_file(write_key_file(out_path))
    click.echo(f"{out_path}: key id {key.key_id}; set DRGDIP_PATIENT_KEY_FILE={out_path}")


@keys_command.command("pseudonymise-store")
@DB_OPTION
def keys_pseudonymise_store(db: Path | None) -> None:
    """Replace the clear patient ids that runs settled before pseudonymisation left in the
    store by their pseudonyms under the configured key (历史明文患者编号假名化)."""
    import polars as pl

    from engine.pseudonym import NO_KEY, PSEUDONYM_PATTERN, configured_key
    from grouper.errors import RefusedError
    from weights.audit import record
    from weights.store import transaction

    key = configured_key()
    if key is None:
        raise RefusedError(NO_KEY)
    with _store(db) as con:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        clear = [] if "case_results" not in tables else [r[0] for r in con.execute(
            "SELECT DISTINCT patient_id FROM case_results WHERE patient_id IS NOT NULL AND "
            "NOT regexp_matches(patient_id, ?)", [PSEUDONYM_PATTERN]).fetchall()]
        if clear:
            mapping = pl.DataFrame({"clear": clear}, schema={"clear": pl.String}).with_columns(
                key.column(pl.Series(clear)).alias("pseudonym"))
            con.register("_pseudonyms", mapping.to_arrow())
            try:
                with transaction(con):
                    con.execute("UPDATE case_results SET patient_id = p.pseudonym "
                                "FROM _pseudonyms p WHERE case_results.patient_id = p.clear")
                    record(con, who="", action="pseudonymise", entity="case_results",
                           entity_key="patient_id", why="drgdip keys pseudonymise-store",
                           detail={"patients": len(clear), "key_id": key.key_id})
            finally:
                con.unregister("_pseudonyms")
            con.execute("CHECKPOINT")
    click.echo(f"{len(clear):,} clear patient id(s) replaced by pseudonyms of key "
               f"{key.key_id}")
