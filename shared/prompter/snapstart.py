"""Lambda SnapStart (published versions behind aliases): what a restored execution environment must
not reuse from the snapshot.

Lambda initialises the function once when a version is published, snapshots the environment, and
resumes new environments from that snapshot. Whatever the snapshot holds is shared by every environment
restored from it, so after a restore:

- database connections are dropped (their sockets belong to the environment that was snapshotted),
  as are the AWS clients and every other per-environment singleton (``prompter.runtime``);
- cached secrets are forgotten (the database and provider credentials are read again, so a rotation
  during the snapshot's life is picked up);
- the ``random`` module is reseeded (``uuid.uuid4`` reads the OS's randomness and needs nothing).

Before the snapshot, the stores (and SQLAlchemy with them), SQLAlchemy's PostgreSQL dialect and
pg8000 are imported (a function imports them on first use: the stores when it builds them, the rest on
its first connection) and the statements each store builds on first use are built for PostgreSQL, the
database that deploys, so a restored environment does not pay for them.

The hooks come from ``snapshot_restore_py``, which the Lambda Python runtime provides (and PyPI, for
the tests); without it (locally) nothing is registered.
"""

from __future__ import annotations

import random
from typing import Any

from prompter import runtime

_registered = False
# The stores' modules, which the handlers import only when they build a store (bootstrap).
STORES = (
    "prompter.db.brand_profiles",
    "prompter.db.costs",
    "prompter.db.monitors",
    "prompter.db.results",
    "prompter.db.sources",
    "prompter.db.templates",
    "prompter.db.versions",
    "prompter.db.visibility",
    "prompter.db.workspace",
)


def before_snapshot() -> None:
    import importlib

    # The stores load when first built, the PostgreSQL dialect and driver on first connection: in
    # the snapshot, not after it.
    for module in (*STORES, "sqlalchemy.dialects.postgresql.pg8000", "pg8000.dbapi"):
        importlib.import_module(module)

    from prompter.db import results, versions

    for warm in (results._insert_statement, results._counts_statement, versions._upsert_statement):
        warm("postgresql")
    for with_run in (False, True):
        results._store_statement(with_run)


def after_restore() -> None:
    runtime.reset()
    try:
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
    except ImportError:  # pragma: no cover - Powertools is always in the layer
        pass
    random.seed()


def register() -> bool:
    """Register the hooks once per process; False where SnapStart's hook library is absent."""
    global _registered
    if _registered:
        return True
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    _registered = True
    return True


def hooks() -> dict[str, list[Any]]:
    """The registered hooks, as the runtime sees them (for tests and diagnostics)."""
    from snapshot_restore_py import get_after_restore, get_before_snapshot

    return {
        "before": [f for f, _, _ in get_before_snapshot()],
        "after": [f for f, _, _ in get_after_restore()],
    }
