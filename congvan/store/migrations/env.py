"""Alembic's environment: always online, on the connection ``congvan.store.schema`` hands over.

Batch mode lets SQLite alter tables (it copies them); ``compare_type`` makes ``alembic check``-style
comparisons see column type changes too.
"""

from __future__ import annotations

from alembic import context

from congvan.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("congvan's migrations run through `congvan db upgrade`, not the alembic command")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
