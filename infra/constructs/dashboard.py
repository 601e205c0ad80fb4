"""The CloudWatch dashboard: the rollout board (``infra/dashboards/panels.py``) on this stage.

Each panel becomes a widget (a single value or a graph); each of its lines one metric-math
expression per group (provider, table, service, state machine, function or queue), over the
metrics exactly as they are emitted: custom metrics by their full dimension set (``service``,
``env`` = the stage, and the metric's own dimensions), summed where a panel does not split by a
dimension; API Gateway metrics by the API's name and stage; Step Functions metrics by state machine
ARN; DynamoDB metrics by the idempotency table's name; Lambda metrics by function name (every
version); RDS metrics by the cluster's identifier or the proxy's name; SQS metrics by the
dead-letter queue's name. The same panels render the Datadog dashboard, so the two boards match.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.constructs.watched import Watched
from infra.dashboards.panels import (
    PANELS,
    Panel,
    Series,
    Source,
    custom_dimensions,
    groups,
    identifiers,
    rewrite,
)

VALUE_WIDTH, VALUE_HEIGHT = 6, 4
GRAPH_WIDTH, GRAPH_HEIGHT = 12, 6


class PrompterDashboard(Construct):
    """``self.dashboard``: one widget per panel, the board's single values first."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        watched: Watched,
        panels: Sequence[Panel] = PANELS,
    ) -> None:
        """A panel whose resources ``watched`` leaves out is left out."""
        super().__init__(scope, construct_id)
        self.stage = stage
        self._rest_api = watched.rest_api
        self._state_machines = watched.state_machines
        self._table = watched.idempotency_table
        self._functions = watched.functions
        self._database = watched.database
        self._queues = watched.dead_letter_queues
        panels = [p for p in panels if self._has_resources(p)]
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"prompter-{stage}-rollout",
            default_interval=Duration.hours(3),
        )
        values = [self._widget(p) for p in panels if p.kind == "value"]
        graphs = [self._widget(p) for p in panels if p.kind == "timeseries"]
        if values:
            self.dashboard.add_widgets(*values)
        for i in range(0, len(graphs), 2):
            self.dashboard.add_widgets(*graphs[i : i + 2])

    # ---------------------------------------------------------------- panels → widgets

    def _widget(self, panel: Panel) -> cloudwatch.IWidget:
        expressions = [
            self._expression(panel, line.label, line.formula, group, index)
            for line in panel.lines
            for index, group in enumerate(self._groups(panel))
        ]
        if panel.kind == "value":
            return cloudwatch.SingleValueWidget(
                title=panel.title,
                metrics=expressions,
                width=VALUE_WIDTH,
                height=VALUE_HEIGHT,
                full_precision=False,
            )
        return cloudwatch.GraphWidget(
            title=panel.title,
            left=expressions,
            width=GRAPH_WIDTH,
            height=GRAPH_HEIGHT,
            left_y_axis=cloudwatch.YAxisProps(label=panel.unit, show_units=False, min=0),
            legend_position=cloudwatch.LegendPosition.BOTTOM,
        )

    def _has_resources(self, panel: Panel) -> bool:
        sources = {s.source for s in panel.series}
        return not (
            (Source.LAMBDA in sources and not self._functions)
            or (Source.RDS in sources and self._database is None)
            or (Source.DYNAMODB in sources and self._table is None)
            or (Source.SQS in sources and not self._queues)
        )

    def _groups(self, panel: Panel) -> Sequence[str | None]:
        if panel.by == "state_machine":
            return sorted(self._state_machines)
        if panel.by == "function":
            return sorted(self._functions)
        if panel.by == "queue":
            return sorted(self._queues)
        return groups(panel)

    def _expression(
        self, panel: Panel, label: str, formula: str, group: str | None, index: int
    ) -> cloudwatch.MathExpression:
        using: dict[str, cloudwatch.IMetric] = {}
        texts: dict[str, str] = {}  # series id -> its text in the expression
        zeroed: dict[str, str] = {}  # that text -> the text with missing points as 0
        used = set(identifiers(formula))
        for series in (s for s in panel.series if s.id in used):
            metrics = self._metrics(series, panel, group)
            ids = [f"{series.id}_{index}_{i}" for i in range(len(metrics))]
            using.update(zip(ids, metrics, strict=True))
            if len(ids) == 1:
                text = ids[0]
                zeroed[text] = f"FILL({text}, 0)"
            else:  # emitted under several dimension sets: their sum, each missing point as 0
                text = "(" + " + ".join(f"FILL({i}, 0)" for i in ids) + ")"
                zeroed[text] = text
            texts[series.id] = text
        # Rates divide by PERIOD() of a metric they read: right at whatever period the dashboard is
        # viewed (CloudWatch widens it for long time ranges), where a number of seconds would not be.
        period = f"PERIOD({next(iter(using))})"
        return cloudwatch.MathExpression(
            expression=rewrite(formula, period, series=texts, zero=zeroed.__getitem__),
            using_metrics=using,
            label=label if group is None else f"{label}: {group}",
            period=Duration.seconds(panel.period),
        )

    def _metrics(self, series: Series, panel: Panel, group: str | None) -> list[cloudwatch.IMetric]:
        period = Duration.seconds(panel.period)

        def metric(dimensions: dict[str, str]) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=str(series.source),
                metric_name=series.metric,
                dimensions_map=dimensions,
                statistic=series.stat,
                period=period,
            )

        if series.source is Source.CUSTOM:
            return [metric(d) for d in custom_dimensions(series, panel.by, group, self.stage)]
        if series.source is Source.API:
            stage = self._rest_api.deployment_stage
            return [metric({"ApiName": self._rest_api.rest_api_name, "Stage": stage.stage_name})]
        if series.source is Source.STATES:
            names = [group] if panel.by == "state_machine" and group else sorted(self._state_machines)
            return [metric({"StateMachineArn": self._state_machines[n].state_machine_arn}) for n in names]
        if series.source is Source.LAMBDA:
            names = [group] if panel.by == "function" and group else sorted(self._functions)
            return [metric({"FunctionName": self._functions[n].function_name}) for n in names]
        if series.source is Source.SQS:
            names = [group] if panel.by == "queue" and group else sorted(self._queues)
            return [metric({"QueueName": self._queues[n].queue_name}) for n in names]
        if series.source is Source.RDS:
            assert self._database is not None  # panels without their resources are left out
            if series.rds == "proxy":
                return [metric({"ProxyName": self._database.proxy.db_proxy_name})]
            return [metric({"DBClusterIdentifier": self._database.cluster.cluster_identifier})]
        assert self._table is not None
        return [metric({"TableName": self._table.table_name})]
