"""The warehouse export in the synthesised stack (SPEC §8): the Glue tables are the export's schema
(one definition in prompter.exports.schema) with partition projection, the Athena workgroup enforces
encrypted results, each named query is its infra/queries file rendered for Athena, the export bucket
is private and encrypted, and the export function, the Export state machine and store_result reach
exactly what they need."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from infra.constructs.warehouse import QUERIES_DIR, database_name
from prompter.exports.reports import REPORTS, for_athena
from prompter.exports.schema import PARTITION_KEYS, TABLES, glue_type
from tests.infra.conftest import STAGE
from tests.infra.helpers import (
    actions,
    function_named,
    function_role,
    get_atts,
    only,
    render,
    resources,
    resources_of,
    role_statements,
    the,
)

DATABASE = database_name(STAGE)


def exports_bucket(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return the(template, "AWS::S3::Bucket", "WarehouseExports")


def test_each_glue_table_is_the_export_s_schema_partitioned_by_org_workspace_and_day(
    template: dict[str, Any],
) -> None:
    bucket_id, _ = exports_bucket(template)
    _, database = only(template, "AWS::Glue::Database")
    assert database["Properties"]["DatabaseInput"]["Name"] == DATABASE
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]
        for t in resources(template, "AWS::Glue::Table").values()
    }
    assert set(tables) == set(TABLES)
    for name, props in tables.items():
        assert props["DatabaseName"] == DATABASE
        table = props["TableInput"]
        storage = table["StorageDescriptor"]
        assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == [
            (c.name, glue_type(c.sql_type)) for c in TABLES[name]
        ]
        assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [
            (k, "string") for k in PARTITION_KEYS
        ]
        assert storage["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
        assert table["TableType"] == "EXTERNAL_TABLE"
        parameters = table["Parameters"]
        assert parameters["projection.enabled"] == "true"
        assert (
            parameters["projection.org_id.type"] == parameters["projection.workspace_id.type"] == "injected"
        )
        assert (parameters["projection.day.type"], parameters["projection.day.format"]) == (
            "date",
            "yyyy-MM-dd",
        )
        assert render(parameters["storage.location.template"]) == (
            f"s3://${{{bucket_id}}}/{name}/org_id=${{org_id}}/workspace_id=${{workspace_id}}/day=${{day}}/"
        )


def test_the_workgroup_enforces_encrypted_results_in_a_bucket_of_their_own(template: dict[str, Any]) -> None:
    _, group = only(template, "AWS::Athena::WorkGroup")
    config = group["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    results_id, results = the(template, "AWS::S3::Bucket", "WarehouseQueryResults")
    assert render(config["ResultConfiguration"]["OutputLocation"]) == f"s3://${{{results_id}}}/"
    assert config["BytesScannedCutoffPerQuery"] > 0
    assert results["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 30


def test_each_named_query_is_its_sql_file_rendered_for_athena(template: dict[str, Any]) -> None:
    _, group = only(template, "AWS::Athena::WorkGroup")
    queries = {
        q["Properties"]["Name"]: q["Properties"]
        for q in resources(template, "AWS::Athena::NamedQuery").values()
    }
    assert set(queries) == {f"prompter-{STAGE}-{report.replace('_', '-')}" for report in REPORTS}
    for report in REPORTS:
        query = queries[f"prompter-{STAGE}-{report.replace('_', '-')}"]
        sql, parameters = for_athena((QUERIES_DIR / f"{report}.sql").read_text(encoding="utf-8"), DATABASE)
        assert query["QueryString"] == sql and query["Database"] == DATABASE
        assert query["WorkGroup"] == group["Properties"]["Name"]
        assert ", ".join(parameters) in query["Description"]  # the execution parameters' order
        # every table the text names is a Glue table of the database
        assert set(re.findall(rf'"{DATABASE}"\."(\w+)"', sql)) <= set(TABLES)


def test_the_export_bucket_is_private_encrypted_tls_only_and_kept(template: dict[str, Any]) -> None:
    bucket_id, bucket = exports_bucket(template)
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["DeletionPolicy"] == "Retain"
    policies = [
        p["Properties"]
        for p in resources(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (policy,) = policies
    denies = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_the_export_function_writes_the_bucket_and_nothing_else_beyond_the_database(
    template: dict[str, Any],
) -> None:
    bucket_id, _ = exports_bucket(template)
    _, function = function_named(template, "export")
    props = function["Properties"]
    env = props["Environment"]["Variables"]
    assert env["PROMPTER_EXPORT_BUCKET"] == {"Ref": bucket_id}
    assert props["Timeout"] < 300 and props["MemorySize"] >= 1024  # below the task's timeout
    everything = {
        (a, render(r))
        for s in role_statements(template, function_role(template, "export"))
        for a in actions(s)
        for r in resources_of(s)
        if a.startswith("s3:") or a.startswith("states:")
    }
    granted = {(a, r) for a, r in everything if bucket_id in r}
    # beyond its bucket, it only reads results' payloads (a long answer's whole text)
    assert {a for a, r in everything - granted} <= {"s3:GetObject", "s3:ListBucket"}
    assert all("Payloads" in r for _, r in everything - granted)
    assert granted == {
        ("s3:PutObject", f"${{{bucket_id}.Arn}}/*"),
        ("s3:GetObject", f"${{{bucket_id}.Arn}}/*"),
        ("s3:DeleteObject", f"${{{bucket_id}.Arn}}/*"),
        ("s3:ListBucket", f"${{{bucket_id}.Arn}}"),
    }
    # store_result reads the manifests only
    reads = {
        (a, render(r))
        for s in role_statements(template, function_role(template, "store_result"))
        for a in actions(s)
        for r in resources_of(s)
        if a.startswith("s3:") and bucket_id in render(r)
    }
    assert reads == {("s3:GetObject", f"${{{bucket_id}.Arn}}/exports/*")}


def test_the_export_state_machine_runs_the_asl_file_with_the_export_function(
    template: dict[str, Any], outdir: Path
) -> None:
    export_id, _ = function_named(template, "export")
    [(_, machine)] = [
        (k, m)
        for k, m in resources(template, "AWS::StepFunctions::StateMachine").items()
        if m["Properties"]["StateMachineName"] == f"prompter-{STAGE}-export"
    ]
    props = machine["Properties"]
    assert props["DefinitionSubstitutions"] == {"ExportFunctionArn": {"Fn::GetAtt": [export_id, "Arn"]}}
    staged = (outdir / f"asset.{props['DefinitionS3Location']['Key']}").read_text(encoding="utf-8")
    assert json.loads(staged) == json.loads(
        (Path(__file__).resolve().parents[2] / "infra" / "workflows" / "export.asl.json").read_text(
            encoding="utf-8"
        )
    )
    (role_id,) = set(get_atts(props["RoleArn"]))
    invokes = {
        render(r)
        for s in role_statements(template, role_id)
        if "lambda:InvokeFunction" in actions(s)
        for r in resources_of(s)
    }
    assert invokes == {f"${{{export_id}.Arn}}", f"${{{export_id}.Arn}}:*"}
