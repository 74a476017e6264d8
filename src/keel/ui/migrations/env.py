"""Alembic's environment for the team view: the connection comes from `keel.ui.migrate`
(`config.attributes["connection"]`), never from an alembic.ini."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
