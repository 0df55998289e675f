"""The `drgdip` command line: the composition root. Each area adds its commands here."""

from __future__ import annotations

import sys
import traceback

import click

from engine import __version__
from engine.commands.demo import demo_command
from engine.commands.grouping import explain_command, group_command, rulesets_command
from engine.commands.keys import keys_command
from engine.commands.report import report_command
from engine.commands.serve import serve_command
from engine.commands.settle import clear_command, policies_command, settle_command
from engine.commands.simulate import simulate_command
from engine.commands.synth import synth_command, validate_command
from engine.commands.weights import sql_command, weights_command
from grouper.errors import DrgDipError

INTERNAL_ERROR = 1  # a bug: the traceback goes to stderr, then one line


def _version_text() -> str:
    """`drgdip --version`: the engine and what its results depend on (for bug reports)."""
    import duckdb
    import polars

    py = ".".join(str(p) for p in sys.version_info[:3])
    return (f"drgdip {__version__} (Python {py}, polars {polars.__version__}, "
            f"duckdb {duckdb.__version__})")


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(_version_text())
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="print the version (版本) and exit")
def cli() -> None:
    """DRG/DIP grouping and payment engine (医保 DRG/DIP 分组与支付引擎)."""


cli.add_command(rulesets_command)
cli.add_command(group_command)
cli.add_command(explain_command)
cli.add_command(serve_command)
cli.add_command(keys_command)
cli.add_command(weights_command)
cli.add_command(sql_command)
cli.add_command(report_command)
cli.add_command(synth_command)
cli.add_command(validate_command)
cli.add_command(settle_command)
cli.add_command(clear_command)
cli.add_command(policies_command)
cli.add_command(demo_command)
cli.add_command(simulate_command)


def main() -> None:
    """Console entry point: errors end with one line and the exit status of their kind
    (README "Exit codes"): 2 usage, 3 unusable input, 4 refused, 1 internal (a bug)."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DrgDipError as exc:
        click.echo(f"drgdip: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        click.echo(f"drgdip: error: {exc}", err=True)
        sys.exit(3)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001  a bug, incl. a Rust panic (BaseException)
        traceback.print_exc()
        click.echo(f"drgdip: internal error (内部错误, please report it with `drgdip --version` "
                   f"and the traceback above): {type(exc).__name__}: {exc}", err=True)
        sys.exit(INTERNAL_ERROR)


if __name__ == "__main__":
    main()
