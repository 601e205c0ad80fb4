"""The workflows' alarm (SPEC §6, rule 5): failed, timed-out or aborted executions >= 1 in
5 minutes, one alarm per state machine."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration

from infra.constructs.monitoring.catalogue import AlarmSpec, Signal, Total, Window
from infra.dashboards.panels import Series, Source

FAILED_EXECUTIONS = 1.0  # >= 1 failed, timed-out or aborted execution in 5 minutes
FAILED_EXECUTIONS_PERIOD = Duration.minutes(5)

# The executions that ended badly, as the alarm and the Datadog monitor read them.
ENDED_BADLY: tuple[Series, ...] = (
    Series("failed", Source.STATES, "ExecutionsFailed", "Sum", "aws.states.executions_failed"),
    Series("timedOut", Source.STATES, "ExecutionsTimedOut", "Sum", "aws.states.executions_timed_out"),
    Series("aborted", Source.STATES, "ExecutionsAborted", "Sum", "aws.states.executions_aborted"),
)


def execution_alarms(state_machines: Sequence[str]) -> list[AlarmSpec]:
    """``ExecutionsFailed-<name>``, per state machine (by name)."""
    window = Window(FAILED_EXECUTIONS_PERIOD)
    return [
        AlarmSpec(
            f"ExecutionsFailed-{name}",
            "workflows",
            Total(tuple(Signal(series, resource=name) for series in ENDED_BADLY)),
            window,
            threshold=FAILED_EXECUTIONS,
            label=f"{name} failed, timed-out or aborted executions",
            description=f"{name} executions failed, timed out or were aborted (>= "
            f"{FAILED_EXECUTIONS:g} in {window.period.to_minutes():g} min): see the "
            "execution history and the state machine's log group.",
        )
        for name in state_machines
    ]
