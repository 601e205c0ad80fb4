"""Data layer: schema (SQLAlchemy Core), engine factory, error translation, migrations."""

from prompter.db.dialects import defer_unused_dbapis

defer_unused_dbapis()
