"""The workflows' alarm (SPEC §6, rule 5): failed, timed-out or aborted executions >= 1 in
5 minutes, one alarm per state machine."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn

from infra.constructs.monitoring.alarms import AlarmSet, Window, expression

FAILED_EXECUTIONS = 1.0  # >= 1 failed, timed-out or aborted execution in 5 minutes
FAILED_EXECUTIONS_PERIOD = Duration.minutes(5)


def add_execution_alarms(alarms: AlarmSet, state_machines: Mapping[str, sfn.IStateMachine]) -> None:
    """``ExecutionsFailed-<name>``, per state machine (by name)."""
    window = Window(FAILED_EXECUTIONS_PERIOD)
    for name, machine in state_machines.items():
        using = {
            "failed": machine.metric_failed(statistic="Sum", period=window.period),
            "timedOut": machine.metric_timed_out(statistic="Sum", period=window.period),
            "aborted": machine.metric_aborted(statistic="Sum", period=window.period),
        }
        alarms.add(
            f"ExecutionsFailed-{name}",
            expression(
                "FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)",
                using,
                window,
                f"{name} failed, timed-out or aborted executions",
            ),
            window,
            threshold=FAILED_EXECUTIONS,
            description=f"{name} executions failed, timed out or were aborted (>= "
            f"{FAILED_EXECUTIONS:g} in {window.period.to_minutes():g} min): see the "
            "execution history and the state machine's log group.",
        )
