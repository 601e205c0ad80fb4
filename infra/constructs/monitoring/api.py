"""The API's alarm (SPEC §6, rule 1): 5xx responses >= 1 % of the stage's requests over 5 minutes
(API Gateway ``5XXError`` / ``Count``), computed only for minutes with a floor of requests."""

from __future__ import annotations

from aws_cdk import Duration

from infra.constructs.monitoring.catalogue import AlarmSpec, Rate, Signal, Window
from infra.dashboards.panels import Series, Source

API_5XX_PERCENT = 1.0  # >= 1 % of requests over 5 minutes: 3 of the 5 one-minute rates
API_5XX_WINDOW = Window(Duration.minutes(1), datapoints=3, periods=5)
API_5XX_MIN_REQUESTS = 20  # per minute: below it a single 5xx is >= 5 %, so no rate is computed

SERVER_ERRORS = Series("errors", Source.API, "5XXError", "Sum", "aws.apigateway.5xxerror")
REQUESTS = Series("requests", Source.API, "Count", "Sum", "aws.apigateway.count")


def api_alarm(stage: str) -> AlarmSpec:
    """``Api5xxRate``: the 5xx share of the deployment stage's requests."""
    window = API_5XX_WINDOW
    return AlarmSpec(
        "Api5xxRate",
        "api",
        Rate(Signal(SERVER_ERRORS), (Signal(REQUESTS),), API_5XX_MIN_REQUESTS),
        window,
        threshold=API_5XX_PERCENT,
        label="5xx % of requests",
        description=f"API 5xx responses are >= {API_5XX_PERCENT:g} % of requests {window.describe()} "
        f"with >= {API_5XX_MIN_REQUESTS} requests a minute (stage {stage}): see the functions' "
        "logs and the API access log.",
    )
