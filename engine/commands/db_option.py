"""The one `--db` option of the commands that open the store: the same help, and the default
(`DRGDIP_DB`, else ./drgdip.duckdb, engine.settings) resolved once, here, so a command always
receives the store path it will open."""

from __future__ import annotations

from pathlib import Path

import click

from engine.settings import get_settings

DB_HELP = "store file (default: DRGDIP_DB, else ./drgdip.duckdb)"


def _resolve(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    return value if value is not None else get_settings().db


DB_OPTION = click.option("--db", type=click.Path(path_type=Path), default=None,
                         callback=_resolve, help=DB_HELP)
