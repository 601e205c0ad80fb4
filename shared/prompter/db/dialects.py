"""What a process imports of SQLAlchemy's dialects: only what its database needs.

- Statements that differ per dialect (``INSERT ... ON CONFLICT``) are built by each store once per
  dialect, on first use (``functools.cache``), through :func:`dml`: a Lambda function on PostgreSQL
  never imports or builds the SQLite variants, and the local server never builds PostgreSQL's.
- ``sqlalchemy.dialects.postgresql`` imports every PostgreSQL DBAPI dialect it ships (asyncpg, which
  pulls in SQLAlchemy's asyncio layer, psycopg, psycopg2, psycopg2cffi) on import, about 25 ms of a
  cold start for modules this service never uses (it speaks pg8000). :func:`defer_unused_dbapis`
  registers those modules as placeholders that load the real module on first attribute access, so
  they cost nothing unless something does use them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

UNUSED_POSTGRESQL_DBAPIS = ("asyncpg", "psycopg", "psycopg2", "psycopg2cffi")


class _Deferred(types.ModuleType):
    """A module whose code runs on first access to one of its attributes."""

    def __init__(self, name: str, spec: Any) -> None:
        super().__init__(name)
        self.__spec__ = spec
        self.__loader__ = spec.loader
        self.__file__ = spec.origin

    def __getattr__(self, attribute: str) -> Any:  # only for attributes not set yet
        spec = self.__dict__["__spec__"]
        if not self.__dict__.get("_prompter_loaded"):
            self.__dict__["_prompter_loaded"] = True
            spec.loader.exec_module(self)
        try:
            return self.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {attribute!r}") from None


def defer_unused_dbapis() -> None:
    """Register the PostgreSQL DBAPI dialect modules this service does not use as deferred modules
    (before ``sqlalchemy.dialects.postgresql`` is first imported; a no-op after)."""
    if "sqlalchemy.dialects.postgresql" in sys.modules:
        return
    import sqlalchemy.dialects

    (root,) = sqlalchemy.dialects.__path__
    for name in UNUSED_POSTGRESQL_DBAPIS:
        qualified = f"sqlalchemy.dialects.postgresql.{name}"
        if qualified in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(qualified, f"{root}/postgresql/{name}.py")
        if spec is None or spec.loader is None:
            continue
        sys.modules[qualified] = _Deferred(qualified, spec)


def dml(dialect_name: str) -> Any:
    """The dialect module whose ``insert`` builds ``ON CONFLICT`` statements (imported on demand)."""
    if dialect_name not in ("postgresql", "sqlite"):
        raise ValueError(f"unsupported dialect {dialect_name!r}")
    return importlib.import_module(f"sqlalchemy.dialects.{dialect_name}")
