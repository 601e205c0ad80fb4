"""PostgreSQL stopped and started again under steady traffic: while it shuts down, is down and starts
up, every request that needs it is a 503 ``DB_UNAVAILABLE`` with ``Retry-After``, never a 500; once
it is up again, requests are served again. A real server, a real fast shutdown (sessions ended with
57P01, new connections refused with 57P03, then refused by the socket), a real start-up."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from prompter.routes import ROUTES
from tests.conftest import Api, AwsFakes
from tests.integration.test_connection_safety import _sample_call
from tests.integration.test_database_errors import NAMED

CALLS = [_sample_call(route) for route in ROUTES if route.operation_id in NAMED]


def test_a_restarting_postgresql_is_answered_503_and_never_500(
    pg_api: Api, pg_cluster: Any, aws: AwsFakes
) -> None:
    served: Counter[tuple[int, str]] = Counter()
    wrong: list[tuple[str, str, int, Any]] = []

    def one_round() -> None:
        for method, path, payload, query in CALLS:
            reply = pg_api.call(method, path, payload, query=query)
            code = reply.detail.get("code", "") if reply.status >= 400 else ""
            served[(reply.status, code)] += 1
            retry_after = reply.headers.get("Retry-After")
            if reply.status >= 500 and not (reply.status == 503 and code == "DB_UNAVAILABLE" and retry_after):
                wrong.append((method, path, reply.status, reply.body))

    one_round()  # warm: pooled connections exist, as under steady traffic
    assert served[(503, "DB_UNAVAILABLE")] == 0
    restarted = threading.Event()

    def restart() -> None:
        try:
            time.sleep(0.2)
            pg_cluster.stop_server()
            time.sleep(1.0)
        finally:
            pg_cluster.start_server()
            restarted.set()

    operator = threading.Thread(target=restart)
    operator.start()
    try:
        while not restarted.is_set():
            one_round()
    finally:
        operator.join()
    during = served[(503, "DB_UNAVAILABLE")]
    one_round()  # up again: served again
    assert wrong == []
    assert during > 0, served
    assert served[(503, "DB_UNAVAILABLE")] == during, served
