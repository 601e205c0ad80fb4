"""The network and the database: functions in the private app subnets behind their security group,
Aurora Serverless v2 PostgreSQL 16 encrypted in isolated subnets, a TLS-only proxy the functions
(and only they) reach on 5432, a rotated secret, and egress for the provider calls."""

from __future__ import annotations

from typing import Any

import pytest

from prompter.routes import FUNCTIONS
from tests.infra.helpers import function_named, get_atts, only, refs, resources


def subnets_of_type(template: dict[str, Any], subnet_type: str) -> set[str]:
    """Logical ids of the subnets CDK tagged ``aws-cdk:subnet-type`` = Public/Private/Isolated."""
    return {
        logical_id
        for logical_id, subnet in resources(template, "AWS::EC2::Subnet").items()
        if {"Key": "aws-cdk:subnet-type", "Value": subnet_type} in subnet["Properties"]["Tags"]
    }


def security_group_of_functions(template: dict[str, Any]) -> str:
    (group,) = {
        logical_id
        for logical_id, sg in resources(template, "AWS::EC2::SecurityGroup").items()
        if sg["Properties"]["GroupDescription"] == "Prompter Lambda functions"
    }
    return group


def ingress_sources(template: dict[str, Any], group_id: str, port: int) -> set[str]:
    """Security groups allowed into ``group_id`` on ``port`` (standalone ingress rules)."""
    found = set()
    for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
        props = rule["Properties"]
        if group_id in set(get_atts(props["GroupId"])) and props["FromPort"] == port == props["ToPort"]:
            found |= set(get_atts(props["SourceSecurityGroupId"]))
    return found


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_runs_in_the_private_app_subnets_with_the_functions_security_group(
    template: dict[str, Any], name: str
) -> None:
    _, function = function_named(template, name)
    vpc_config = function["Properties"]["VpcConfig"]
    assert set(refs(vpc_config["SubnetIds"])) == subnets_of_type(template, "Private")
    assert len(subnets_of_type(template, "Private")) == 2  # two AZs
    assert [g for s in vpc_config["SecurityGroupIds"] for g in get_atts(s)] == [
        security_group_of_functions(template)
    ]


def test_private_subnets_reach_the_internet_through_a_nat_gateway(template: dict[str, Any]) -> None:
    # The providers (OpenAI, Anthropic, Gemini) are on the public internet.
    nat_id, _ = only(template, "AWS::EC2::NatGateway")
    private_tables = {
        assoc["Properties"]["RouteTableId"]["Ref"]
        for assoc in resources(template, "AWS::EC2::SubnetRouteTableAssociation").values()
        if assoc["Properties"]["SubnetId"]["Ref"] in subnets_of_type(template, "Private")
    }
    default_routes = {
        route["Properties"]["RouteTableId"]["Ref"]: route["Properties"]
        for route in resources(template, "AWS::EC2::Route").values()
        if route["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
    }
    for table in private_tables:
        assert default_routes[table]["NatGatewayId"] == {"Ref": nat_id}
    # The isolated subnets (database, proxy) have no default route at all.
    isolated_tables = {
        assoc["Properties"]["RouteTableId"]["Ref"]
        for assoc in resources(template, "AWS::EC2::SubnetRouteTableAssociation").values()
        if assoc["Properties"]["SubnetId"]["Ref"] in subnets_of_type(template, "Isolated")
    }
    assert isolated_tables and not isolated_tables & set(default_routes)


def test_aws_apis_are_reached_through_vpc_endpoints(template: dict[str, Any]) -> None:
    services = {
        render_service(endpoint["Properties"]["ServiceName"])
        for endpoint in resources(template, "AWS::EC2::VPCEndpoint").values()
    }
    for service in ("secretsmanager", "states", "events", "bedrock-runtime", "dynamodb"):
        assert any(s.endswith(f".{service}") for s in services), (service, services)


def render_service(name: Any) -> str:
    if isinstance(name, str):
        return name
    separator, parts = name["Fn::Join"]
    return separator.join(p if isinstance(p, str) else "<region>" for p in parts)


def test_cluster_is_serverless_v2_postgres_16_encrypted_in_isolated_subnets(template: dict[str, Any]) -> None:
    cluster_id, cluster = only(template, "AWS::RDS::DBCluster")
    props = cluster["Properties"]
    assert props["Engine"] == "aurora-postgresql"
    assert props["EngineVersion"].startswith("16.")
    assert props["StorageEncrypted"] is True
    assert props["BackupRetentionPeriod"] >= 1
    assert props["DeletionProtection"] is True  # the default; dev may turn it off from context
    scaling = props["ServerlessV2ScalingConfiguration"]
    assert 0.5 <= scaling["MinCapacity"] <= scaling["MaxCapacity"]
    assert props["DatabaseName"] == "prompter"

    _, instance = only(template, "AWS::RDS::DBInstance")
    assert instance["Properties"]["DBInstanceClass"] == "db.serverless"
    assert instance["Properties"]["DBClusterIdentifier"] == {"Ref": cluster_id}
    assert instance["Properties"]["PubliclyAccessible"] is False

    _, subnet_group = only(template, "AWS::RDS::DBSubnetGroup")
    assert set(refs(subnet_group["Properties"]["SubnetIds"])) == subnets_of_type(template, "Isolated")


def test_proxy_requires_tls_authenticates_with_the_secret_and_admits_the_functions(
    template: dict[str, Any],
) -> None:
    proxy_id, proxy = only(template, "AWS::RDS::DBProxy")
    props = proxy["Properties"]
    assert props["RequireTLS"] is True
    assert props["EngineFamily"] == "POSTGRESQL"
    (auth,) = props["Auth"]
    assert auth["AuthScheme"] == "SECRETS"
    assert auth["IAMAuth"] == "DISABLED"
    secret_id, _ = only(template, "AWS::SecretsManager::SecretTargetAttachment")
    assert set(refs(auth["SecretArn"])) == {secret_id}
    assert set(refs(props["VpcSubnetIds"])) == subnets_of_type(template, "Isolated")

    (proxy_group,) = [g for s in props["VpcSecurityGroupIds"] for g in get_atts(s)]
    assert ingress_sources(template, proxy_group, 5432) == {security_group_of_functions(template)}

    _, target_group = only(template, "AWS::RDS::DBProxyTargetGroup")
    assert target_group["Properties"]["DBProxyName"] == {"Ref": proxy_id}
    assert "Tags" not in target_group["Properties"]  # CloudFormation rejects them there


def test_functions_cannot_bypass_the_proxy(template: dict[str, Any]) -> None:
    _, cluster = only(template, "AWS::RDS::DBCluster")
    (cluster_group,) = [g for s in cluster["Properties"]["VpcSecurityGroupIds"] for g in get_atts(s)]
    sources = set()
    for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
        if cluster_group in set(get_atts(rule["Properties"]["GroupId"])):
            sources |= set(get_atts(rule["Properties"]["SourceSecurityGroupId"]))
    assert security_group_of_functions(template) not in sources
    proxy_groups = {
        g
        for s in only(template, "AWS::RDS::DBProxy")[1]["Properties"]["VpcSecurityGroupIds"]
        for g in get_atts(s)
    }
    assert proxy_groups <= sources  # the proxy reaches the cluster


def test_database_secret_rotates_every_30_days_with_a_hosted_single_user_function(
    template: dict[str, Any],
) -> None:
    attachment_id, _ = only(template, "AWS::SecretsManager::SecretTargetAttachment")
    _, schedule = only(template, "AWS::SecretsManager::RotationSchedule")
    props = schedule["Properties"]
    assert props["SecretId"] == {"Ref": attachment_id}
    assert props["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    hosted = props["HostedRotationLambda"]
    assert hosted["RotationType"] == "PostgreSQLSingleUser"
    # It runs in the app subnets (Secrets Manager endpoint, and the cluster on 5432).
    assert set(refs(hosted["VpcSubnetIds"])) == subnets_of_type(template, "Private")
    assert template["Transform"].startswith("AWS::SecretsManager-")
