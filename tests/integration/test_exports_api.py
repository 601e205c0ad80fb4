"""POST /api/workspaces/{id}/exports and GET /api/exports/{id} (SPEC §8): the window's rules as 422s
naming the field, 202 with the export's Location, its status from its execution (moto records it,
runs nothing here: tests/workflows/test_export.py runs it), and tenancy as the other routes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from local.stepfunctions import create_state_machines
from prompter import runtime
from tests.conftest import Api, AwsFakes

EXPORTS = "/api/workspaces/ws-1/exports"


@pytest.fixture
def exports(aws: AwsFakes, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The Export state machine (moto records its executions) and its ARN in store_result's settings.
    No database: an export is its execution (the routes read none), so each test runs once."""
    arn = create_state_machines(boto3.client("stepfunctions"))["prompter-export"]
    monkeypatch.setenv("PROMPTER_EXPORT_STATE_MACHINE_ARN", arn)
    runtime.reset()
    yield arn
    runtime.reset()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),  # 367 days: 366 is the most
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "03/01/2026", "to": "2026-03-01"}, "from"),
        ({"to": "2026-03-01"}, "from"),
        ({"from": "2026-03-01", "to": "2026-03-01", "tables": ["answers"]}, "tables"),
    ],
)
def test_a_bad_window_is_a_422_naming_the_field(body: dict[str, object], field: str) -> None:
    reply = Api().post(EXPORTS, body)
    assert reply.status == 422, reply.body
    assert [e["loc"][-1] for e in reply.detail["errors"]] == [field]


def test_an_export_starts_its_execution_and_answers_where_to_follow_it(exports: str) -> None:
    # When a year (a leap year: 366 days) is exported
    started = Api(org="acme").post(EXPORTS, {"from": "2024-01-01", "to": "2024-12-31"})

    # Then the answer is 202 with the export's id and where its status is
    assert started.status == 202, started.body
    export_id = started.body["export_id"]
    assert started.body == {"export_id": export_id, "status": "running"}
    assert started.headers["Location"] == f"/api/exports/{export_id}"
    # And its execution is named by it and carries the org, the workspace and the window
    sfn = boto3.client("stepfunctions")
    execution = sfn.describe_execution(
        executionArn=exports.replace(":stateMachine:", ":execution:") + f":{export_id}"
    )
    assert json.loads(execution["input"]) == {
        "export_id": export_id,
        "org_id": "acme",
        "workspace_id": "ws-1",
        "first_day": "2024-01-01",
        "last_day": "2024-12-31",
    }
    # And its status is running, with no files yet
    status = Api(org="acme").get(f"/api/exports/{export_id}")
    assert status.status == 200, status.body
    assert status.body == {
        "export_id": export_id,
        "workspace_id": "ws-1",
        "from": "2024-01-01",
        "to": "2024-12-31",
        "status": "running",
        "files": [],
    }


def test_an_export_is_its_org_s(exports: str) -> None:
    export_id = Api(claims={"custom:org_id": "acme"}).post(
        EXPORTS, {"from": "2026-01-01", "to": "2026-01-02"}
    )
    assert export_id.status == 202, export_id.body
    path = f"/api/exports/{export_id.body['export_id']}"
    # another org's caller gets the same 404 as for an export that does not exist
    other = Api(claims={"custom:org_id": "globex"}).get(path)
    assert other.status == 404 and other.detail["code"] == "EXPORT_NOT_FOUND"
    assert Api(claims={"custom:org_id": "acme"}).get(path).status == 200
    # a body naming another org than the caller's is a 403
    refused = Api(claims={"custom:org_id": "acme"}).post(
        EXPORTS, {"from": "2026-01-01", "to": "2026-01-02", "org_id": "globex"}
    )
    assert refused.status == 403, refused.body


@pytest.mark.parametrize("export_id", ["00000000-0000-4000-8000-000000000000", "not-an-export", "x" * 200])
def test_an_unknown_export_is_a_404(exports: str, export_id: str) -> None:
    reply = Api().get(f"/api/exports/{export_id}")
    assert reply.status == 404 and reply.detail["code"] == "EXPORT_NOT_FOUND", reply.body
