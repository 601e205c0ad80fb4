"""Step Functions: starting an execution and asking how one ended.

The one place Step Functions' SDK errors become domain errors: a start that fails is
:class:`WorkflowUnavailable` (the caller undoes what it prepared and answers 503); a status that
cannot be read right now is None (the stored rows are the truth, and the caller leaves them as
they are).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from prompter.errors import WorkflowUnavailable
from prompter.observability import logger

EXECUTION_NOT_FOUND = "NOT_FOUND"  # Step Functions has no such execution (expired, or never started)


class Workflows:
    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client

    def start(self, state_machine_arn: str, name: str, execution_input: dict[str, Any]) -> str:
        """Start an execution named ``name``; its ARN."""
        try:
            answer = self._client().start_execution(
                stateMachineArn=state_machine_arn,
                name=name,
                input=json.dumps(execution_input, ensure_ascii=False, separators=(",", ":")),
            )
        except Exception as error:  # any SDK or transport failure: the workflow did not start
            raise WorkflowUnavailable("the workflow could not be started; try again shortly") from error
        return str(answer["executionArn"])

    def describe(self, execution_arn: str) -> dict[str, Any] | None:
        """``{status, input}`` of an execution (its input parsed); None when Step Functions has no
        such execution; :class:`WorkflowUnavailable` when it cannot say right now."""
        try:
            described = self._client().describe_execution(executionArn=execution_arn)
        except Exception as error:
            if type(error).__name__ in ("ExecutionDoesNotExist", "InvalidArn"):
                return None
            raise WorkflowUnavailable("the workflow's state could not be read; try again shortly") from error
        raw = described.get("input")
        return {"status": str(described["status"]), "input": json.loads(raw) if raw else {}}

    def status(self, execution_arn: str) -> str | None:
        """The execution's status; :data:`EXECUTION_NOT_FOUND` when Step Functions has no such
        execution; None when it cannot say right now."""
        try:
            client = self._client()
            return str(client.describe_execution(executionArn=execution_arn)["status"])
        except Exception as error:
            if type(error).__name__ == "ExecutionDoesNotExist":
                return EXECUTION_NOT_FOUND
            logger.warning("execution status unavailable", extra={"action": "get_run"})
            return None
