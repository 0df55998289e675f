"""`drgdip serve`: the HTTP service on uvicorn."""

from __future__ import annotations

from pathlib import Path

import click

from engine.commands.db_option import DB_OPTION


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@DB_OPTION
@click.option("--dip-catalog", "dip_catalogs", multiple=True, metavar="NAME=FILE",
              help="also load an official DIP catalogue file under NAME (repeatable)")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="uvicorn's access log too (the service logs one JSON line per request)")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve_command(host: str, port: int, db: Path | None, dip_catalogs: tuple[str, ...],
                  access_log: bool, log_level: str) -> None:
    """Run the HTTP service (医保 DRG/DIP 服务): per-case grouping, batches, reads."""
    import uvicorn

    from api.app import create_app
    from api.logs import uvicorn_log_config
    from api.settings import ApiSettings

    overrides: dict[str, object] = {}
    if db is not None:
        overrides["db"] = db
    if dip_catalogs:
        pairs = [c.split("=", 1) for c in dip_catalogs]
        bad = [c for c, p in zip(dip_catalogs, pairs, strict=True) if len(p) != 2]
        if bad:
            raise click.BadParameter(f"{bad[0]!r}; expected NAME=FILE", param_hint="--dip-catalog")
        overrides["dip_catalog_files"] = {n: Path(f) for n, f in pairs}
    settings = ApiSettings(**overrides)  # type: ignore[arg-type]
    uvicorn.run(create_app(settings), host=host, port=port, access_log=access_log,
                log_level=log_level, loop="auto", http="auto", workers=1,
                log_config=uvicorn_log_config(log_level))  # JSON lines on stderr (api.logs)
