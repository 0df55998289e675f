"""`--max-bad-lines SHARE`: the share of malformed CSV lines a command keeps as row problems
(I112) before it refuses the file (engine.ingest.limits; default DRGDIP_INGEST_MAX_BAD_LINE_SHARE,
else 10 %)."""

from __future__ import annotations

from typing import Any

import click


def _set_share(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    from engine.ingest.limits import configure, parse_share

    try:
        configure(max_bad_line_share=parse_share(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


MAX_BAD_LINES_OPTION: Any = click.option(
    "--max-bad-lines", "max_bad_lines", default=None, metavar="SHARE", expose_value=False,
    callback=_set_share, is_eager=True,
    help="CSV lines with a wrong number of fields or a stray quote become row problems (I112) "
         "up to this share of the file (0.05 or 5%; 0: none); past it the file is refused "
         "naming the first bad lines (格式错误行的容忍比例; default "
         "DRGDIP_INGEST_MAX_BAD_LINE_SHARE, else 10%)")
