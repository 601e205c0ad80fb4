"""Reserved concurrency is off by default, so the stack deploys on an account with Lambda's default
concurrency quota (Lambda keeps 100 unreserved); the ``reserved_concurrency`` context turns it on,
within the RDS Proxy's connection budget."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import cdk_json_context
from infra.constructs.database import PROXY_CONNECTION_BUDGET
from infra.constructs.function_context import (
    ALL_FUNCTIONS,
    DB_POOL_SIZE,
    MIGRATE_CONCURRENCY,
    MIGRATE_FUNCTION,
    RESERVED_CONCURRENCY,
    reserved_concurrency_of,
)
from infra.stack import PrompterStack
from tests.infra.helpers import function_named, only, resources


def reserved(template: dict[str, Any]) -> dict[str, Any]:
    return {
        name: function_named(template, name)[1]["Properties"].get("ReservedConcurrentExecutions")
        for name in ALL_FUNCTIONS
    }


@pytest.fixture(scope="module")
def reserving() -> dict[str, Any]:
    """The stack synthesised as `cdk deploy -c 'reserved_concurrency={"store_result": 30}'` does."""
    context = {**cdk_json_context(), "reserved_concurrency": '{"store_result": 30}'}
    stack = PrompterStack(cdk.App(context=context), "Prompter-reserving", stage="reserving")
    return dict(Template.from_stack(stack).to_json())


def test_cdk_json_leaves_concurrency_unreserved() -> None:
    assert cdk_json_context()["reserved_concurrency"] is False


def test_by_default_no_function_reserves_concurrency(template: dict[str, Any]) -> None:
    functions = resources(template, "AWS::Lambda::Function")
    assert len(functions) >= len(ALL_FUNCTIONS)
    assert [k for k, f in functions.items() if "ReservedConcurrentExecutions" in f["Properties"]] == []


def test_the_context_reserves_the_numbers_it_names_and_the_defaults_for_the_rest(
    reserving: dict[str, Any],
) -> None:
    assert reserved(reserving) == {
        "create_template": RESERVED_CONCURRENCY["create_template"],
        "probe_provider": RESERVED_CONCURRENCY["probe_provider"],
        "store_result": 30,
        "monitors": RESERVED_CONCURRENCY["monitors"],
        MIGRATE_FUNCTION: MIGRATE_CONCURRENCY,
        "deliver_alerts": RESERVED_CONCURRENCY["deliver_alerts"],
        "export": RESERVED_CONCURRENCY["export"],
    }
    assert sum(reserved(reserving).values()) * DB_POOL_SIZE <= PROXY_CONNECTION_BUDGET


@pytest.mark.parametrize("value", [None, False, "false", "0", "no"])
def test_off(value: object) -> None:
    assert reserved_concurrency_of(value) is None


@pytest.mark.parametrize("value", [True, "true", "1", "yes", {}, "{}"])
def test_on_reserves_the_defaults_within_the_budget(value: object) -> None:
    defaults = reserved_concurrency_of(value)
    assert defaults == {
        "create_template": 20,
        "probe_provider": 15,
        "store_result": 15,
        "monitors": 5,
        MIGRATE_FUNCTION: 1,
        "deliver_alerts": 5,
        "export": 4,
    }
    # Every function has a number (the synth looks each one up).
    assert set(defaults) == set(ALL_FUNCTIONS)
    assert sum(defaults.values()) * DB_POOL_SIZE <= PROXY_CONNECTION_BUDGET


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sometimes", "must be true, false or a JSON object"),
        ("{not json", "is not a JSON object"),
        ({"create_templates": 5}, r"unknown functions \['create_templates'\]"),
        ({"store_result": 0}, "at least 1"),
        ({"store_result": "10"}, "at least 1"),
        ({"store_result": True}, "at least 1"),
        ({"store_result": 2.5}, "at least 1"),
        ({"create_template": 60, "store_result": 30}, "more than the proxy connection budget 94"),
    ],
)
def test_a_bad_setting_fails_the_synth(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reserved_concurrency_of(value)


def test_the_proxy_budget_is_half_of_what_aurora_allows_at_one_acu(template: dict[str, Any]) -> None:
    _, target_group = only(template, "AWS::RDS::DBProxyTargetGroup")
    percent = target_group["Properties"]["ConnectionPoolConfigurationInfo"]["MaxConnectionsPercent"]
    assert 189 * percent // 100 == PROXY_CONNECTION_BUDGET
