"""Alembic environment for the govkit registry.

govkit passes an open connection in ``config.attributes["connection"]`` so
the migration runs inside the caller's transaction (which, on SQLite, began
with ``BEGIN IMMEDIATE``).  Without one, ``sqlalchemy.url`` is used, which
lets the plain ``alembic`` command work too.
"""

from alembic import context
from sqlalchemy import engine_from_config, pool

from govkit.registry.tables import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("govkit migrations run online only")
run_migrations_online()
