"""The composition root: every store, adapter and use case a function uses, built from its settings
on first use, once per execution environment.

A handler asks :func:`services` for what it needs (``services(StoreFunctionSettings).runner``);
nothing is built until first asked for, so a function pays only for what it uses at a cold start,
and :func:`prompter.runtime.reset` (tests, the local server, a SnapStart restore) forgets it all.
Tests build a :class:`Services` of their own with fakes in place of the AWS clients.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from prompter import runtime
from prompter.errors import PayloadStorageUnavailable, WorkListUnavailable
from prompter.observability import set_env_dimension
from prompter.settings import ApiSettings

if TYPE_CHECKING:  # built on first use: a function imports only what it uses (cold start)
    from sqlalchemy import Engine

    from prompter.adapters.events import EventPublisher
    from prompter.adapters.idempotency import Once
    from prompter.adapters.s3 import Objects
    from prompter.adapters.stepfunctions import Workflows
    from prompter.analytics.cost_queries import CostQueries
    from prompter.analytics.reanalysis import Reanalyzer
    from prompter.analytics.sources_queries import SourcesQueries
    from prompter.analytics.visibility_queries import ShiftReporter, VisibilityQueries
    from prompter.analytics.workspace_queries import WorkspaceQueries
    from prompter.db.brand_profiles import BrandProfileStore
    from prompter.db.results import ResultStore, RunStore
    from prompter.db.templates import TemplateStore
    from prompter.db.versions import ModelVersionStore
    from prompter.db.visibility import VisibilityStore
    from prompter.exports.exporting import Exports
    from prompter.probing.calls import ProviderCalls
    from prompter.probing.probes import Prober
    from prompter.probing.rate import RateBudgets
    from prompter.probing.versions import ModelVersionRecorder
    from prompter.runs.alerts import AlertDelivery, MonitorEvents
    from prompter.runs.batch_delivery import BatchDelivery
    from prompter.runs.monitors import Monitors
    from prompter.runs.payloads import PayloadBackfill, Payloads
    from prompter.runs.queries import RunQueries
    from prompter.runs.recording import ResultRecorder
    from prompter.runs.running import Runner

S = TypeVar("S", bound=ApiSettings)
REPLAY_SECONDS = 24 * 3600  # how long an Idempotency-Key replays the first answer


def _client(service: str) -> Callable[[], Any]:
    """A boto3 client of ``service``, created (and boto3 imported) on first use."""

    @functools.cache
    def client() -> Any:
        import boto3

        return boto3.client(service)  # type: ignore[call-overload]

    return client


class Services:
    """What the functions use, each built on first use from ``settings`` (a function's settings
    model: the attributes a use case reads must be among its fields)."""

    def __init__(self, settings: Any, clients: Callable[[str], Callable[[], Any]] = _client) -> None:
        self.settings = settings
        self._clients = clients

    # ---------------------------------------------------------------- database and stores

    @cached_property
    def engine(self) -> Engine:
        from prompter.db.engine import build_engine

        built = build_engine(self.settings)
        runtime.on_reset(built.dispose)
        return built

    @cached_property
    def templates(self) -> TemplateStore:
        from prompter.db.templates import TemplateStore

        return TemplateStore(self.engine)

    @cached_property
    def profiles(self) -> BrandProfileStore:
        from prompter.db.brand_profiles import BrandProfileStore

        return BrandProfileStore(self.engine)

    @cached_property
    def results(self) -> ResultStore:
        from prompter.db.results import ResultStore

        return ResultStore(self.engine)

    @cached_property
    def runs(self) -> RunStore:
        from prompter.db.results import RunStore

        return RunStore(self.engine)

    @cached_property
    def versions(self) -> ModelVersionStore:
        from prompter.db.versions import ModelVersionStore

        return ModelVersionStore(self.engine)

    @cached_property
    def visibility_store(self) -> VisibilityStore:
        from prompter.db.visibility import VisibilityStore

        return VisibilityStore(self.engine)

    # ---------------------------------------------------------------- AWS adapters

    @cached_property
    def events(self) -> EventPublisher:
        from prompter.adapters.events import EventPublisher

        return EventPublisher(self.settings.event_bus_name, self._clients("events"))

    @cached_property
    def workflows(self) -> Workflows:
        from prompter.adapters.stepfunctions import Workflows

        return Workflows(self._clients("stepfunctions"))

    @cached_property
    def objects(self) -> Objects:
        from prompter.adapters.s3 import Objects

        return Objects(self._clients("s3"), WorkListUnavailable)

    @cached_property
    def payloads(self) -> Payloads:
        """Results' request and response JSON: in the payload bucket when one is configured (deployed),
        else in a folder (``PROMPTER_PAYLOAD_DIR``, by default ``.data/payloads``)."""
        from prompter.runs.payloads import Payloads
        from prompter.settings import default_payload_dir

        bucket = getattr(self.settings, "payload_bucket", None)
        if bucket:
            from prompter.adapters.s3 import Bucket

            return Payloads(Bucket(self._clients("s3"), bucket, PayloadStorageUnavailable))
        from prompter.adapters.folder import Folder

        folder = getattr(self.settings, "payload_dir", None) or default_payload_dir()
        return Payloads(Folder(folder, PayloadStorageUnavailable))

    @cached_property
    def payload_backfill(self) -> PayloadBackfill:
        from prompter.runs.payloads import PayloadBackfill

        return PayloadBackfill(self.results, self.payloads)

    @cached_property
    def probe_once(self) -> Once | None:
        """One provider call per probe target and hour (None without an idempotency table)."""
        from prompter.adapters.idempotency import Once
        from prompter.probing.probes import PROBE_DEDUP_SECONDS

        table = self.settings.idempotency_table
        return (
            Once(table, PROBE_DEDUP_SECONDS, wait_seconds=self.settings.provider_timeout + 5)
            if table
            else None
        )

    @cached_property
    def replays(self) -> Once | None:
        """The first answer to an ``Idempotency-Key``, replayed (None without an idempotency table)."""
        from prompter.adapters.idempotency import Once

        table = self.settings.idempotency_table
        if not table:
            return None
        wait = self.settings.provider_timeout + 10
        return Once(table, REPLAY_SECONDS, wait, validate_payload=True, fail_open=False)

    # ---------------------------------------------------------------- use cases

    @cached_property
    def version_recorder(self) -> ModelVersionRecorder:
        from prompter.probing.versions import ModelVersionRecorder

        return ModelVersionRecorder(self.versions, self.monitor_events)

    @cached_property
    def calls(self) -> ProviderCalls:
        from prompter.probing.calls import ProviderCalls

        return ProviderCalls(
            self.settings, self.version_recorder, self.settings.secret_max_age, self.rate_budgets
        )

    @cached_property
    def rate_budgets(self) -> RateBudgets:
        """One budget per (provider, model) shared by every caller: the budget table when deployed,
        the process's in-process store otherwise."""
        from prompter.adapters.budgets import DynamoBudgets, local_budgets
        from prompter.probing.budgets import DEFAULT_LIMITS, parse_budgets
        from prompter.probing.rate import RateBudgets

        config = self.settings
        store = (
            DynamoBudgets(self._clients("dynamodb"), config.budget_table)
            if config.budget_table
            else local_budgets()
        )
        # the fake providers have no limits of their own: only what PROMPTER_RATE_BUDGETS sets
        defaults = DEFAULT_LIMITS if config.provider_mode == "real" else {}
        return RateBudgets(
            store, parse_budgets(config.rate_budgets), config.budget_max_wait, defaults=defaults
        )

    @cached_property
    def prober(self) -> Prober:
        from prompter.probing.probes import Prober

        return Prober(self.templates, self.calls, self.probe_once)

    @cached_property
    def recorder(self) -> ResultRecorder:
        from prompter.runs.recording import ResultRecorder

        def report_shifts(org_id: str, template_id: str) -> int:
            return self.shifts.report(org_id, template_id)

        return ResultRecorder(self.templates, self.results, self.runs, self.payloads, report_shifts)

    @cached_property
    def runner(self) -> Runner:
        from prompter.runs.running import Runner

        arn = getattr(self.settings, "run_batch_state_machine_arn", None)
        concurrency = getattr(self.settings, "run_max_concurrency", 5)
        return Runner(self.templates, self.calls, self.recorder, self.runs, self.workflows, arn, concurrency)

    @cached_property
    def batch_delivery(self) -> BatchDelivery:
        from prompter.runs.batch_delivery import BatchDelivery

        return BatchDelivery(self.runner, self.recorder, self.runs)

    @cached_property
    def monitor_events(self) -> MonitorEvents:
        """The service's events, each addressed to the monitors watching its template."""
        from prompter.db.monitors import MonitorStore
        from prompter.runs.alerts import MonitorEvents

        return MonitorEvents(self.events, MonitorStore(self.engine))

    @cached_property
    def alerts(self) -> AlertDelivery:
        from prompter.adapters import webhooks
        from prompter.adapters.queues import AlertQueue
        from prompter.adapters.secrets import AlertSecrets
        from prompter.db.monitors import MonitorStore
        from prompter.runs.alerts import AlertDelivery

        config = self.settings
        return AlertDelivery(
            MonitorStore(self.engine),
            AlertSecrets(self._clients("secretsmanager"), config.alert_secret_prefix),
            webhooks.post,
            AlertQueue(self._clients("sqs"), config.alert_queue_url),
        )

    @cached_property
    def monitors(self) -> Monitors:
        from prompter.adapters.scheduler import Schedules
        from prompter.adapters.secrets import AlertSecrets
        from prompter.db.monitors import MonitorStore
        from prompter.runs.monitors import Monitors

        config = self.settings
        schedules = None
        if config.schedule_group:  # deployed: EventBridge Scheduler fires them; locally make dev does
            if not (config.monitor_target_arn and config.scheduler_role_arn):
                raise RuntimeError(
                    "PROMPTER_SCHEDULE_GROUP needs PROMPTER_MONITOR_TARGET_ARN and _SCHEDULER_ROLE_ARN"
                )
            schedules = Schedules(
                self._clients("scheduler"),
                config.schedule_group,
                config.monitor_target_arn,
                config.scheduler_role_arn,
                config.scheduler_dead_letter_arn,
            )
        return Monitors(
            MonitorStore(self.engine),
            self.runner,
            schedules,
            AlertSecrets(self._clients("secretsmanager"), config.alert_secret_prefix),
            config.max_answers_per_firing,
            config.allow_loopback_webhooks,
        )

    @cached_property
    def run_queries(self) -> RunQueries:
        from prompter.runs.queries import RunQueries

        return RunQueries(self.templates, self.results, self.runs, self.recorder, self.payloads)

    @cached_property
    def visibility(self) -> VisibilityQueries:
        from prompter.analytics.visibility_queries import VisibilityQueries

        return VisibilityQueries(self.visibility_store)

    @cached_property
    def sources(self) -> SourcesQueries:
        from prompter.analytics.sources_queries import SourcesQueries
        from prompter.db.sources import SourceStore

        return SourcesQueries(SourceStore(self.engine))

    @cached_property
    def workspace_reports(self) -> WorkspaceQueries:
        from prompter.analytics.workspace_queries import WorkspaceQueries
        from prompter.db.monitors import MonitorStore
        from prompter.db.workspace import WorkspaceStore

        return WorkspaceQueries(WorkspaceStore(self.engine), MonitorStore(self.engine))

    @cached_property
    def costs(self) -> CostQueries:
        from prompter.analytics.cost_queries import CostQueries
        from prompter.db.costs import CostStore

        return CostQueries(CostStore(self.engine))

    @cached_property
    def exports(self) -> Exports:
        """The warehouse export: its files in the export bucket, else in the local export folder."""
        from pathlib import Path

        from prompter.exports.exporting import Exports
        from prompter.exports.files import ExportFiles, LocalExportFiles, S3ExportFiles

        config = self.settings
        files: ExportFiles = (
            S3ExportFiles(config.export_bucket, self._clients("s3"))
            if config.export_bucket
            else LocalExportFiles(Path(config.export_dir))
        )

        def store() -> Any:
            from prompter.db.exports import ExportStore

            return ExportStore(self.engine)

        return Exports(
            files,
            self.workflows,
            config.export_state_machine_arn,
            store,
            page_rows=config.export_page_rows,
            task_seconds=config.export_task_seconds,
            payloads=lambda: self.payloads,
        )

    @cached_property
    def shifts(self) -> ShiftReporter:
        from prompter.analytics.visibility_queries import ShiftReporter

        return ShiftReporter(self.visibility, self.visibility_store, self.monitor_events.publish)

    @cached_property
    def reanalyzer(self) -> Reanalyzer:
        from prompter.analytics.reanalysis import Reanalyzer

        arn = self.settings.reanalyze_state_machine_arn
        starter = functools.partial(self.workflows.start, arn) if arn else None
        return Reanalyzer(self.templates, self.results, self.profiles, self.payloads, starter)


@runtime.once
def _built() -> dict[type, Services]:
    return {}


def services(settings_type: type[S]) -> Services:
    """The execution environment's services for a function whose settings are ``settings_type``,
    read from the environment on first use."""
    built = _built()
    if settings_type not in built:
        settings = settings_type.load()
        set_env_dimension(settings.env)
        built[settings_type] = Services(settings)
    return built[settings_type]


def for_function(settings_type: type[S]) -> Callable[[], Services]:
    """A handler's ``services()``: its function's :func:`services`, looked up on each call (so a
    reset or :func:`use` takes effect at once)."""
    return functools.partial(services, settings_type)


def use(settings_type: type[S], replacement: Services) -> None:
    """Serve ``settings_type``'s functions with ``replacement`` until the next reset (tests)."""
    _built()[settings_type] = replacement
