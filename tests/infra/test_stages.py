"""Two stages deploy side by side in one account and region: no resource of one has a physical name
the other's has (names such as a proxy's, a function's or an alarm's are unique per account and
region, so a shared one fails the second stage's deploy)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import cdk_json_context
from infra.stack import PrompterStack
from tests.infra.conftest import STAGE

# Properties that set a resource's physical name.
NAME_PROPERTIES = {
    "AlarmName",
    "AliasName",
    "BucketName",
    "DBClusterIdentifier",
    "DBProxyName",
    "DashboardName",
    "FunctionName",
    "LogGroupName",
    "Name",
    "QueueName",
    "RoleName",
    "StateMachineName",
    "TableName",
    "TopicName",
}

# Resources whose name is unique only within their parent (an API's models, a function's aliases).
SCOPED_TO_A_PARENT = {"AWS::ApiGateway::Model", "AWS::Lambda::Alias"}


def literal(value: Any) -> str | None:
    """A name CloudFormation does not make unique per stack: a plain string, or a join of plain
    strings (a join that reads the stack name or a resource's id is unique per stack)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        if all(isinstance(p, str) for p in parts):
            return str(separator).join(parts)
    return None


def physical_names(template: dict[str, Any]) -> dict[tuple[str, str], str]:
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in SCOPED_TO_A_PARENT:
            continue
        for key, value in (resource.get("Properties") or {}).items():
            name = literal(value) if key in NAME_PROPERTIES else None
            if name is not None:
                found[(resource["Type"], name)] = logical_id
    return found


@pytest.fixture(scope="module")
def other_stage() -> dict[str, Any]:
    app = cdk.App(context=cdk_json_context())
    stack = PrompterStack(app, "Prompter-prod", stage="prod")
    return dict(Template.from_stack(stack).to_json())


def test_two_stages_share_no_physical_name(template: dict[str, Any], other_stage: dict[str, Any]) -> None:
    mine, theirs = physical_names(template), physical_names(other_stage)
    assert mine, "the stack names some resources"
    shared = sorted(set(mine) & set(theirs))
    assert shared == [], f"Prompter-{STAGE} and Prompter-prod would both create: {shared}"


def test_the_proxy_is_named_after_its_stack(template: dict[str, Any]) -> None:
    (proxy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::RDS::DBProxy"]
    assert proxy["Properties"]["DBProxyName"] == f"prompter-{STAGE}-proxy"
