"""What differs between the databases: the dialect modules a process imports (only what its database
needs), and the naive datetimes SQLite hands back.

- Statements that differ per dialect (``INSERT ... ON CONFLICT``) are built by each store once per
  dialect, on first use (``functools.cache``), through :func:`dml`: a Lambda function on PostgreSQL
  never imports or builds the SQLite variants, and the local server never builds PostgreSQL's.
- The DBAPI dialect modules SQLAlchemy imports with a dialect and this service never uses are
  deferred by :mod:`prompter.lazy_imports`.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any


def dml(dialect_name: str) -> Any:
    """The dialect module whose ``insert`` builds ``ON CONFLICT`` statements (imported on demand)."""
    if dialect_name not in ("postgresql", "sqlite"):
        raise ValueError(f"unsupported dialect {dialect_name!r}")
    return importlib.import_module(f"sqlalchemy.dialects.{dialect_name}")


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored timestamp is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
