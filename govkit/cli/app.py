"""Shared CLI plumbing: the context object, ``--json`` output, progress bars.

Every command takes ``--json``; then it prints exactly one JSON object on
stdout (its result, or ``{"error": ..., "exit_code": ...}``), and progress
bars stay off.  Errors are one line on stderr; ``-v`` adds the traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from govkit.config import default_db_url
from govkit.errors import EXIT_CHECK_FAILED

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass
class App:
    """Per-invocation state, kept in ``click.Context.obj``."""

    db_url: str | None = None
    verbose: int = 0
    json_mode: bool = False
    emitted: bool = False
    _registry: Any = field(default=None, repr=False)

    def registry(self) -> Any:
        """Open (and migrate) the registry on first use."""
        if self._registry is None:
            from sqlalchemy.engine import make_url

            from govkit.registry import open_registry

            url = self.db_url or default_db_url()
            try:  # the URL may hold a password: log it masked, or only its scheme
                shown = make_url(url).render_as_string(hide_password=True)
            except Exception:  # noqa: BLE001 - a malformed URL is reported by open_registry below
                shown = url.partition(":")[0]
            log.debug("opening the registry at %s", shown)
            self._registry = open_registry(url)
        return self._registry

    def close(self) -> None:
        if self._registry is not None:
            self._registry.dispose()
            self._registry = None

    def emit(self, result: dict[str, Any], human: str | Callable[[], str] | None = None) -> None:
        """Print ``result`` as JSON under ``--json``, else the human text."""
        self.emitted = True
        if self.json_mode:
            click.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
        elif human is not None:
            click.echo(human() if callable(human) else human)

    def fail_check(self) -> None:
        """End the command with exit code 1 (a check ran and failed)."""
        raise SystemExit(EXIT_CHECK_FAILED)

    def progress(self, items: Iterable[T], length: int | None, label: str) -> Iterator[T]:
        """A progress bar on an interactive terminal; silent otherwise."""
        if self.json_mode or not sys.stderr.isatty():
            yield from items
            return
        with click.progressbar(items, length=length, label=label, file=sys.stderr) as bar:
            yield from bar


pass_app = click.make_pass_decorator(App)


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.ensure_object(App).json_mode = True
    return value


json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_json,
    help="Print exactly one JSON object on stdout.",
)


class NamesOption(click.Option):
    """An option whose help ends with the names a registry knows, read only when help is shown.

    With ``validate=True`` each given name (the option's value: a name or a tuple of names)
    must be one of them, checked when the command runs (a usage error, exit 2, listing the
    known names); the registry is still imported only then.
    """

    def __init__(self, *args: Any, names: Callable[[], Iterable[str]], validate: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names = names
        self.validate = validate

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        value = super().process_value(ctx, value)
        if self.validate and value:
            given = (value,) if isinstance(value, str) else tuple(value)
            known = list(self.names())
            unknown = [v for v in given if v not in known]
            if unknown:
                raise click.BadParameter(
                    f"unknown {', '.join(unknown)}; known: {', '.join(known)}", ctx=ctx, param=self
                )
        return value

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        base = self.help
        self.help = f"{base or ''} Known: {', '.join(self.names())}.".strip()
        try:
            return super().get_help_record(ctx)
        finally:
            self.help = base
