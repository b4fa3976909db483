"""Alembic environment for project databases.

The app runs migrations in code (``detector_app.storage.db.upgrade``) and passes an open connection in
``config.attributes["connection"]``. Developers add a revision with, for example::

    python -c "from alembic import command; from detector_app.storage.db import alembic_config; \
command.revision(alembic_config(), 'what changed')"

and write its ``upgrade``/``downgrade`` by hand (``render_as_batch`` lets SQLite alter tables).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from detector_app.storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # developer use: a URL given with -x url=sqlite:///path/project.db
        url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
        with create_engine(url).begin() as conn:
            _run(conn)
    else:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported for project databases")
run_migrations_online()
