"""What monitors need deployed (SPEC §2.9): their schedules' group and the role EventBridge Scheduler
invokes the monitors function with, the queue of firings it could not deliver, and the path of their
alerts (an EventBridge rule on the service's bus → an SQS queue → the deliver_alerts function, with a
dead-letter queue for the alerts that keep failing).

- **Schedules.** The monitors function keeps one schedule per monitor (``monitor-<id>``) in the
  stage's group (:func:`schedule_group_name`), each invoking the function's ``live`` alias through
  :attr:`PrompterMonitors.scheduler_role`, retried and then sent to
  :attr:`PrompterMonitors.scheduler_dead_letters` (``prompter.adapters.scheduler``). The role may
  invoke that alias only and send to that queue only; Scheduler may assume it only for the
  schedules of this account's group. The alias is named by a constructed ARN (the monitors function
  has a fixed name, :func:`monitors_function_name`): the function's environment names the role and
  the alias, so a reference from the role back to the function would be a circular dependency.
- **Alerts.** The rule queues the service's ``VisibilityShift`` and ``ProviderVersionChanged``
  events that name a monitor (``prompter.adapters.events.alert_event_pattern``, the pattern the
  local server routes by too) on :attr:`PrompterMonitors.alerts`; deliver_alerts takes them in
  small batches, answers which ones failed (SQS partial batch responses) and sets each failed
  one's back-off; after :data:`ALERT_MAX_RECEIVES` receives an alert moves to
  :attr:`PrompterMonitors.alert_dead_letters`, as does an event the rule could not queue.
- **Secrets.** A monitor's alert signing secret is created at runtime under the stage's prefix
  (:func:`alert_secret_prefix`); the functions' grants name that prefix only.

Every queue is encrypted (SQS-managed keys, which EventBridge and Scheduler can send to without a
key policy) and refuses requests without TLS. The functions' environment and grants for all this are
the functions construct's (``infra/constructs/functions.py``, ``Access``); the alarms are the
monitoring construct's.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.function_context import LIVE_ALIAS
from infra.constructs.workflows import allow
from prompter.adapters import queues
from prompter.adapters.events import alert_event_pattern

# deliver_alerts: a batch of at most ALERT_BATCH_SIZE alerts, each one post of at most 10 s
# (prompter.adapters.webhooks.TIMEOUT_SECONDS), within ALERT_TIMEOUT.
ALERT_BATCH_SIZE = queues.BATCH_SIZE
ALERT_TIMEOUT = Duration.seconds(90)
# AWS's advice for a queue feeding a function: a visibility timeout of at least six times the
# function's timeout, so a batch being retried by Lambda is not handed out again meanwhile.
ALERT_VISIBILITY_TIMEOUT = Duration.seconds(ALERT_TIMEOUT.to_seconds() * 6)
# Receives before an alert is dead-lettered: with deliver_alerts' back-off (30 s doubling to 15 min,
# prompter.adapters.queues) eight posts over about an hour.
ALERT_MAX_RECEIVES = queues.MAX_RECEIVES
# Concurrent deliver_alerts invocations the event source runs at most (each holds one database
# connection; within the reserved concurrency infra/constructs/function_context.py may set).
ALERT_MAX_CONCURRENCY = 5
# How long an alert may wait in the queue, and a dead letter in its queue, before SQS drops it.
ALERT_RETENTION = Duration.days(4)
DEAD_LETTER_RETENTION = Duration.days(14)
# EventBridge's own retries of a put to the alerts queue, before the event goes to the dead letters.
RULE_RETRY_ATTEMPTS = 8
RULE_MAX_EVENT_AGE = Duration.hours(24)


def monitors_function_name(stage: str) -> str:
    """The monitors function's physical name: fixed, so its alias ARN is known without a reference."""
    return f"prompter-{stage}-monitors"


def schedule_group_name(stage: str) -> str:
    return f"prompter-{stage}-monitors"


def alert_secret_prefix(stage: str) -> str:
    """Where monitors' alert signing secrets are created (``<prefix>/<monitor id>/alert-signing``)."""
    return f"prompter/{stage}/monitors"


def monitor_target_arn(scope: Construct, stage: str) -> str:
    """What a monitor's schedule invokes: the ``live`` alias of the monitors function."""
    return Stack.of(scope).format_arn(
        service="lambda",
        resource="function",
        resource_name=f"{monitors_function_name(stage)}:{LIVE_ALIAS}",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def schedules_arn(scope: Construct, stage: str) -> str:
    """Every schedule of the stage's group (what the monitors function may create and change)."""
    return Stack.of(scope).format_arn(
        service="scheduler",
        resource="schedule",
        resource_name=f"{schedule_group_name(stage)}/*",
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def alert_secrets_arn(scope: Construct, stage: str) -> str:
    """Every alert signing secret of the stage (Secrets Manager appends a random suffix to a name)."""
    return Stack.of(scope).format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name=f"{alert_secret_prefix(stage)}/*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def _queue(scope: Construct, construct_id: str, **kwargs: object) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        removal_policy=RemovalPolicy.DESTROY,
        **kwargs,  # type: ignore[arg-type]
    )


class PrompterMonitors(Construct):
    """``self.schedule_group``, ``self.scheduler_role``, ``self.scheduler_dead_letters``,
    ``self.alerts`` (the queue deliver_alerts is fed by), ``self.alert_dead_letters``,
    ``self.alert_rule``; ``self.dead_letter_queues`` by name (what the alarms watch)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, event_bus: events.IEventBus
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.schedule_group = scheduler.ScheduleGroup(
            self,
            "ScheduleGroup",
            schedule_group_name=schedule_group_name(stage),
            # Deleting the group deletes its schedules: nothing fires for a stage that is gone.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.scheduler_dead_letters = _queue(
            self, "SchedulerDeadLetters", retention_period=DEAD_LETTER_RETENTION
        )
        self.scheduler_role = self._scheduler_role()

        self.alert_dead_letters = _queue(self, "AlertDeadLetters", retention_period=DEAD_LETTER_RETENTION)
        self.alerts = _queue(
            self,
            "Alerts",
            visibility_timeout=ALERT_VISIBILITY_TIMEOUT,
            retention_period=ALERT_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=ALERT_MAX_RECEIVES, queue=self.alert_dead_letters
            ),
        )
        self.alert_rule = self._alert_rule(event_bus)
        self.dead_letter_queues: dict[str, sqs.IQueue] = {
            "SchedulerDeadLetters": self.scheduler_dead_letters,
            "AlertDeadLetters": self.alert_dead_letters,
        }

    def _scheduler_role(self) -> iam.Role:
        """Assumed by EventBridge Scheduler for this account's schedules of the stage's group only;
        invokes the monitors function's ``live`` alias and sends to the scheduler's dead letters."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "SchedulerRole",
            description=f"EventBridge Scheduler: fires Prompter monitors ({self.stage})",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnEquals": {"aws:SourceArn": self.schedule_group.schedule_group_arn},
                },
            ),
        )
        role.add_to_policy(
            allow("InvokeMonitorsLive", ["lambda:InvokeFunction"], monitor_target_arn(self, self.stage))
        )
        role.add_to_policy(
            allow("SendUndeliveredFirings", ["sqs:SendMessage"], self.scheduler_dead_letters.queue_arn)
        )
        return role

    def _alert_rule(self, event_bus: events.IEventBus) -> events.Rule:
        pattern = alert_event_pattern()
        rule = events.Rule(
            self,
            "AlertRule",
            description="Queue the events that name a monitor, for deliver_alerts to post",
            event_bus=event_bus,
            event_pattern=events.EventPattern(
                source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern["detail"]
            ),
        )
        rule.add_target(
            events_targets.SqsQueue(
                self.alerts,
                retry_attempts=RULE_RETRY_ATTEMPTS,
                max_event_age=RULE_MAX_EVENT_AGE,
                dead_letter_queue=self.alert_dead_letters,
            )
        )
        return rule
