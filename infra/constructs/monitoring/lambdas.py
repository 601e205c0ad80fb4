"""Lambda ``Errors`` and ``Throttles`` alarms, per function (the migrations function included), on
every version of the function (FunctionName dimension).

Their share of invocations, above a traffic floor; or, for a function invoked once per deploy (the
migrations custom resource), any at all: every error or throttle there is a failed or stalled
deploy, and no traffic floor would ever be reached.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_

from infra.constructs.function_context import MIGRATE_FUNCTION
from infra.constructs.monitoring.alarms import AlarmSet, Window

LAMBDA_ERROR_PERCENT = 5.0  # unhandled errors (crash, timeout, out of memory, a task error)
LAMBDA_THROTTLE_PERCENT = 1.0  # invocations refused at the reserved or the account's concurrency
LAMBDA_WINDOW = Window(Duration.minutes(1), datapoints=3, periods=5)
LAMBDA_MIN_INVOCATIONS = 20  # per minute, as for the API's 5xx
ONCE_PER_DEPLOY: frozenset[str] = frozenset({MIGRATE_FUNCTION})
ONCE_PER_DEPLOY_WINDOW = Window(Duration.minutes(5))


def add_function_alarms(alarms: AlarmSet, functions: Mapping[str, lambda_.IFunction]) -> None:
    """``LambdaErrors-<name>`` and ``LambdaThrottles-<name>`` for each function (by name)."""
    for name, function in functions.items():
        if name in ONCE_PER_DEPLOY:
            _once_per_deploy_alarms(alarms, name, function)
        else:
            _rate_alarms(alarms, name, function)


def _once_per_deploy_alarms(alarms: AlarmSet, name: str, function: lambda_.IFunction) -> None:
    window = ONCE_PER_DEPLOY_WINDOW
    for kind, metric in (
        ("Errors", function.metric_errors(statistic="Sum", period=window.period)),
        ("Throttles", function.metric_throttles(statistic="Sum", period=window.period)),
    ):
        alarms.add(
            f"Lambda{kind}-{name}",
            metric,
            window,
            threshold=1,
            description=f"The {name} function reported {kind.lower()} (it runs once per deploy, "
            "so every one is a failed or stalled deploy): see its log group and the stack's "
            "events.",
        )


def _rate_alarms(alarms: AlarmSet, name: str, function: lambda_.IFunction) -> None:
    window, floor = LAMBDA_WINDOW, LAMBDA_MIN_INVOCATIONS
    errors = function.metric_errors(statistic="Sum", period=window.period)
    throttles = function.metric_throttles(statistic="Sum", period=window.period)
    invocations = function.metric_invocations(statistic="Sum", period=window.period)
    alarms.add_rate(
        f"LambdaErrors-{name}",
        {"errors": errors, "invocations": invocations},
        window,
        failures="errors",
        attempts=["invocations"],
        floor=floor,
        label=f"{name} errors % of invocations",
        threshold=LAMBDA_ERROR_PERCENT,
        description=f"{name} invocations end in an unhandled error (crash, timeout, out of memory, "
        f"or a task error Step Functions retries) >= {LAMBDA_ERROR_PERCENT:g} % of the time "
        f"{window.describe()} with >= {floor} invocations a minute: see its log group.",
    )
    alarms.add_rate(
        f"LambdaThrottles-{name}",
        {"throttles": throttles, "invocations": invocations},
        window,
        failures="throttles",
        attempts=["invocations", "throttles"],  # a throttled request is not an invocation
        floor=floor,
        label=f"{name} throttled % of invocation requests",
        threshold=LAMBDA_THROTTLE_PERCENT,
        description=f"{name} refuses >= {LAMBDA_THROTTLE_PERCENT:g} % of invocation requests at "
        f"its reserved concurrency, or the account's, {window.describe()} with >= {floor} "
        "requests a minute: raise the reserved_concurrency context within the RDS Proxy "
        "connection budget, or the account's Lambda concurrency quota, or find the burst.",
    )
