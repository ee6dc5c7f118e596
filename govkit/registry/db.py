"""Engines, explicit unit-of-work sessions, and schema migrations.

The registry is SQLite (embedded default) or PostgreSQL.  SQLite runs in WAL
mode with a busy timeout, and every transaction starts with
``BEGIN IMMEDIATE`` so concurrent writer processes serialise instead of
failing on lock upgrades.  The schema is owned by Alembic (``migrations/``);
:func:`open_registry` migrates an older database to head and refuses one
migrated by a newer govkit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from govkit.errors import BadInput
from govkit.resources import resource_dir

if TYPE_CHECKING:
    from alembic.config import Config

SQLITE_BUSY_TIMEOUT_MS = 60_000
_SUPPORTED = ("sqlite", "postgresql")


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; a malformed or unsupported URL is :class:`BadInput`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadInput(f"malformed database URL: {_redact(url)!r}") from None
    if parsed.get_backend_name() not in _SUPPORTED:
        raise BadInput(
            f"unsupported database {parsed.get_backend_name()!r} in URL {_redact(url)!r}: "
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _configure_sqlite(engine)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise BadInput(f"no driver for {_redact(url)!r}: {exc}") from None
    return engine


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:  # pragma: no branch - tiny hook
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resource_dir("migrations")))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("govkit's migrations have no head revision")
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_revision(engine: Engine) -> str | None:
    """Return the database's revision; :class:`BadInput` if this govkit does not know it."""
    from alembic.script import ScriptDirectory

    rev = current_revision(engine)
    if rev is None:
        return None
    script = ScriptDirectory.from_config(_alembic_config())
    known = {s.revision for s in script.walk_revisions()}
    if rev not in known:
        raise BadInput(
            f"database schema revision {rev} was written by a newer govkit "
            f"(this one knows up to {script.get_current_head()}); upgrade govkit"
        )
    return rev


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` (serialised across processes)."""
    from alembic import command

    check_revision(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7146031)"))
        command.upgrade(_alembic_config(conn), revision)


def history() -> list[dict[str, Any]]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    return [
        {"revision": s.revision, "down_revision": s.down_revision, "message": s.doc} for s in script.walk_revisions()
    ]


@dataclass
class Registry:
    """A handle on one registry database.

    Sessions are explicit: use :meth:`unit_of_work`, which commits on success
    and rolls back on error.  Every row a unit of work inserts is bound into
    the audit chain (:mod:`govkit.registry.audit`).
    """

    url: str
    engine: Engine

    def __post_init__(self) -> None:
        from govkit.registry.audit import bind_pending_rows, track_new_rows

        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "after_flush", lambda session, _ctx: track_new_rows(session, session.new))
        event.listen(self._sessions, "before_commit", bind_pending_rows)

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_registry(url: str, *, migrate: bool = True) -> Registry:
    """Open the registry at ``url``, migrating it to head when ``migrate``.

    A database with no schema is created; one migrated by a newer govkit is
    refused with :class:`BadInput`.
    """
    engine = make_engine(url)
    try:
        rev = check_revision(engine)
        if migrate and rev != head_revision():
            upgrade(engine)
    except OperationalError as exc:
        engine.dispose()
        raise BadInput(f"cannot open database {_redact(url)!r}: {exc.orig}") from None
    except BaseException:
        engine.dispose()
        raise
    return Registry(url=url, engine=engine)
