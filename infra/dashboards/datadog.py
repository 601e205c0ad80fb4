"""The rollout board as a Datadog dashboard, on the metrics as Datadog receives them from CloudWatch.

``python -m infra.dashboards.datadog`` (``make dashboards``) writes ``prompter_rollout.datadog.json``
beside this file; import it with Datadog's "Import dashboard JSON" or ``POST /api/v1/dashboard``.

How the names arrive (Datadog's AWS integration, by CloudWatch Metric Streams or by polling, with
custom metrics collected for the ``Prompter`` namespace):

- a custom metric ``Prompter/<MetricName>`` becomes ``prompter.<metric_name>``: the CamelCase name
  in snake case, lower case (``OpenAIFingerprintPresent`` → ``open_aifingerprint_present``); its
  statistics arrive as ``.sum``, ``.samplecount``, ``.minimum``, ``.maximum`` and the average under
  the bare name; a percentile (``.p95``) arrives only when the metric stream is configured with that
  additional statistic;
- the EMF dimensions become tags: ``env:<stage>``, ``service:prompter-<function>``,
  ``provider:<provider>``, ``table:<table>``;
- AWS service metrics keep the integration's names (``aws.apigateway.count``,
  ``aws.states.execution_time.p95``, ``aws.lambda.errors``, ``aws.rds.proxy.client_connections``,
  ...) and carry their dimensions (``apiname``, ``stage``, ``statemachinearn``, ``tablename``,
  ``functionname``, ``dbclusteridentifier``, ``proxyname``, ``queuename``) plus the resources'
  AWS tags (the stack tags every resource ``project:prompter`` and ``stage:<stage>``).

Template variables: ``$env`` (the stage) and ``$service`` (one function's metrics, ``*`` for all).
API Gateway panels follow ``$env`` through the API's name and stage; ``$service`` narrows the
custom metrics.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from infra.dashboards.panels import PANELS, Panel, Series, Source, rewrite
from prompter.observability import NAMESPACE

OUTPUT = Path(__file__).resolve().parent / "prompter_rollout.datadog.json"
TITLE = "Prompter rollout (API, probes, workflows, results)"
DEFAULT_ENV = "dev"  # the default stage (cdk.json)

_SUFFIX = {"Sum": ".sum", "SampleCount": ".samplecount", "Average": "", "Maximum": ".maximum", "p95": ".p95"}
_FILTERS = {
    Source.CUSTOM: "$env,$service",
    Source.API: "apiname:prompter-$env.value,stage:$env.value",
    Source.STATES: "project:prompter,stage:$env.value",
    Source.DYNAMODB: "project:prompter,stage:$env.value",
    Source.LAMBDA: "project:prompter,stage:$env.value",
    Source.RDS: "project:prompter,stage:$env.value",
    Source.SQS: "project:prompter,stage:$env.value",
}
_BY_TAG = {
    "provider": "provider",
    "table": "table",
    "service": "service",
    "state_machine": "statemachinearn",
    "function": "functionname",
    "queue": "queuename",
}


def snake_case(name: str) -> str:
    """CloudWatch's CamelCase metric name as Datadog names it."""
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def metric_name(series: Series) -> str:
    """The Datadog metric a series is read from."""
    if series.datadog is not None:
        return series.datadog
    if series.source is not Source.CUSTOM:
        raise ValueError(f"{series.source}/{series.metric}: an AWS service metric needs its Datadog name")
    return f"{NAMESPACE.lower()}.{snake_case(series.metric)}{_SUFFIX[series.stat]}"


def query(series: Series, panel: Panel) -> str:
    counted = series.stat in ("Sum", "SampleCount")
    aggregation = "sum" if counted else "avg"
    by = f" by {{{_BY_TAG[panel.by]}}}" if panel.by else ""
    return (
        f"{aggregation}:{metric_name(series)}{{{_FILTERS[series.source]}}}{by}"
        f".rollup({aggregation}, {panel.period})"
    )


def widget(panel: Panel) -> dict[str, Any]:
    scalar = panel.kind == "value"
    queries: list[dict[str, Any]] = []
    for series in panel.series:
        entry: dict[str, Any] = {"name": series.id, "data_source": "metrics", "query": query(series, panel)}
        if scalar:
            entry["aggregator"] = "avg"
        queries.append(entry)
    ids = {s.id: s.id for s in panel.series}
    formulas = [
        {
            "alias": line.label,
            "formula": rewrite(
                line.formula, panel.period, series=ids, zero=lambda query: f"default_zero({query})"
            ),
        }
        for line in panel.lines
    ]
    request: dict[str, Any] = {
        "response_format": "scalar" if scalar else "timeseries",
        "queries": queries,
        "formulas": formulas,
    }
    definition: dict[str, Any] = {"title": panel.title, "type": "query_value" if scalar else "timeseries"}
    if scalar:
        definition |= {"requests": [request], "autoscale": True, "precision": 2, "custom_unit": panel.unit}
    else:
        request["display_type"] = "line"
        definition |= {"requests": [request], "show_legend": True, "legend_layout": "auto"}
    return {"definition": definition}


def dashboard() -> dict[str, Any]:
    return {
        "title": TITLE,
        "description": (
            "Prompter's rollout board: the API (API Gateway), probes and provider versions, workflows "
            "(Step Functions), results, monitors and their alerts, from the Prompter CloudWatch "
            "namespace. Generated from "
            "infra/dashboards/panels.py; the CloudWatch dashboard of the stack has the same panels."
        ),
        "layout_type": "ordered",
        "notify_list": [],
        "template_variables": [
            {"name": "env", "prefix": "env", "available_values": [], "default": DEFAULT_ENV},
            {"name": "service", "prefix": "service", "available_values": [], "default": "*"},
        ],
        "widgets": [widget(panel) for panel in PANELS],
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    OUTPUT.write_text(render(dashboard()), encoding="utf-8")
    print(f"wrote {OUTPUT.name}")


if __name__ == "__main__":
    main()
