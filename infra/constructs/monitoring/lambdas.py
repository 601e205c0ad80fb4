"""Lambda ``Errors`` and ``Throttles`` alarms, per function (the migrations function included), on
every version of the function (FunctionName dimension).

Their share of invocations, above a traffic floor; or, for a function invoked once per deploy (the
migrations custom resource), any at all: every error or throttle there is a failed or stalled
deploy, and no traffic floor would ever be reached.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration

from infra.constructs.function_context import MIGRATE_FUNCTION
from infra.constructs.monitoring.catalogue import AlarmSpec, Rate, Signal, Value, Window
from infra.dashboards.panels import Series, Source

LAMBDA_ERROR_PERCENT = 5.0  # unhandled errors (crash, timeout, out of memory, a task error)
LAMBDA_THROTTLE_PERCENT = 1.0  # invocations refused at the reserved or the account's concurrency
LAMBDA_WINDOW = Window(Duration.minutes(1), datapoints=3, periods=5)
LAMBDA_MIN_INVOCATIONS = 20  # per minute, as for the API's 5xx
ONCE_PER_DEPLOY: frozenset[str] = frozenset({MIGRATE_FUNCTION})
ONCE_PER_DEPLOY_WINDOW = Window(Duration.minutes(5))


def _lambda(id_: str, metric: str) -> Series:
    return Series(id_, Source.LAMBDA, metric, "Sum", f"aws.lambda.{metric.lower()}")


ERRORS, THROTTLES, INVOCATIONS = (
    _lambda(id_, metric)
    for id_, metric in (("errors", "Errors"), ("throttles", "Throttles"), ("invocations", "Invocations"))
)


def function_alarms(functions: Sequence[str]) -> list[AlarmSpec]:
    """``LambdaErrors-<name>`` and ``LambdaThrottles-<name>`` for each function (by name)."""
    specs: list[AlarmSpec] = []
    for name in functions:
        specs += _once_per_deploy_alarms(name) if name in ONCE_PER_DEPLOY else _rate_alarms(name)
    return specs


def _once_per_deploy_alarms(name: str) -> list[AlarmSpec]:
    return [
        AlarmSpec(
            f"Lambda{kind}-{name}",
            "lambdas",
            Value(Signal(series, (name,))),
            ONCE_PER_DEPLOY_WINDOW,
            threshold=1,
            description=f"The {name} function reported {kind.lower()} (it runs once per deploy, "
            "so every one is a failed or stalled deploy): see its log group and the stack's "
            "events.",
        )
        for kind, series in (("Errors", ERRORS), ("Throttles", THROTTLES))
    ]


def _rate_alarms(name: str) -> list[AlarmSpec]:
    window, floor = LAMBDA_WINDOW, LAMBDA_MIN_INVOCATIONS
    errors, throttles, invocations = (Signal(s, (name,)) for s in (ERRORS, THROTTLES, INVOCATIONS))
    return [
        AlarmSpec(
            f"LambdaErrors-{name}",
            "lambdas",
            Rate(errors, (invocations,), floor),
            window,
            threshold=LAMBDA_ERROR_PERCENT,
            label=f"{name} errors % of invocations",
            description=f"{name} invocations end in an unhandled error (crash, timeout, out of memory, "
            f"or a task error Step Functions retries) >= {LAMBDA_ERROR_PERCENT:g} % of the time "
            f"{window.describe()} with >= {floor} invocations a minute: see its log group.",
        ),
        AlarmSpec(
            f"LambdaThrottles-{name}",
            "lambdas",
            # a throttled request is not an invocation: the requests are both
            Rate(throttles, (invocations, throttles), floor),
            window,
            threshold=LAMBDA_THROTTLE_PERCENT,
            label=f"{name} throttled % of invocation requests",
            description=f"{name} refuses >= {LAMBDA_THROTTLE_PERCENT:g} % of invocation requests at "
            f"its reserved concurrency, or the account's, {window.describe()} with >= {floor} "
            "requests a minute: raise the reserved_concurrency context within the RDS Proxy "
            "connection budget, or the account's Lambda concurrency quota, or find the burst.",
        ),
    ]
