"""Alembic environment: always given a connection by :func:`crosspost.store.migrations.upgrade`."""

from __future__ import annotations

from alembic import context

from crosspost.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("crosspost migrations run through crosspost.store.migrations.upgrade(engine)")

# render_as_batch: SQLite cannot ALTER most things; batch mode rebuilds the table instead.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
