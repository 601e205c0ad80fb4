"""Database alarms: Aurora Serverless v2 capacity at its configured maximum ACU, and connections
near the database's ``max_connections``; RDS Proxy database connections near the proxy's budget
and client connections beyond it. The thresholds are derived from the numbers
``infra/constructs/database.py`` defines, not numbers of their own."""

from __future__ import annotations

import math

from aws_cdk import Duration

from infra.constructs.database import DB_MAX_CONNECTIONS_AT_ONE_ACU, PROXY_CONNECTION_BUDGET
from infra.constructs.monitoring.catalogue import AlarmSpec, Signal, Value, Window
from infra.dashboards.panels import Series, Source

DB_CAPACITY_PERCENT = 90  # of the configured max ACU, on average over 5 minutes, for 15 minutes
DB_CAPACITY_WINDOW = Window(Duration.minutes(5), datapoints=3, periods=3)
DB_CONNECTIONS_PERCENT = 90  # of max_connections at 1 ACU, the floor the budget is set against
PROXY_DB_CONNECTIONS_PERCENT = 90  # of the proxy's budget (its max_connections_percent)
PROXY_CLIENT_CONNECTIONS_PERCENT = 100  # the functions never need more clients than that budget
CONNECTIONS_WINDOW = Window(Duration.minutes(1), datapoints=3, periods=5)

CAPACITY = Series(
    "capacity",
    Source.RDS,
    "ServerlessDatabaseCapacity",
    "Average",
    "aws.rds.serverless_database_capacity",
    rds="cluster",
)
CLUSTER_CONNECTIONS = Series(
    "connections", Source.RDS, "DatabaseConnections", "Maximum", "aws.rds.database_connections", rds="cluster"
)

# The proxy's metric, its Datadog name, its share of the budget, and what reaching it means.
PROXY_CONNECTIONS: tuple[tuple[str, str, int, str], ...] = (
    (
        "DatabaseConnections",
        "aws.rds.proxy.database_connections",
        PROXY_DB_CONNECTIONS_PERCENT,
        "the proxy's pool is nearly used up: borrow timeouts (503 DB_UNAVAILABLE) follow; "
        "look for pinned sessions in the proxy's logs",
    ),
    (
        "ClientConnections",
        "aws.rds.proxy.client_connections",
        PROXY_CLIENT_CONNECTIONS_PERCENT,
        "more clients than the proxy has database connections: with reserved_concurrency "
        "on, something else connects through the proxy or connections leak; without it, "
        "requests may wait for a connection, then answer 503 DB_UNAVAILABLE",
    ),
)


def database_alarms(max_acu: float) -> list[AlarmSpec]:
    """``DbCapacity``, ``DbConnections``, ``ProxyDatabaseConnections``, ``ProxyClientConnections``
    for a cluster of at most ``max_acu``."""
    specs = _cluster_alarms(max_acu)
    window = CONNECTIONS_WINDOW
    for metric_name, datadog_name, percent, meaning in PROXY_CONNECTIONS:
        limit = math.ceil(PROXY_CONNECTION_BUDGET * percent / 100)
        series = Series("connections", Source.RDS, metric_name, "Maximum", datadog_name, rds="proxy")
        specs.append(
            AlarmSpec(
                f"Proxy{metric_name}",
                "database",
                Value(Signal(series)),
                window,
                threshold=limit,
                description=f"RDS Proxy {metric_name} >= {limit:g} ({percent} % of its budget of "
                f"{PROXY_CONNECTION_BUDGET} database connections) {window.describe()}: {meaning}.",
            )
        )
    return specs


def _cluster_alarms(max_acu: float) -> list[AlarmSpec]:
    capacity = max_acu * DB_CAPACITY_PERCENT / 100
    connections = math.ceil(DB_MAX_CONNECTIONS_AT_ONE_ACU * DB_CONNECTIONS_PERCENT / 100)
    return [
        AlarmSpec(
            "DbCapacity",
            "database",
            Value(Signal(CAPACITY)),
            DB_CAPACITY_WINDOW,
            threshold=capacity,
            description=f"Aurora Serverless v2 capacity averages >= {DB_CAPACITY_PERCENT} % of its max "
            f"{max_acu:g} ACU ({capacity:g} ACU) {DB_CAPACITY_WINDOW.describe()}: the database is at "
            "its ceiling; raise db_max_acu (cdk.json) or find the load.",
        ),
        AlarmSpec(
            "DbConnections",
            "database",
            Value(Signal(CLUSTER_CONNECTIONS)),
            CONNECTIONS_WINDOW,
            threshold=connections,
            description=f"The cluster holds >= {connections:g} connections ({DB_CONNECTIONS_PERCENT} % of "
            f"the {DB_MAX_CONNECTIONS_AT_ONE_ACU} Aurora allows at 1 ACU) "
            f"{CONNECTIONS_WINDOW.describe()}: new connections will soon be refused; look for "
            "sessions outside the proxy.",
        ),
    ]
