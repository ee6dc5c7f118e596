"""Entry point of the ``govkit`` command.

Subgroups are imported lazily, so ``govkit --help`` and commands that need
no PyTorch or Presidio start fast.

Exit codes: 0 success; 1 a check failed; 2 bad usage or bad input;
3 an internal error (a bug: please report it, with ``-v``); 4 the execution
environment failed (see :mod:`govkit.errors`).

Logging: every module logs to ``logging.getLogger(__name__)``, under the
``govkit`` logger.  The CLI prints its warnings on stderr; ``-v`` adds its
debug messages and the traceback behind a one-line error, ``-vv`` also other
libraries' debug messages.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import warnings

import click

from govkit import __version__
from govkit.cli.app import App
from govkit.config import ENV_DB_URL
from govkit.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, GovkitError

log = logging.getLogger(__name__)

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
    "signer": "govkit.cli.signer:signer",
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
    _configure_logging(verbose)
    log.debug("govkit %s, Python %s", __version__, sys.version.split()[0])
    if not verbose:  # pydicom warns about every non-conformant value it reads
        warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")
    app.db_url = db_url
    app.verbose = verbose
    ctx.call_on_close(app.close)


class _StderrHandler(logging.Handler):
    """Writes to the *current* ``sys.stderr`` (which tests and callers may swap)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # noqa: BLE001 - logging must never break the command; the logging module reports it
            self.handleError(record)


_HANDLER = _StderrHandler()
_HANDLER.setFormatter(logging.Formatter("govkit: %(levelname)s: %(name)s: %(message)s"))


def _configure_logging(verbose: int) -> None:
    """``govkit`` messages at WARNING, or DEBUG with ``-v``; other libraries' too with ``-vv``.

    The handler sits on the ``govkit`` logger (or on the root logger with
    ``-vv``), never on both, so each message prints once; records still
    propagate, so an embedding application's handlers see them too.
    """
    package, root = logging.getLogger("govkit"), logging.getLogger()
    package.setLevel(logging.DEBUG if verbose else logging.WARNING)
    on, off = (root, package) if verbose > 1 else (package, root)
    off.removeHandler(_HANDLER)
    on.addHandler(_HANDLER)
    if verbose > 1:
        root.setLevel(logging.DEBUG)


def _error_line(app: App, message: str, code: int) -> int:
    message = " ".join(message.split())  # always one line
    if app.json_mode and not app.emitted:
        click.echo(json.dumps({"error": message, "exit_code": code}))
    click.echo(f"govkit: error: {message}", err=True)
    return code


class _NeverRaised(click.UsageError):
    """Stands in for ``NoArgsIsHelpError`` on a Click that does not have it."""


#: Click >= 8.2 raises this for a group given no command; its message is the whole help text.
_NO_ARGS_IS_HELP: type[click.UsageError] = getattr(click.exceptions, "NoArgsIsHelpError", _NeverRaised)


def _click_message(exc: click.ClickException) -> str:
    """Click's error as one line: the problem, then the ``--help`` to read (not Click's usage block)."""
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message = f"{message.rstrip('.')} (see '{ctx.command_path} --help')"
    return message


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, mapping exceptions to one-line errors and exit codes."""
    app = App()
    try:
        rv = cli.main(args=argv, prog_name="govkit", obj=app, standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except _NO_ARGS_IS_HELP as exc:  # a group run without a command: its help, as Click prints it
        exc.show()
        code = exc.exit_code
    except click.ClickException as exc:
        code = _error_line(app, _click_message(exc), exc.exit_code)
    except click.Abort:
        click.echo("govkit: aborted", err=True)
        code = EXIT_BAD_INPUT
    except GovkitError as exc:
        log.debug("the error below was raised here", exc_info=True)
        code = _error_line(app, str(exc), exc.exit_code)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:  # the CLI's last line of defence (BLE001 allows it: logged with exc_info)
        log.debug("internal error", exc_info=True)
        code = _error_line(
            app, f"internal error: {type(exc).__name__}: {exc} (rerun with -v for details)", EXIT_INTERNAL
        )
    sys.exit(code)


if __name__ == "__main__":  # python -m govkit.cli.main: run it under its own name, so that it logs as govkit.cli.main
    importlib.import_module("govkit.cli.main").main()
