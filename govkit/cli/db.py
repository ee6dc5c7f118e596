"""``govkit db``: schema migrations (Alembic)."""

from __future__ import annotations

import click

from govkit.cli.app import App, json_option, pass_app


@click.group()
def db() -> None:
    """Create and migrate the registry database."""


def _engine(app: App):
    from govkit.config import default_db_url
    from govkit.registry.db import make_engine

    return make_engine(app.db_url or default_db_url())


@db.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@json_option
@pass_app
def upgrade(app: App, revision: str) -> None:
    """Migrate the database to REVISION."""
    from govkit.registry.db import current_revision
    from govkit.registry.db import upgrade as do_upgrade

    engine = _engine(app)
    try:
        before = current_revision(engine)
        do_upgrade(engine, revision)
        after = current_revision(engine)
    finally:
        engine.dispose()
    app.emit({"from": before, "to": after}, f"database at revision {after} (was {before or 'empty'})")


@db.command()
@json_option
@pass_app
def current(app: App) -> None:
    """Show the database's schema revision."""
    from govkit.registry.db import check_revision, head_revision

    engine = _engine(app)
    try:
        rev = check_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    app.emit(
        {"revision": rev, "head": head, "up_to_date": rev == head},
        f"{rev or 'empty'}{' (head)' if rev == head else f' (head is {head})'}",
    )


@db.command()
@json_option
@pass_app
def history(app: App) -> None:
    """List the known migrations, newest first."""
    from govkit.registry.db import history as hist

    revs = hist()
    app.emit(
        {"revisions": revs},
        lambda: "\n".join(f"{r['revision']}  {r['message']}" for r in revs),
    )
