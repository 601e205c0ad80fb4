"""The workflows: the RunBatch and VersionSweep state machines, the event bus (model version changes,
visibility shifts), and the schedule that starts the sweep.

The definitions are ``infra/workflows/<name>.asl.json``, the same files the workflow tests and the
local server execute (``local/stepfunctions.py``); CDK replaces their ``${Key}`` placeholders with
the deployed function ARNs. Nothing about a state is written here.

The state machines have explicit names so their ARNs are known without referencing them: the
store_result function starts RunBatch executions, and a reference from the function to the state
machine (whose definition references the function) would be a circular dependency.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from prompter.probing.sweep import PREFIX as SWEEP_PREFIX
from prompter.runs.plans import PREFIX as RUN_PLAN_PREFIX
from prompter.workflow import TERMINAL_EXECUTION

WORKFLOWS_DIR = Path(__file__).resolve().parents[1] / "workflows"
RUN_BATCH = "run_batch"
VERSION_SWEEP = "version_sweep"
REANALYZE = "reanalyze"
EXPORT = "export"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def state_machine_name(stage: str, workflow: str) -> str:
    return f"prompter-{stage}-{workflow.replace('_', '-')}"


def state_machine_arn(scope: Construct, name: str) -> str:
    return Stack.of(scope).format_arn(
        service="states",
        resource="stateMachine",
        resource_name=name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def allow(sid: str, actions: list[str], *resources: str) -> iam.PolicyStatement:
    """A policy statement allowing ``actions`` on ``resources``."""
    return iam.PolicyStatement(sid=sid, actions=actions, resources=list(resources))


def executions_arn(scope: Construct, name: str) -> str:
    """Every execution of the state machine ``name``."""
    return Stack.of(scope).format_arn(
        service="states",
        resource="execution",
        resource_name=f"{name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


# The state machines by construct id, in the order the alarms, the dashboard and the Datadog monitors
# list them.
STATE_MACHINE_IDS = ("RunBatch", "VersionSweep", "Reanalyze", "Export")


class PrompterWorkflows(Construct):
    """``self.run_batch``, ``self.version_sweep``, ``self.reanalyze``, ``self.export`` (state
    machines, also in ``self.state_machines`` by construct id), ``self.event_bus`` (model version
    changes, visibility shifts), ``self.work_bucket`` (the workflows' item lists),
    ``self.sweep_schedule``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        probe_provider: lambda_.IFunction,
        store_result: lambda_.IFunction,
        export: lambda_.IFunction,
        sweep_rate_minutes: int = 60,
    ) -> None:
        super().__init__(scope, construct_id)
        if sweep_rate_minutes < 1:
            raise ValueError(f"sweep_rate_minutes must be >= 1, got {sweep_rate_minutes}")
        self.stage = stage
        self.event_bus = events.EventBus(self, "DriftBus", event_bus_name=f"prompter-{stage}-drift")
        self.work_bucket = self._work_bucket()
        substitutions = {
            "ProbeProviderFunctionArn": probe_provider.function_arn,
            "StoreResultFunctionArn": store_result.function_arn,
            # the sweep's Distributed Map children: EXPRESS (a probe each; about a hundredth of a
            # STANDARD execution's price at 100k targets an hour)
            "SweepChildExecutionType": "EXPRESS",
            # a batch run's children: EXPRESS too, one per answer (paid per duration, not per
            # state transition; each child's retries are sized to its 5 minutes)
            "RunChildExecutionType": "EXPRESS",
        }
        self.run_batch = self._state_machine("RunBatch", RUN_BATCH, substitutions)
        self.version_sweep = self._state_machine("VersionSweep", VERSION_SWEEP, substitutions)
        self.reanalyze = self._state_machine("Reanalyze", REANALYZE, substitutions)
        self.export = self._state_machine("Export", EXPORT, {"ExportFunctionArn": export.function_arn})
        # By construct id: what the alarms and the dashboard watch.
        machines = (self.run_batch, self.version_sweep, self.reanalyze, self.export)
        self.state_machines: dict[str, sfn.IStateMachine] = dict(
            zip(STATE_MACHINE_IDS, machines, strict=True)
        )
        for state_machine in (self.run_batch, self.version_sweep):
            probe_provider.grant_invoke(state_machine)
            store_result.grant_invoke(state_machine)
        store_result.grant_invoke(self.reanalyze)
        export.grant_invoke(self.export)
        # the Export's Distributed Map reads its days from the state (ItemsPath): no S3 list
        self._let_a_distributed_map_start_children(self.export, EXPORT)
        self._let_the_sweep_fan_out(probe_provider)
        self._let_runs_fan_out(probe_provider)

        self.runs_ended = self._close_runs_whose_execution_ended(store_result)
        self.sweep_schedule = scheduler.Schedule(
            self,
            "VersionSweepSchedule",
            description=f"Starts the Prompter version sweep every {sweep_rate_minutes} min ({stage})",
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(sweep_rate_minutes)),
            target=scheduler_targets.StepFunctionsStartExecution(
                self.version_sweep,
                input=scheduler.ScheduleTargetInput.from_object({}),
                # A start that cannot happen before the next one is due is dropped, not queued.
                retry_attempts=3,
                max_event_age=Duration.minutes(min(sweep_rate_minutes, 24 * 60)),
            ),
        )

    def _work_bucket(self) -> s3.Bucket:
        """The workflows' item lists, the sweep's targets (``sweeps/<execution>/targets.json``) and
        each batch run's answers (``runs/<run_id>/answers.json``): machine-written, read by the
        execution that wrote them, expired after a week."""
        return s3.Bucket(
            self,
            "WorkLists",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(prefix=prefix, expiration=Duration.days(7))
                for prefix in (SWEEP_PREFIX, RUN_PLAN_PREFIX)
            ],
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
        )

    def _let_the_sweep_fan_out(self, probe_provider: lambda_.IFunction) -> None:
        """probe_provider writes the target list; the sweep's Distributed Map reads it and starts
        (and may stop) its own child executions."""
        lists = self.work_bucket.arn_for_objects(f"{SWEEP_PREFIX}*")
        probe_provider.add_to_role_policy(allow("WriteSweepTargets", ["s3:PutObject"], lists))
        self.version_sweep.add_to_role_policy(allow("ReadSweepTargets", ["s3:GetObject"], lists))
        self._let_a_distributed_map_start_children(self.version_sweep, VERSION_SWEEP)

    def _let_runs_fan_out(self, probe_provider: lambda_.IFunction) -> None:
        """probe_provider writes a batch run's answer list; RunBatch's Distributed Map reads it and
        starts (and may stop) a child execution per answer."""
        plans = self.work_bucket.arn_for_objects(f"{RUN_PLAN_PREFIX}*")
        probe_provider.add_to_role_policy(allow("WriteRunPlans", ["s3:PutObject"], plans))
        self.run_batch.add_to_role_policy(allow("ReadRunPlans", ["s3:GetObject"], plans))
        self._let_a_distributed_map_start_children(self.run_batch, RUN_BATCH)

    def _let_a_distributed_map_start_children(self, machine: sfn.StateMachine, workflow: str) -> None:
        """A Distributed Map starts (and may stop) child executions of its own state machine."""
        name = state_machine_name(self.stage, workflow)
        machine.add_to_role_policy(
            allow("DistributedMapChildren", ["states:StartExecution"], state_machine_arn(self, name))
        )
        machine.add_to_role_policy(
            allow(
                "DistributedMapChildExecutions",
                ["states:DescribeExecution", "states:StopExecution"],
                executions_arn(self, name),
            )
        )

    def _close_runs_whose_execution_ended(self, store_result: lambda_.IFunction) -> events.Rule:
        """A RunBatch execution that fails, times out or is aborted never reaches FinishRun: its
        status change (a Step Functions event on the default bus) invokes store_result's
        ``close_run``, naming the run by the execution's name (the run id)."""
        rule = events.Rule(
            self,
            "RunExecutionEnded",
            description="Close a batch run whose execution ended without finishing it",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": [self.run_batch.state_machine_arn],
                    "status": list(TERMINAL_EXECUTION),
                },
            ),
        )
        rule.add_target(
            events_targets.LambdaFunction(
                store_result,
                event=events.RuleTargetInput.from_object(
                    {
                        "action": "close_run",
                        "run_id": events.EventField.from_path("$.detail.name"),
                        "execution_status": events.EventField.from_path("$.detail.status"),
                    }
                ),
                retry_attempts=8,
                max_event_age=Duration.hours(24),
            )
        )
        return rule

    def _state_machine(
        self, construct_id: str, workflow: str, substitutions: dict[str, str]
    ) -> sfn.StateMachine:
        log_group = logs.LogGroup(
            self, f"{construct_id}Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        return sfn.StateMachine(
            self,
            construct_id,
            state_machine_name=state_machine_name(self.stage, workflow),
            definition_body=sfn.DefinitionBody.from_file(str(WORKFLOWS_DIR / f"{workflow}.asl.json")),
            definition_substitutions=substitutions,
            state_machine_type=sfn.StateMachineType.STANDARD,
            # Every state transition is logged; execution data (prompts, provider answers) stays
            # in the execution history rather than being copied into CloudWatch Logs.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
