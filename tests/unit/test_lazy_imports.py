"""A function starts without SQLAlchemy or its stores (they load when a store is first built, or
before a SnapStart snapshot); the dialect modules the service never uses are not executed even then,
and still work when something uses them (each case in a fresh interpreter: this one has imported
them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from prompter.lazy_imports import UNUSED_DIALECTS
from prompter.snapstart import STORES
from tests.conftest import TESTS

ROOT = TESTS.parent
FUNCTIONS = ["create_template", "probe_provider", "store_result", "monitors", "deliver_alerts"]

PROBE = """
import json, sys, importlib
import snapshot_restore_py
importlib.import_module(sys.argv[1])
database = lambda m: m.split(".")[0] == "sqlalchemy" or m.startswith("prompter.db")
started = sorted(m for m in sys.modules if database(m))
for func, args, kwargs in snapshot_restore_py.get_before_snapshot():
    func(*args, **kwargs)
stores = [m for m in json.loads(sys.argv[3]) if m in sys.modules]
modules = {name: sys.modules[name] for name in json.loads(sys.argv[2])}
state = {n: (type(m).__name__, m.__dict__.get("_prompter_loaded", False)) for n, m in modules.items()}
print(json.dumps({"started": started, "stores": stores, "dialects": state}))
"""


def run(code: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "shared")])}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_starts_without_sqlalchemy_and_never_executes_the_unused_dialects(function: str) -> None:
    """Its handler imports no store (bootstrap builds them on first use); the hook run before a
    SnapStart snapshot loads them all, and still the unused dialects only as placeholders."""
    module = f"functions.{function}.handler"
    found = json.loads(run(PROBE, module, json.dumps(UNUSED_DIALECTS), json.dumps(STORES)))
    assert found["started"] == []
    assert found["stores"] == list(STORES)
    assert found["dialects"] == {name: ["Deferred", False] for name in UNUSED_DIALECTS}


def test_a_deferred_module_loads_when_used() -> None:
    code = (
        "import prompter.db, sys\n"
        "from sqlalchemy.dialects.sqlite import aiosqlite\n"
        "from sqlalchemy.dialects.postgresql import asyncpg\n"
        "print(aiosqlite.dialect.driver, asyncpg.dialect.driver,"
        " sys.modules['sqlalchemy.dialects.sqlite.aiosqlite'].__dict__['_prompter_loaded'])"
    )
    assert run(code) == "aiosqlite asyncpg True"


SNAPSHOT = """
import importlib, sys
import snapshot_restore_py
importlib.import_module(sys.argv[1])
watched = ("sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.sqlite", "pg8000")
loaded = lambda: [m for m in watched if m in sys.modules]
started = loaded()
for func, args, kwargs in snapshot_restore_py.get_before_snapshot():
    func(*args, **kwargs)
print(started, loaded())
"""


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_imports_no_dialect_until_it_connects_or_is_snapshotted(function: str) -> None:
    """The PostgreSQL dialect and pg8000 load on the first connection; deployed with SnapStart, the
    hook run before the snapshot loads them, so a restored environment does not."""
    started, snapshotted = run(SNAPSHOT, f"functions.{function}.handler").split("] [")
    assert started == "["
    assert snapshotted == "'sqlalchemy.dialects.postgresql', 'pg8000']"
