"""Modules a function imports only because a library imports them, loaded when first touched.

A cold start pays for every module imported at start-up, used or not.
``sqlalchemy.dialects.postgresql`` and ``sqlalchemy.dialects.sqlite`` import every DBAPI dialect they
ship (asyncpg, psycopg2, psycopg2cffi; aiosqlite, pysqlcipher), with SQLAlchemy's asyncio adapters;
the service speaks pg8000 (and the stdlib's sqlite3 locally). The schema's dialect options
(``postgresql_where``, ``sqlite_where``) make SQLAlchemy import both dialects. (psycopg is not
deferred: the PostgreSQL package reads ``psycopg.dialect_async`` while it imports. ``asyncio`` is
not either: SQLAlchemy itself reads it at import.)

:func:`defer` registers such modules as placeholders whose code runs on first access to an attribute
they do not have yet, so code that does use one gets the real module. (The standard library's
``importlib.util.LazyLoader`` loads on any attribute access, ``__spec__`` included, which every later
``import`` statement of the module reads: it would load at once.) A module already imported is left
as it is. ``prompter.db`` defers them when it is imported, before any dialect is.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

# SQLAlchemy's DBAPI dialect modules the service never uses (it connects with pg8000 and sqlite3).
UNUSED_DIALECTS = (
    "sqlalchemy.dialects.postgresql.asyncpg",
    "sqlalchemy.dialects.postgresql.psycopg2",
    "sqlalchemy.dialects.postgresql.psycopg2cffi",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "sqlalchemy.dialects.sqlite.pysqlcipher",
)


class Deferred(types.ModuleType):
    """A module whose code runs on first access to one of its attributes."""

    def __init__(self, name: str, spec: Any) -> None:
        super().__init__(name)
        self.__spec__ = spec
        self.__loader__ = spec.loader
        self.__file__ = spec.origin
        if spec.submodule_search_locations is not None:  # a package: its submodules stay findable
            self.__path__ = list(spec.submodule_search_locations)
            self.__package__ = name
        else:
            self.__package__ = name.rpartition(".")[0]

    def __getattr__(self, attribute: str) -> Any:  # only for attributes not set yet
        if not self.__dict__.get("_prompter_loaded"):
            self.__dict__["_prompter_loaded"] = True
            self.__dict__["__spec__"].loader.exec_module(self)
        try:
            return self.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {attribute!r}") from None


def _spec(name: str) -> Any:
    package, _, leaf = name.rpartition(".")
    if not package:
        return importlib.util.find_spec(name)
    # The package is not imported yet, and importing it is what imports this submodule: find the
    # file beside the package's, without running the package's __init__.
    holder, _, package_leaf = package.rpartition(".")
    found = importlib.util.find_spec(holder) if holder else None
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(found.submodule_search_locations[0]) / package_leaf / f"{leaf}.py"
    return importlib.util.spec_from_file_location(name, path) if path.exists() else None


def defer(names: tuple[str, ...] = UNUSED_DIALECTS) -> list[str]:
    """Register ``names`` (those not imported yet) as deferred modules; returns those registered."""
    registered = []
    for name in names:
        if name in sys.modules or name.rpartition(".")[0] in sys.modules:
            continue
        spec = _spec(name)
        if spec is None or spec.loader is None:
            continue
        sys.modules[name] = Deferred(name, spec)
        registered.append(name)
    return registered
