"""The workflows executed for real: moto's Step Functions interpreter runs the ASL files in
``infra/workflows`` and its Lambda tasks reach the deployed handlers in-process through the one
seam in ``local/stepfunctions.py``, on SQLite and PostgreSQL, with moto DynamoDB/EventBridge/SQS.
"""

from __future__ import annotations

import json
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from local.stepfunctions import create_state_machines, install_lambda_seam, wait_for
from prompter import runtime
from prompter.db.schema import prompt_results, prompt_versions
from tests.conftest import Api, AwsFakes
from tests.integration.test_templates_api import TEMPLATES, body

SFN_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
EXECUTION_TIMEOUT = 20.0


@pytest.fixture
def moto_sfn() -> Iterator[None]:
    """The outermost moto mock, started with the Step Functions config (executions run the ASL,
    Lambda is the simple in-process backend). It must be the outermost one: moto applies (and
    restores) the config of the mock that starts first."""
    from moto import mock_aws

    with mock_aws(config=SFN_CONFIG):
        yield


@pytest.fixture
def aws(moto_sfn: None, aws: AwsFakes) -> AwsFakes:
    """tests/conftest.py's moto resources (idempotency table, drift bus → SQS), created inside
    ``moto_sfn``'s mock."""
    return aws


@pytest.fixture
def backoff_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry backoff without the wait: moto's interpreter sleeps for real between attempts, in
    ``moto/stepfunctions/parser/asl/component/common/retry/retrier_decl.py``
    (``RetrierDecl._eval_body``: ``time.sleep(interval_seconds)``). The intervals it would have
    waited are recorded instead (list.append is atomic, and Map iterations run in threads)."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    waits: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=waits.append))
    return waits


@dataclass
class Workflows:
    """The two state machines of the stack, created from the ASL files, and ways to run them."""

    sfn: Any
    run_batch_arn: str
    version_sweep_arn: str
    reanalyze_arn: str
    database_url: str
    backoff_waits: list[float]
    api: Api = field(default_factory=Api)

    # ------------------------------------------------------------ setup through the API

    def create_template(self, **changes: Any) -> dict[str, Any]:
        reply = self.api.post(TEMPLATES, body(**changes))
        assert reply.status == 201, reply.body
        return dict(reply.body)

    # ------------------------------------------------------------ executions

    def start_run(self, template_id: str, **batch: Any) -> str:
        """POST .../runs (store_result starts the RunBatch execution, named by the run id)."""
        reply = self.api.post(f"{TEMPLATES}/{template_id}/runs", batch)
        assert reply.status == 202, reply.body
        return str(reply.body["run_id"])

    def run_execution_arn(self, run_id: str) -> str:
        return self.run_batch_arn.replace(":stateMachine:", ":execution:") + f":{run_id}"

    def wait(self, execution_arn: str, timeout: float = EXECUTION_TIMEOUT) -> dict[str, Any]:
        return dict(wait_for(self.sfn, execution_arn, timeout=timeout))

    def run(
        self, template_id: str, timeout: float = EXECUTION_TIMEOUT, **batch: Any
    ) -> tuple[str, dict[str, Any]]:
        """Start a batch through the API and wait for its execution: (run_id, described execution)."""
        run_id = self.start_run(template_id, **batch)
        return run_id, self.wait(self.run_execution_arn(run_id), timeout)

    def execute(
        self, state_machine_arn: str, execution_input: dict[str, Any], timeout: float = EXECUTION_TIMEOUT
    ) -> dict[str, Any]:
        started = self.sfn.start_execution(  # named: moto 5.2.5 names every unnamed execution "None"
            stateMachineArn=state_machine_arn, name=str(uuid.uuid4()), input=json.dumps(execution_input)
        )
        return self.wait(started["executionArn"], timeout)

    def sweep(self, timeout: float = EXECUTION_TIMEOUT) -> dict[str, Any]:
        return self.execute(self.version_sweep_arn, {}, timeout)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    # ------------------------------------------------------------ what the database holds

    def results(self, run_id: str) -> list[dict[str, Any]]:
        """The run's result rows, each with its request and response read back from the payload
        storage (``payload_error`` says when one could not be)."""
        from prompter import bootstrap
        from prompter.settings import StoreFunctionSettings

        rows = self._rows(select(prompt_results).where(prompt_results.c.run_id == run_id))
        return bootstrap.services(StoreFunctionSettings).payloads.with_payloads(rows)

    def results_of(self, template_id: str) -> list[dict[str, Any]]:
        return self._rows(select(prompt_results).where(prompt_results.c.template_id == template_id))

    def versions(self, template_id: str) -> list[dict[str, Any]]:
        return self._rows(
            select(prompt_versions)
            .where(prompt_versions.c.template_id == template_id)
            .order_by(prompt_versions.c.first_seen_at)
        )

    def _rows(self, stmt: Any) -> list[dict[str, Any]]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return [dict(row._mapping) for row in conn.execute(stmt)]
        finally:
            engine.dispose()


@pytest.fixture
def workflows(
    aws: AwsFakes,
    database_url: str,
    backoff_waits: list[float],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> Workflows:
    import boto3

    install_lambda_seam()
    sfn = boto3.client("stepfunctions")
    arns = create_state_machines(sfn)
    monkeypatch.setenv("PROMPTER_RUN_BATCH_STATE_MACHINE_ARN", arns["prompter-run-batch"])
    monkeypatch.setenv("PROMPTER_VERSION_SWEEP_STATE_MACHINE_ARN", arns["prompter-version-sweep"])
    monkeypatch.setenv("PROMPTER_REANALYZE_STATE_MACHINE_ARN", arns["prompter-reanalyze"])
    monkeypatch.setenv("PROMPTER_EXPORT_STATE_MACHINE_ARN", arns["prompter-export"])
    monkeypatch.setenv("PROMPTER_EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("PROMPTER_BATCH_POLL_SECONDS", "0")  # the Wait before each poll of a provider batch
    runtime.reset()  # the functions read their settings (and the ARNs above) afresh
    return Workflows(
        sfn=sfn,
        run_batch_arn=arns["prompter-run-batch"],
        version_sweep_arn=arns["prompter-version-sweep"],
        reanalyze_arn=arns["prompter-reanalyze"],
        database_url=database_url,
        backoff_waits=backoff_waits,
    )
