"""Data layer: schema (SQLAlchemy Core), engine factory, error translation, migrations."""
