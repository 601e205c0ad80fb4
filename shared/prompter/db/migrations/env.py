"""Alembic environment: runs the migrations on the connection handed in by ``prompter.db.migrate``."""

from __future__ import annotations

from alembic import context

from prompter.db.schema import with_dialect_options

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=with_dialect_options(),
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Two deploy-time migrators never interleave: the second waits, then finds nothing to do.
        context.execute("SELECT pg_advisory_xact_lock(7219401)")
    context.run_migrations()
