"""SnapStart hooks (prompter.snapstart) with the hook library from PyPI, as the Lambda runtime runs
them: registered by every function on import; after a restore nothing snapshotted is reused."""

from __future__ import annotations

import random
from typing import Any

import pytest
import snapshot_restore_py

from local.apigw import handler_module
from prompter import runtime, snapstart


def run_hooks(which: str) -> None:
    """What the runtime does around a snapshot: call every registered hook with its arguments."""
    registry = (
        snapshot_restore_py.get_before_snapshot()
        if which == "before"
        else snapshot_restore_py.get_after_restore()
    )
    for func, args, kwargs in registry:
        func(*args, **kwargs)


@pytest.mark.parametrize("function", ["create_template", "probe_provider", "store_result"])
def test_every_function_registers_the_hooks_once(function: str) -> None:
    handler_module(function)
    hooks = snapstart.hooks()
    assert hooks["before"].count(snapstart.before_snapshot) == 1
    assert hooks["after"].count(snapstart.after_restore) == 1


def test_before_the_snapshot_the_postgresql_statements_are_built() -> None:
    from prompter.db import results, versions

    for cached in (results._insert_statement, versions._upsert_statement):
        cached.cache_clear()
    run_hooks("before")
    assert results._insert_statement.cache_info().currsize == 1
    assert versions._upsert_statement.cache_info().currsize == 1


def test_after_a_restore_connections_secrets_and_random_state_are_fresh(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities import parameters

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    runtime.reset()
    store = handler_module("store_result")
    engine = store.services().engine
    with engine.connect():
        pass
    assert engine.pool.checkedin() == 1  # a pooled connection, as the snapshot would hold it
    cached_secrets: list[str] = []
    monkeypatch.setattr(parameters, "clear_caches", lambda: cached_secrets.append("cleared"))
    random.seed(1234)
    snapshotted = random.random()
    random.seed(1234)

    run_hooks("after")

    assert engine.pool.checkedin() == 0  # the snapshot's connection is closed, never reused
    assert store.services().engine is not engine  # a fresh engine (and clients, settings) on next use
    assert cached_secrets == ["cleared"]
    assert random.random() != snapshotted
    runtime.reset()


def test_without_the_hook_library_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_hooks(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "snapshot_restore_py":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(snapstart, "_registered", False)
    monkeypatch.setattr(builtins, "__import__", no_hooks)
    assert snapstart.register() is False
