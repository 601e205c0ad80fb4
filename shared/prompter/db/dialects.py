"""What a process imports of SQLAlchemy's dialects: only what its database needs.

- Statements that differ per dialect (``INSERT ... ON CONFLICT``) are built by each store once per
  dialect, on first use (``functools.cache``), through :func:`dml`: a Lambda function on PostgreSQL
  never imports or builds the SQLite variants, and the local server never builds PostgreSQL's.
- The DBAPI dialect modules SQLAlchemy imports with a dialect and this service never uses are
  deferred by :mod:`prompter.lazy_imports`.
"""

from __future__ import annotations

import importlib
from typing import Any


def dml(dialect_name: str) -> Any:
    """The dialect module whose ``insert`` builds ``ON CONFLICT`` statements (imported on demand)."""
    if dialect_name not in ("postgresql", "sqlite"):
        raise ValueError(f"unsupported dialect {dialect_name!r}")
    return importlib.import_module(f"sqlalchemy.dialects.{dialect_name}")
