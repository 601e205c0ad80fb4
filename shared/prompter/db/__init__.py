"""Data layer: schema (SQLAlchemy Core), engine factory, error translation, migrations."""

from prompter import lazy_imports

lazy_imports.defer()
