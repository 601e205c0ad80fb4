"""Active-only uniqueness under concurrent creates, enforced by PostgreSQL's partial unique index.

Concurrent requests are concurrent Lambda invocations: separate execution environments, each with
its own connection. Here they are threads, each running the create use case (the handler's code
under its HTTP layer) on its own pooled connection: the handler's HTTP layer keeps per-process
state (the Powertools resolver's current event), which no environment shares with another.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from prompter.db.engine import build_engine
from prompter.db.templates import TemplateStore
from prompter.errors import TemplateExists
from prompter.registry import templates
from prompter.registry.models import CreateTemplateRequest
from prompter.scope import Scope
from prompter.settings import DatabaseSettings
from tests.conftest import Api
from tests.integration.test_templates_api import TEMPLATES, body, count_rows


def create_in_parallel(url: str, parallel: int) -> list[tuple[int, str]]:
    """``parallel`` creates of the same config released at the same instant: (status, template id)."""
    engine = build_engine(DatabaseSettings(database_url=url, db_pool_size=parallel))
    store = TemplateStore(engine)
    request = CreateTemplateRequest.model_validate(body())
    gate = threading.Barrier(parallel)

    def create(_: int) -> tuple[int, str]:
        gate.wait()
        try:
            return 201, templates.create_template(store, Scope(org_id="default"), request).id
        except TemplateExists as conflict:
            return 409, str(conflict.details["template_id"])

    try:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            return list(pool.map(create, range(parallel)))
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("parallel", [10, 50])
def test_parallel_identical_creates_make_one_template(pg_api: Api, postgres_only: str, parallel: int) -> None:
    # Given `parallel` clients released at the same instant with the same config,
    outcomes = create_in_parallel(postgres_only, parallel)
    # Then exactly one is created, every other is told which template already holds the config,
    statuses = sorted(s for s, _ in outcomes)
    assert statuses == [201] + [409] * (parallel - 1), outcomes
    assert len({template_id for _, template_id in outcomes}) == 1
    # and the database holds one row.
    assert count_rows(postgres_only) == 1


@pytest.mark.postgres
def test_parallel_creates_after_delete_make_one_new_template(pg_api: Api, postgres_only: str) -> None:
    first = pg_api.post(TEMPLATES, body()).body
    assert pg_api.delete(f"{TEMPLATES}/{first['id']}").status == 204
    statuses = sorted(status for status, _ in create_in_parallel(postgres_only, 10))
    assert statuses == [201] + [409] * 9
    assert count_rows(postgres_only) == 2
    assert count_rows(postgres_only, deleted_at=None) == 1
