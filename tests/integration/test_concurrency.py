"""Active-only uniqueness under concurrent creates, enforced by PostgreSQL's partial unique index."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import Api
from tests.integration.test_templates_api import TEMPLATES, body, count_rows


@pytest.mark.postgres
@pytest.mark.parametrize("parallel", [10, 50])
def test_parallel_identical_creates_make_one_template(pg_api: Api, postgres_only: str, parallel: int) -> None:
    # Given `parallel` clients released at the same instant with the same config,
    gate = threading.Barrier(parallel)

    def create(_: int) -> tuple[int, str]:
        gate.wait()
        reply = pg_api.post(TEMPLATES, body())
        if reply.status == 201:
            return reply.status, reply.body["id"]
        if reply.status == 409:
            return reply.status, reply.detail["template_id"]
        return reply.status, json.dumps(reply.body)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        outcomes = list(pool.map(create, range(parallel)))
    # Then exactly one is created, every other is told which template already holds the config,
    statuses = sorted(s for s, _ in outcomes)
    assert statuses == [201] + [409] * (parallel - 1), [o for o in outcomes if o[0] not in (201, 409)]
    assert len({template_id for _, template_id in outcomes}) == 1
    # and the database holds one row.
    assert count_rows(postgres_only) == 1


@pytest.mark.postgres
def test_parallel_creates_after_delete_make_one_new_template(pg_api: Api, postgres_only: str) -> None:
    first = pg_api.post(TEMPLATES, body()).body
    assert pg_api.delete(f"{TEMPLATES}/{first['id']}").status == 204
    gate = threading.Barrier(10)

    def create(_: int) -> int:
        gate.wait()
        return pg_api.post(TEMPLATES, body()).status

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(create, range(10)))
    assert statuses == [201] + [409] * 9
    assert count_rows(postgres_only) == 2
    assert count_rows(postgres_only, deleted_at=None) == 1
