"""The API's alarm (SPEC §6, rule 1): 5xx responses >= 1 % of the stage's requests over 5 minutes
(API Gateway ``5XXError`` / ``Count``), computed only for minutes with a floor of requests."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw

from infra.constructs.monitoring.alarms import AlarmSet, Window

API_5XX_PERCENT = 1.0  # >= 1 % of requests over 5 minutes: 3 of the 5 one-minute rates
API_5XX_WINDOW = Window(Duration.minutes(1), datapoints=3, periods=5)
API_5XX_MIN_REQUESTS = 20  # per minute: below it a single 5xx is >= 5 %, so no rate is computed


def add_api_alarms(alarms: AlarmSet, rest_api: apigw.RestApi) -> None:
    """``Api5xxRate``: the 5xx share of the deployment stage's requests."""
    stage, window = rest_api.deployment_stage, API_5XX_WINDOW
    using = {
        "errors": stage.metric_server_error(statistic="Sum", period=window.period),
        "requests": stage.metric_count(statistic="Sum", period=window.period),
    }
    alarms.add_rate(
        "Api5xxRate",
        using,
        window,
        failures="errors",
        attempts=["requests"],
        floor=API_5XX_MIN_REQUESTS,
        label="5xx % of requests",
        threshold=API_5XX_PERCENT,
        description=f"API 5xx responses are >= {API_5XX_PERCENT:g} % of requests {window.describe()} "
        f"with >= {API_5XX_MIN_REQUESTS} requests a minute (stage {alarms.stage}): see the functions' "
        "logs and the API access log.",
    )
