"""Database alarms: Aurora Serverless v2 capacity at its configured maximum ACU, and connections
near the database's ``max_connections``; RDS Proxy database connections near the proxy's budget
and client connections beyond it. The thresholds are derived from the numbers
``infra/constructs/database.py`` defines, not numbers of their own."""

from __future__ import annotations

import math

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from infra.constructs.database import (
    DB_MAX_CONNECTIONS_AT_ONE_ACU,
    PROXY_CONNECTION_BUDGET,
    PrompterDatabase,
)
from infra.constructs.monitoring.alarms import AlarmSet, Window

DB_CAPACITY_PERCENT = 90  # of the configured max ACU, on average over 5 minutes, for 15 minutes
DB_CAPACITY_WINDOW = Window(Duration.minutes(5), datapoints=3, periods=3)
DB_CONNECTIONS_PERCENT = 90  # of max_connections at 1 ACU, the floor the budget is set against
PROXY_DB_CONNECTIONS_PERCENT = 90  # of the proxy's budget (its max_connections_percent)
PROXY_CLIENT_CONNECTIONS_PERCENT = 100  # the functions never need more clients than that budget
CONNECTIONS_WINDOW = Window(Duration.minutes(1), datapoints=3, periods=5)

# The proxy's metric, its share of the budget, and what reaching it means.
PROXY_CONNECTIONS: tuple[tuple[str, int, str], ...] = (
    (
        "DatabaseConnections",
        PROXY_DB_CONNECTIONS_PERCENT,
        "the proxy's pool is nearly used up: borrow timeouts (503 DB_UNAVAILABLE) follow; "
        "look for pinned sessions in the proxy's logs",
    ),
    (
        "ClientConnections",
        PROXY_CLIENT_CONNECTIONS_PERCENT,
        "more clients than the proxy has database connections: with reserved_concurrency "
        "on, something else connects through the proxy or connections leak; without it, "
        "requests may wait for a connection, then answer 503 DB_UNAVAILABLE",
    ),
)


def add_database_alarms(alarms: AlarmSet, database: PrompterDatabase) -> None:
    """``DbCapacity``, ``DbConnections``, ``ProxyDatabaseConnections``, ``ProxyClientConnections``."""
    _cluster_alarms(alarms, database)
    window = CONNECTIONS_WINDOW
    for metric_name, percent, meaning in PROXY_CONNECTIONS:
        limit = math.ceil(PROXY_CONNECTION_BUDGET * percent / 100)
        alarms.add(
            f"Proxy{metric_name}",
            cloudwatch.Metric(
                namespace="AWS/RDS",
                metric_name=metric_name,
                dimensions_map={"ProxyName": database.proxy.db_proxy_name},
                statistic="Maximum",
                period=window.period,
            ),
            window,
            threshold=limit,
            description=f"RDS Proxy {metric_name} >= {limit:g} ({percent} % of its budget of "
            f"{PROXY_CONNECTION_BUDGET} database connections) {window.describe()}: {meaning}.",
        )


def _cluster_alarms(alarms: AlarmSet, database: PrompterDatabase) -> None:
    cluster, max_acu = database.cluster, database.options.max_acu
    capacity = max_acu * DB_CAPACITY_PERCENT / 100
    connections = math.ceil(DB_MAX_CONNECTIONS_AT_ONE_ACU * DB_CONNECTIONS_PERCENT / 100)
    for alarm_id, metric, window, threshold, description in (
        (
            "DbCapacity",
            cluster.metric_serverless_database_capacity(
                statistic="Average", period=DB_CAPACITY_WINDOW.period
            ),
            DB_CAPACITY_WINDOW,
            capacity,
            f"Aurora Serverless v2 capacity averages >= {DB_CAPACITY_PERCENT} % of its max "
            f"{max_acu:g} ACU ({capacity:g} ACU) {DB_CAPACITY_WINDOW.describe()}: the database is at "
            "its ceiling; raise db_max_acu (cdk.json) or find the load.",
        ),
        (
            "DbConnections",
            cluster.metric_database_connections(statistic="Maximum", period=CONNECTIONS_WINDOW.period),
            CONNECTIONS_WINDOW,
            connections,
            f"The cluster holds >= {connections:g} connections ({DB_CONNECTIONS_PERCENT} % of the "
            f"{DB_MAX_CONNECTIONS_AT_ONE_ACU} Aurora allows at 1 ACU) {CONNECTIONS_WINDOW.describe()}: "
            "new connections will soon be refused; look for sessions outside the proxy.",
        ),
    ):
        alarms.add(alarm_id, metric, window, threshold=threshold, description=description)
