"""Every custom metric either dashboard reads is one the code really prints, under the dimensions
the dashboard addresses it by: checked against the EMF documents of the handler scenario
(``conftest.py``), not against the catalogue alone.
"""

from __future__ import annotations

import json
import re

from infra.dashboards import datadog
from infra.dashboards.panels import PANELS, Source, custom_dimensions, groups
from prompter.observability import DIMENSION_VALUES, MetricName
from tests.observability.conftest import Emitted

DEFAULT = {"service", "env"}


def test_every_cloudwatch_series_is_emitted_as_addressed(emitted: Emitted) -> None:
    for panel in PANELS:
        if panel.by == "state_machine":
            continue  # AWS/States metrics only
        for series in (s for s in panel.series if s.source is Source.CUSTOM):
            observed = emitted.observed.get(series.metric)
            assert observed, f"{panel.title}: {series.metric} is never emitted"
            services = emitted.services(series.metric)
            keys = {frozenset(k for k, _ in o.dimensions) for o in observed}
            for group in groups(panel):
                for dims in custom_dimensions(series, panel.by, group, emitted.env):
                    assert dims["env"] == emitted.env
                    assert dims["service"] in services, (panel.title, series.metric, dims)
                    assert keys == {frozenset(set(dims) - DEFAULT)}, (panel.title, series.metric, keys)


def test_every_emitted_dimension_value_has_a_line(emitted: Emitted) -> None:
    # What the code emits under a real provider or table is one of the values the dashboard (and
    # the alarms) enumerate: nothing emitted is invisible on the board.
    for name in MetricName:
        for key, values in DIMENSION_VALUES.items():
            seen = {value for _, value in emitted.dimension_values(name, key)}
            assert seen <= {*values, "fake"}, (name, key, seen - set(values))
    tables = {value for _, value in emitted.dimension_values(MetricName.DB_UNIQUE_VIOLATION, "table")}
    assert tables == set(DIMENSION_VALUES["table"])


def test_every_datadog_query_reads_an_emitted_metric(emitted: Emitted) -> None:
    board = json.loads(datadog.OUTPUT.read_text("utf-8"))
    by_datadog_name = {f"prompter.{datadog.snake_case(str(name))}": name for name in MetricName}
    queried = 0
    for widget in board["widgets"]:
        for request in widget["definition"]["requests"]:
            for query in request["queries"]:
                found = re.match(
                    r"\w+:(prompter\.[a-z_]+)(?:\.(?:sum|samplecount|p95))?\{[^}]*\}(?: by \{(\w+)\})?",
                    query["query"],
                )
                if found is None:
                    continue
                name = by_datadog_name[found.group(1)]
                observed = emitted.observed.get(str(name))
                assert observed, f"{widget['definition']['title']}: {name} is never emitted"
                tag = found.group(2)
                if tag and tag != "service":
                    assert all(tag in {k for k, _ in o.dimensions} for o in observed), (name, tag)
                queried += 1
    assert queried >= len(MetricName)
