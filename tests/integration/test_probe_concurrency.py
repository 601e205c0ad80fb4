"""Concurrent probes and version captures on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from local.apigw import handler_module
from prompter.db.engine import build_engine
from prompter.db.schema import prompt_versions
from prompter.db.versions import ModelVersionCapture, ModelVersionStore
from prompter.probing.providers import registry
from prompter.scope import Scope
from prompter.settings import DatabaseSettings
from tests.conftest import Api, AwsFakes
from tests.integration.test_probe_api import create


def version_rows(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(prompt_versions)).scalar_one()
    engine.dispose()
    return int(n)


@pytest.mark.postgres
def test_twenty_parallel_ensure_version_calls_make_one_provider_call(
    pg_api: Api, postgres_only: str, aws: AwsFakes
) -> None:
    # concurrent invocations are separate environments: threads running the probe use case, the
    # handler's code under its HTTP layer (whose Powertools resolver state is per process)
    template = create(pg_api)
    prober = handler_module("probe_provider").services().prober
    gate = threading.Barrier(20)

    def call(_: int) -> str:
        gate.wait()
        return prober.ensure_version(Scope(org_id="default"), template["id"], None, None).version_id

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(call, range(20)))
    assert len(set(outcomes)) == 1
    assert registry.fake("openai").calls == 1
    assert version_rows(postgres_only) == 1


def capture(template_id: str, key: str, when: datetime) -> ModelVersionCapture:
    return ModelVersionCapture(
        org_id="default",
        workspace_id="ws-avea",
        template_id=template_id,
        provider="openai",
        model_id="gpt-4o",
        resolved_model="gpt-4o-2024-08-06",
        provider_version_key=key,
        system_fingerprint=key,
        captured_at=when,
    )


@pytest.mark.postgres
def test_parallel_captures_of_alternating_keys_make_one_row_per_key(pg_api: Api, postgres_only: str) -> None:
    template = create(pg_api)
    store = ModelVersionStore(build_engine(DatabaseSettings(database_url=postgres_only, db_pool_size=10)))
    keys = ["fp_a", "fp_b", "fp_c"]
    start = datetime(2026, 11, 26, 9, tzinfo=UTC)
    gate = threading.Barrier(30)

    def record(i: int) -> Any:
        gate.wait()
        when = start + timedelta(seconds=i)
        return store.record(capture(template["id"], keys[i % 3], when), new_id=str(uuid.uuid4()))

    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(record, range(30)))
    assert version_rows(postgres_only) == 3
    assert sum(r.is_new for r in results) == 3  # exactly one capture per key saw its row as new
    history = store.history("default", template["id"])
    assert sorted(h["provider_version_key"] for h in history) == keys
    assert sum(h["seen_count"] for h in history) == 30
    for h in history:
        # last_seen_at is the latest capture of that key, whatever order the captures landed in
        latest = max(
            start + timedelta(seconds=i) for i in range(30) if keys[i % 3] == h["provider_version_key"]
        )
        assert h["last_seen_at"] == latest
    store.engine.dispose()


def test_last_seen_never_moves_backwards(api: Api, database_url: str) -> None:
    template = create(api)
    store = ModelVersionStore(build_engine(DatabaseSettings(database_url=database_url)))
    late = datetime(2026, 11, 26, 12, tzinfo=UTC)
    first = store.record(capture(template["id"], "fp_x", late), new_id=str(uuid.uuid4()))
    again = store.record(capture(template["id"], "fp_x", late - timedelta(hours=3)), new_id=str(uuid.uuid4()))
    assert again.version_id == first.version_id and not again.is_new
    assert again.last_seen_at == late and again.first_seen_at == late
    drift = store.record(capture(template["id"], "fp_y", late + timedelta(hours=1)), new_id=str(uuid.uuid4()))
    assert drift.is_new and drift.previous_key == "fp_x"
    store.engine.dispose()
