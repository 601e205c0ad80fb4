"""cdk-nag (v3) for the Prompter stack: the AwsSolutions pack, and every acknowledged finding with
the reason it is accepted.

cdk-nag 3 runs as a CDK policy-validation plugin (``Validations.of(app).add_plugins(...)``); a
finding that is not acknowledged fails the synthesis. An acknowledgement is recorded with
``Validations.of(construct).acknowledge(Acknowledgment(id=..., reason=...))`` on the construct the
finding names (or an ancestor of it); findings that carry a detail (``AwsSolutions-IAM5[Resource::*]``)
are acknowledged one detail at a time: v3 has no prefix matching, so nothing here silences a whole
rule.

Acknowledgements are addressed by construct path relative to the stack, so they follow the
constructs rather than CloudFormation logical IDs; the few finding details that embed a logical ID
(a function ARN in a state machine's invoke grant) compute it from the construct. ``acknowledge``
returns the acknowledgements whose construct does not exist, so a rename is caught by the tests
instead of silently orphaning a reason.

Findings listed here that should be fixed in the constructs (rather than accepted) are marked
``Deferred:`` in their reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.constructs.functions import SECRET_PROVIDERS, secret_id
from infra.constructs.monitors import alert_secret_prefix, schedule_group_name
from infra.constructs.workflows import STATE_MACHINE_IDS
from prompter.routes import ROUTES, Route

PACK = "AwsSolutions"
STATE_MACHINES = STATE_MACHINE_IDS
PROVIDER_SECRETS = tuple(secret_id(provider) for provider in SECRET_PROVIDERS)
MANAGED_POLICY = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"


@dataclass(frozen=True)
class Acknowledgement:
    path: str  # construct path relative to the stack; "" is the stack itself
    rule: str  # the full finding id, e.g. "AwsSolutions-IAM5[Resource::*]"
    reason: str


def enable_nag(app: cdk.App) -> AwsSolutionsChecks:
    """Register the AwsSolutions pack on ``app``: findings are checked when the app synthesises."""
    pack = AwsSolutionsChecks(app)
    cdk.Validations.of(app).add_plugins(pack)
    return pack


def _rule(name: str, detail: str | None = None) -> str:
    return f"{PACK}-{name}" + (f"[{detail}]" if detail else "")


def _logical_id(stack: cdk.Stack, path: str) -> str | None:
    construct = _find(stack, path)
    child = construct.node.default_child if construct is not None else None
    if not isinstance(child, cdk.CfnElement):
        return None
    return str(stack.resolve(child.logical_id))


def _functions(stack: cdk.Stack) -> list[str]:
    """The ids of the Lambda functions the functions construct built (API, workflow, migrate)."""
    functions = _find(stack, "Functions")
    if functions is None:
        return []
    return [c.node.id for c in functions.node.children if isinstance(c, lambda_.Function)]


def _method_path(route: Route) -> str:
    return "/".join(["Api/RestApi/Default", *route.path.strip("/").split("/"), route.method])


def acknowledgements(
    stack: cdk.Stack, *, stage: str, routes: Sequence[Route] = ROUTES
) -> list[Acknowledgement]:
    acks: list[Acknowledgement] = []

    def add(path: str, name: str, reason: str, details: Iterable[str | None] = (None,)) -> None:
        acks.extend(Acknowledgement(path, _rule(name, detail), reason) for detail in details)

    # --- Database ---------------------------------------------------------------------------
    add(
        "Database/Cluster",
        "RDS6",
        "The functions reach Aurora only through the RDS Proxy, which authenticates with the "
        "rotated Secrets Manager secret; IAM database authentication on the cluster itself would "
        "not be used by any client.",
    )

    # --- Functions ----------------------------------------------------------------------------
    for secret in PROVIDER_SECRETS:
        add(
            f"Functions/{secret}",
            "SMG4",
            "Third-party provider API key: the value is issued by the provider, set by operators "
            "and rotated in the provider's console; Secrets Manager cannot rotate it (no rotation "
            "Lambda can mint a provider key). The database secret, which AWS can rotate, is rotated.",
        )
    for function in _functions(stack):
        role = f"Functions/{function}/ServiceRole"
        add(
            role,
            "IAM4",
            "AWSLambdaBasicExecutionRole and AWSLambdaVPCAccessExecutionRole are the AWS-maintained "
            "minimum for a Lambda function in a VPC (its own log stream, its ENIs); a copy would "
            "only drift from AWS's version.",
            details=(
                MANAGED_POLICY + "AWSLambdaBasicExecutionRole",
                MANAGED_POLICY + "AWSLambdaVPCAccessExecutionRole",
            ),
        )
        add(
            f"{role}/DefaultPolicy",
            "IAM5",
            "xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) do not support "
            "resource-level permissions: '*' is the only valid resource.",
            details=("Resource::*",),
        )
        add(
            f"Functions/{function}",
            "L1",
            "Deferred: pinned to Python 3.13, the version the domain layer is built for and its "
            "bytecode compiled by, and that make test-3.13 runs the tests on; move PYTHON_VERSION "
            "in infra/layer.py to the latest Python runtime together with the CI/local interpreter.",
        )
    for function in ("ProbeProvider", "StoreResult"):
        add(
            f"Functions/{function}/ServiceRole/DefaultPolicy",
            "IAM5",
            "bedrock:InvokeModel only, on foundation models (any region: cross-region inference "
            "profiles route to other regions) and this account's inference profiles: the model a "
            "template names is data chosen at runtime, so it cannot be enumerated at deploy time.",
            details=(
                "Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/*",
                "Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/*",
            ),
        )
    add(
        "Functions/StoreResult/ServiceRole/DefaultPolicy",
        "IAM5",
        "states:DescribeExecution on the executions of this stage's RunBatch and Export state machines "
        "only: execution names are generated per batch and per export, so the ARNs end in a wildcard "
        "by construction.",
        details=(
            f"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:prompter-{stage}-run-batch:*",
            f"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:prompter-{stage}-export:*",
        ),
    )

    # --- Monitors: schedules, alert secrets, dead letters ------------------------------------
    secrets = (
        "Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:"
        f"{alert_secret_prefix(stage)}/*"
    )
    add(
        "Functions/Monitors/ServiceRole/DefaultPolicy",
        "IAM5",
        "scheduler:Create/Update/Delete/GetSchedule on the schedules of this stage's monitor schedule "
        "group only, and Create/Delete/GetSecretValue on this stage's alert signing secrets only: "
        "each monitor gets its own schedule and secret at runtime, named by its id, so the ARNs end "
        "in a wildcard by construction.",
        details=(
            f"Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/{schedule_group_name(stage)}/*",
            secrets,
        ),
    )
    add(
        "Functions/DeliverAlerts/ServiceRole/DefaultPolicy",
        "IAM5",
        "secretsmanager:GetSecretValue on this stage's alert signing secrets only: one per monitor, "
        "created at runtime and named by the monitor's id, so the ARN ends in a wildcard.",
        details=(secrets,),
    )
    add(
        "Monitors/SchedulerDeadLetters",
        "SQS3",
        "This queue is itself a dead-letter queue: EventBridge Scheduler's, for the monitor firings "
        "it could not deliver (the schedule target's DeadLetterConfig, set at runtime per schedule, "
        "which cdk-nag cannot see). A dead-letter queue of a dead-letter queue would hide nothing "
        "more; its alarm pages on the first message.",
    )

    # --- Migrations on deploy (custom resource provider framework) ----------------------------
    if _find(stack, "Migrations/Provider") is not None:
        on_event = "Migrations/Provider/framework-onEvent"
        add(
            f"{on_event}/ServiceRole",
            "IAM4",
            "The CDK custom-resource Provider framework's own function: AWSLambdaBasicExecutionRole "
            "is what aws-cdk-lib attaches to it (logs only); the role is not configurable short of "
            "replacing the framework.",
            details=(MANAGED_POLICY + "AWSLambdaBasicExecutionRole",),
        )
        migrate = _logical_id(stack, "Functions/Migrate")
        add(
            f"{on_event}/ServiceRole/DefaultPolicy",
            "IAM5",
            "lambda:InvokeFunction on the migrate function and its versions (ARN:*), generated by "
            "the Provider framework for its on-event handler: scoped to that one function.",
            details=(f"Resource::<{migrate}.Arn>:*",) if migrate else (),
        )

    # --- Workflows ----------------------------------------------------------------------------
    for machine in STATE_MACHINES:
        add(
            f"Workflows/{machine}/Role/DefaultPolicy",
            "IAM5",
            "Generated by the Step Functions L2 constructs: the log-delivery and X-Ray actions, "
            "which support no resource-level permissions (the task functions are invoked through "
            "their live aliases, named exactly).",
            details=("Resource::*",),
        )

    executions = "Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution"
    bucket = _logical_id(stack, "Workflows/WorkLists")
    if bucket:
        lists = f"Resource::<{bucket}.Arn>/sweeps/*"
        plans = f"Resource::<{bucket}.Arn>/runs/*"
        add(
            "Functions/ProbeProvider/ServiceRole/DefaultPolicy",
            "IAM5",
            "s3:PutObject under sweeps/ and runs/ of the work bucket only: each sweep writes its own "
            "sweeps/<execution name>/targets.json and each batch run its runs/<run id>/answers.json, "
            "so the keys end in a wildcard by construction.",
            details=(lists, plans),
        )
        add(
            "Workflows/RunBatch/Role/DefaultPolicy",
            "IAM5",
            "s3:GetObject under runs/ (the Distributed Map's ItemReader reads the answer list its own "
            "execution wrote), and states:DescribeExecution/StopExecution on this state machine's "
            "own executions (its Distributed Map's children, one per answer, named by Step Functions).",
            details=(plans, f"{executions}:prompter-{stage}-run-batch:*"),
        )
        add(
            "Workflows/VersionSweep/Role/DefaultPolicy",
            "IAM5",
            "s3:GetObject under sweeps/ (the Distributed Map's ItemReader reads the list its own "
            "execution wrote), and states:DescribeExecution/StopExecution on this state machine's "
            "own executions (its Distributed Map's children, named by Step Functions).",
            details=(lists, f"{executions}:prompter-{stage}-version-sweep:*"),
        )
        add(
            "Workflows/WorkLists",
            "S1",
            "Server access logs for a bucket that only the workflows write and read, objects "
            "expiring after 7 days: the state machines' logs and CloudTrail record who used it. "
            "Deferred: add an access-log bucket if the account's policy asks for one on every bucket.",
        )

    _data_acknowledgements(stack, stage, add)

    # --- API ----------------------------------------------------------------------------------
    add(
        "Api/UserPool",
        "COG2",
        "MFA is OPTIONAL (TOTP offered to every user) rather than REQUIRED: the pool also serves "
        "machine users of the API; require it per-org when the product needs it.",
    )
    add(
        "Api/UserPool",
        "COG8",
        "The Plus feature plan (threat protection) is a per-MAU cost not justified for an internal "
        "registry; revisit with COG3 if the pool is exposed to the public.",
    )
    add(
        "Api/RestApi/CloudWatchRole",
        "IAM4",
        "AmazonAPIGatewayPushToCloudWatchLogs is the AWS-maintained policy API Gateway requires for "
        "its account-level logging role.",
        details=(MANAGED_POLICY + "AmazonAPIGatewayPushToCloudWatchLogs",),
    )
    add(
        f"Api/RestApi/DeploymentStage.{stage}",
        "APIG3",
        "Deferred: no WAFv2 web ACL yet; the stage is throttled (rate/burst from cdk.json) and "
        "every data route needs a Cognito token. Associate a regional web ACL (AWS managed common "
        "rule set + rate rule) when the API is exposed beyond the team.",
    )
    for route in routes:
        if route.authorized:
            continue
        reason = (
            f"{route.method} {route.path} ({route.operation_id}) is public by design "
            "(authorized=False in the route table): a health probe / the OpenAPI document, no data."
        )
        add(_method_path(route), "APIG4", reason)
        add(_method_path(route), "COG4", reason)
    return acks


Add = Callable[..., None]


def _data_acknowledgements(stack: cdk.Stack, stage: str, add: Add) -> None:
    """The payload bucket's and the warehouse's acknowledgements."""
    executions = "Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution"
    # --- Payloads -----------------------------------------------------------------------------
    payloads = _logical_id(stack, "Payloads/Bucket")
    if payloads:
        objects = f"Resource::<{payloads}.Arn>/payloads/*"
        for function in ("ProbeProvider", "StoreResult", "Export"):
            add(
                f"Functions/{function}/ServiceRole/DefaultPolicy",
                "IAM5",
                "s3:PutObject (probe_provider, store_result) or s3:GetObject (store_result, and the "
                "export, which reads a long answer's whole text) under payloads/ of the payload bucket "
                "only: each stored answer is its own object, keyed by org, workspace, day and result id "
                "at runtime, so the key ends in a wildcard by construction.",
                details=(objects,),
            )
        add(
            "Payloads/Bucket",
            "S1",
            "Server access logs: only the functions' roles are granted this bucket, writes and reads "
            "alike; a payload is read back only through the results route (its request logged with "
            "the caller and correlation id) or a re-analysis. Access logs would add one log object per "
            "stored answer. Deferred: an access-log bucket (or CloudTrail S3 data events) if the "
            "account's policy asks for one on every bucket.",
        )

    # --- Warehouse export ---------------------------------------------------------------------
    exports_bucket = _logical_id(stack, "Warehouse/Exports")
    export_function = _logical_id(stack, "Functions/Export")
    if exports_bucket and export_function:
        add(
            "Functions/StoreResult/ServiceRole/DefaultPolicy",
            "IAM5",
            "s3:GetObject under exports/ of the export bucket only: GET /api/exports/{id} reads the "
            "manifest exports/<export_id>/manifest.json, one per export, named at runtime.",
            details=(f"Resource::<{exports_bucket}.Arn>/exports/*",),
        )
        add(
            "Functions/Export/ServiceRole/DefaultPolicy",
            "IAM5",
            "Put/Get/DeleteObject on the export bucket's objects: the function writes each day's "
            "Parquet files under <table>/org_id=.../workspace_id=.../day=.../ (any org, workspace and "
            "day, known only at runtime), removes the files of a day a new export replaces, and "
            "writes and reads the manifests under exports/. The bucket holds nothing else.",
            details=(f"Resource::<{exports_bucket}.Arn>/*",),
        )
        add(
            "Workflows/Export/Role/DefaultPolicy",
            "IAM5",
            "lambda:InvokeFunction on the export function and its versions (ARN:*), as granted by "
            "Function.grantInvoke; and states:DescribeExecution/StopExecution on this state machine's "
            "own executions (its Distributed Map's children, one per day, named by Step Functions).",
            details=(
                f"Resource::<{export_function}.Arn>:*",
                f"{executions}:prompter-{stage}-export:*",
            ),
        )
    for bucket_path, what in (
        ("Warehouse/Exports", "the export's Parquet files, written by the export function only"),
        ("Warehouse/QueryResults", "Athena's query results, written by the workgroup, kept 30 days"),
    ):
        add(
            bucket_path,
            "S1",
            f"Server access logs for a bucket of {what}: CloudTrail and the workflow's and Athena's own "
            "records say who used it. Deferred: add an access-log bucket if the account's policy asks "
            "for one on every bucket.",
        )


def _find(stack: cdk.Stack, path: str) -> IConstruct | None:
    construct: IConstruct = stack
    for part in filter(None, path.split("/")):
        child = construct.node.try_find_child(part)
        if child is None:
            return None
        construct = child
    return construct


def acknowledge(stack: cdk.Stack, *, stage: str, routes: Sequence[Route] = ROUTES) -> list[Acknowledgement]:
    """Record every acknowledgement on its construct; return those whose construct was not found."""
    missing = []
    for ack in acknowledgements(stack, stage=stage, routes=routes):
        construct = _find(stack, ack.path)
        if construct is None:
            missing.append(ack)
            continue
        cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=ack.rule, reason=ack.reason))
    return missing
