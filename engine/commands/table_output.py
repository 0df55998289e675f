"""Tables for people: the options and writers every command shares for what it prints or writes
(CSV for Excel, terminal tables)."""

from __future__ import annotations

import click

BOM_OPTION = click.option(
    "--bom/--no-bom", default=True, show_default=True,
    help="CSV output: begin with a UTF-8 BOM so Excel shows Chinese (带 BOM 供 Excel 打开); "
         "--no-bom for programs and pipes")
