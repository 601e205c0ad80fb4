"""Reading a synthesised CloudFormation template: resources by type, references, IAM statements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def only(template: dict[str, Any], type_: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, type_)
    assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
    return next(iter(found.items()))


def the(template: dict[str, Any], type_: str, fragment: str) -> tuple[str, dict[str, Any]]:
    """The one resource of ``type_`` whose logical id contains ``fragment``."""
    found = {k: v for k, v in resources(template, type_).items() if fragment in k}
    assert len(found) == 1, f"expected one {type_} named like {fragment}, found {sorted(found)}"
    return next(iter(found.items()))


def get_atts(node: Any) -> Iterator[str]:
    """Logical ids referenced by ``Fn::GetAtt`` anywhere inside ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::GetAtt":
                yield value[0]
            else:
                yield from get_atts(value)
    elif isinstance(node, list):
        for item in node:
            yield from get_atts(item)


def refs(node: Any) -> Iterator[str]:
    """Logical ids referenced by ``Ref`` anywhere inside ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def render(node: Any) -> str:
    """A string-valued intrinsic as text: ``Ref``s become ``${Name}``, ``Fn::GetAtt`` ``${Id.Attr}``."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and "Ref" in node:
        return f"${{{node['Ref']}}}"
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        return "${" + ".".join(node["Fn::GetAtt"]) + "}"
    if isinstance(node, dict) and "Fn::Join" in node:
        separator, parts = node["Fn::Join"]
        return separator.join(render(part) for part in parts)
    raise AssertionError(f"cannot render {node!r}")


def function_named(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """The function whose service name says it is ``functions/<name>``."""
    matches = [
        (logical_id, fn)
        for logical_id, fn in resources(template, "AWS::Lambda::Function").items()
        if fn["Properties"].get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME")
        == f"prompter-{name}"
    ]
    assert len(matches) == 1, f"expected one function for {name!r}, found {[m[0] for m in matches]}"
    return matches[0]


def role_statements(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of every inline ``AWS::IAM::Policy`` attached to the role, and of the role's
    own inline policies."""
    statements: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"].get("Roles", []):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    role = template["Resources"][role_logical_id]["Properties"]
    for policy in role.get("Policies", []):
        statements.extend(policy["PolicyDocument"]["Statement"])
    return statements


def actions(statement: dict[str, Any]) -> list[str]:
    found = statement.get("Action", [])
    return [found] if isinstance(found, str) else list(found)


def resources_of(statement: dict[str, Any]) -> list[Any]:
    found = statement.get("Resource", [])
    return found if isinstance(found, list) else [found]


def function_role(template: dict[str, Any], name: str) -> str:
    _, function = function_named(template, name)
    (role_id,) = set(get_atts(function["Properties"]["Role"]))
    return role_id


def live_alias(template: dict[str, Any], function_logical_id: str) -> str:
    """The logical id of the function's ``live`` alias (what API Gateway, the state machines and
    EventBridge invoke), which points at a published version with SnapStart."""
    (found,) = [
        logical_id
        for logical_id, alias in resources(template, "AWS::Lambda::Alias").items()
        if alias["Properties"]["Name"] == "live"
        and {"Ref": function_logical_id} == alias["Properties"]["FunctionName"]
    ]
    return found
