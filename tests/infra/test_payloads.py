"""The payload bucket (SPEC §8): SSE-KMS with the stack's own rotated key, TLS only, private,
versioned, kept with the data; the functions that store results may write its payloads/ prefix, the
one that reads them back may read it, and no other function reaches it."""

from __future__ import annotations

from typing import Any

from tests.infra.helpers import (
    actions,
    function_role,
    get_atts,
    refs,
    render,
    resources,
    resources_of,
    role_statements,
    the,
)
from tests.infra.test_permissions import ACCESSING, variables


def bucket(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return the(template, "AWS::S3::Bucket", "PayloadsBucket")


def statements_on(template: dict[str, Any], name: str, logical_ids: set[str]) -> list[dict[str, Any]]:
    """The function's statements naming any of ``logical_ids`` in their resources."""
    found = []
    for statement in role_statements(template, function_role(template, name)):
        named = {i for r in resources_of(statement) for i in (*refs(r), *get_atts(r))}
        if named & logical_ids:
            found.append(statement)
    return found


def test_the_bucket_is_encrypted_with_the_stacks_rotated_key_and_kept(template: dict[str, Any]) -> None:
    bucket_id, payloads = bucket(template)
    key_id, key = the(template, "AWS::KMS::Key", "PayloadKey")
    props = payloads["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert set(get_atts(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])) == {key_id}
    assert rule["BucketKeyEnabled"] is True  # KMS asked per bucket key, not per answer
    assert key["Properties"]["EnableKeyRotation"] is True
    assert payloads["DeletionPolicy"] == key["DeletionPolicy"] == "Retain"  # the rows name the objects
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert "Transitions" not in lifecycle  # objects of a few KB: Standard is the cheapest class
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    (policy,) = [
        p
        for p in resources(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    denies = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies
    )


def test_storing_functions_write_payloads_and_only_store_result_reads_them(template: dict[str, Any]) -> None:
    bucket_id, _ = bucket(template)
    key_id, _ = the(template, "AWS::KMS::Key", "PayloadKey")
    granted: dict[str, set[str]] = {}
    for name in ACCESSING:
        statements = statements_on(template, name, {bucket_id, key_id})
        granted[name] = {a for s in statements for a in actions(s)}
        for statement in statements:
            if statement["Action"] in ("s3:PutObject", "s3:GetObject"):  # objects under payloads/ only
                assert [render(r) for r in resources_of(statement)] == [
                    "${" + f"{bucket_id}.Arn" + "}/payloads/*"
                ]
            if statement["Action"] == "s3:ListBucket":
                assert statement["Condition"] == {"StringLike": {"s3:prefix": ["payloads/*"]}}
            if str(statement["Action"]).startswith("kms:"):
                via = render(statement["Condition"]["StringEquals"]["kms:ViaService"])
                assert via == "s3.${AWS::Region}.amazonaws.com"
    assert granted["store_result"] == {
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListBucket",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    }
    assert granted["probe_provider"] == {"s3:PutObject", "kms:GenerateDataKey"}  # batch answers it collects
    assert not {n: g for n, g in granted.items() if g and n not in ("store_result", "probe_provider")}


def test_storing_functions_name_the_bucket_and_declare_the_folder_empty(template: dict[str, Any]) -> None:
    bucket_id, _ = bucket(template)
    for name in ("store_result", "probe_provider"):
        env = variables(template, name)
        assert env["PROMPTER_PAYLOAD_BUCKET"] == {"Ref": bucket_id}
        assert env["PROMPTER_PAYLOAD_DIR"] == ""  # unset: the bucket (declared for sam local)
    for name in ("create_template", "monitors"):
        assert "PROMPTER_PAYLOAD_BUCKET" not in variables(template, name)


def test_s3_is_reached_through_a_gateway_endpoint(template: dict[str, Any]) -> None:
    endpoints = resources(template, "AWS::EC2::VPCEndpoint").values()
    gateways = [e for e in endpoints if e["Properties"].get("VpcEndpointType", "Gateway") == "Gateway"]
    assert any(render(e["Properties"]["ServiceName"]).endswith(".s3") for e in gateways)
