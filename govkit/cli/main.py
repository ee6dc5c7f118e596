"""Entry point of the ``govkit`` command.

Subgroups are imported lazily, so ``govkit --help`` and commands that need
no PyTorch or Presidio start fast.

Exit codes: 0 success; 1 a check failed; 2 bad usage or bad input;
3 an internal error (a bug: please report it, with ``-v``).
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
import warnings

import click

from govkit import __version__
from govkit.cli.app import App
from govkit.config import ENV_DB_URL
from govkit.errors import EXIT_BAD_INPUT, GovkitError

EXIT_INTERNAL = 3

#: Command group name -> "module:attribute".  Names are fixed by the CLI contract.
SUBCOMMANDS: dict[str, str] = {
    "db": "govkit.cli.db:db",
    "audit": "govkit.cli.audit:audit",
    "model": "govkit.cli.model:model",
    "deid": "govkit.cli.deid:deid",
    "data": "govkit.cli.data:data",
    "eval": "govkit.cli.eval:eval_group",
    "policy": "govkit.cli.policy:policy",
    "privacy": "govkit.cli.privacy:privacy",
    "robustness": "govkit.cli.robustness:robustness",
    "explain": "govkit.cli.explain:explain",
    "report": "govkit.cli.report:report",
    "approve": "govkit.cli.approve:approve",
    "risk": "govkit.cli.risk:risk",
    "incident": "govkit.cli.incident:incident",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in SUBCOMMANDS:
            module, attr = SUBCOMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_url",
    envvar=ENV_DB_URL,
    metavar="URL",
    help="Registry database URL (env GOVKIT_DB_URL). Default: SQLite in GOVKIT_HOME.",
)
@click.option("-v", "--verbose", count=True, help="Show tracebacks and debug output.")
@click.version_option(__version__, prog_name="govkit")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, verbose: int) -> None:
    """govkit: governance and compliance for medical-imaging AI."""
    app = ctx.ensure_object(App)
    if not verbose:  # pydicom warns about every non-conformant value it reads
        warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")
    app.db_url = db_url
    app.verbose = verbose
    ctx.call_on_close(app.close)


def _error_line(app: App, message: str, code: int) -> int:
    message = " ".join(message.split())  # always one line
    if app.json_mode and not app.emitted:
        click.echo(json.dumps({"error": message, "exit_code": code}))
    click.echo(f"govkit: error: {message}", err=True)
    return code


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, mapping exceptions to one-line errors and exit codes."""
    app = App()
    try:
        rv = cli.main(args=argv, prog_name="govkit", obj=app, standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        if app.json_mode and not app.emitted:
            click.echo(json.dumps({"error": exc.format_message(), "exit_code": exc.exit_code}))
        exc.show()
        code = exc.exit_code
    except click.Abort:
        click.echo("govkit: aborted", err=True)
        code = EXIT_BAD_INPUT
    except GovkitError as exc:
        if app.verbose:
            traceback.print_exc()
        code = _error_line(app, str(exc), exc.exit_code)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if app.verbose:
            traceback.print_exc()
        code = _error_line(
            app, f"internal error: {type(exc).__name__}: {exc} (rerun with -v for details)", EXIT_INTERNAL
        )
    sys.exit(code)


if __name__ == "__main__":
    main()
