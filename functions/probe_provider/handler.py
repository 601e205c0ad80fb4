"""Provider probes: the ensure-version and versions routes, and the probe task of the workflows.

``lambda_handler`` serves API Gateway proxy events; any other event is a workflow task payload
with an ``action``: ``probe`` (the default, :class:`ProbeTask`), ``call`` (one country of a batch
run: the provider call and its version), ``plan_run`` (a batch run's answers, written to S3 for
RunBatch's Distributed Map), ``submit_batch``, ``poll_batch`` and ``collect_batch`` (a run delivered
through the provider's batch API) or ``sweep_targets`` (every active template's provider and model,
written to S3 for the version sweep's Distributed Map). Errors a workflow Retries or Catches
escape the task with their class name (``ProviderThrottled``, ``ProviderAuthError``, ...).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body

from prompter import bootstrap, routes, snapstart
from prompter.api.http import lambda_entry
from prompter.api.openapi import error_doc, new_resolver, ok_doc, register
from prompter.api.tasks import Task
from prompter.api.tenancy import request_scope
from prompter.observability import logger
from prompter.probing.probes import EnsureVersionRequest, EnsureVersionResult, VersionHistory
from prompter.probing.sweep import write_targets
from prompter.runs.plans import write_plan
from prompter.settings import ProbeFunctionSettings
from prompter.workflow import (
    CollectBatchTask,
    PlanRunTask,
    PollBatchTask,
    ProbeTask,
    RunCountryTask,
    SubmitBatchTask,
    SweepTargetsTask,
)

app = new_resolver()
snapstart.register()  # SnapStart hooks: drop connections, secrets and random state after a restore
services = bootstrap.for_function(ProbeFunctionSettings)


@register(
    app,
    routes.ENSURE_VERSION,
    responses={**ok_doc(200, EnsureVersionResult, "OK"), **error_doc(404, 502)},
)
def ensure_version(
    template_id: str, body: Annotated[EnsureVersionRequest | None, Body()] = None
) -> EnsureVersionResult:
    request = body or EnsureVersionRequest()
    scope = request_scope(app, services().settings, request.org_id)
    result = services().prober.ensure_version(
        scope,
        template_id,
        request.provider,
        request.model_id,
        grounding=request.grounding,
        use_grounding=request.use_grounding,
    )
    logger.append_keys(version_id=result.version_id, provider_version_key=result.provider_version_key)
    return result


@register(app, routes.LIST_VERSIONS, responses={**ok_doc(200, VersionHistory, "OK"), **error_doc(404)})
def list_versions(template_id: str) -> VersionHistory:
    return services().prober.history(request_scope(app, services().settings), template_id)


def _sweep_targets(task: SweepTargetsTask) -> dict[str, Any]:
    found = services()
    return write_targets(
        found.templates, found.settings.work_bucket, task.sweep_id, found.objects
    ).model_dump()


def _plan_run(task: PlanRunTask) -> dict[str, Any]:
    found = services()
    plan = write_plan(found.settings.work_bucket, task.run_id, task.countries, task.samples, found.objects)
    return plan.model_dump()


TASKS: dict[str, Task[Any]] = {
    "probe": Task(ProbeTask, lambda task: services().prober.probe_task(task)),
    "call": Task(RunCountryTask, lambda task: services().runner.call(task).model_dump(mode="json")),
    "sweep_targets": Task(SweepTargetsTask, _sweep_targets),
    "plan_run": Task(PlanRunTask, _plan_run),
    "submit_batch": Task(SubmitBatchTask, lambda task: services().batch_delivery.submit(task)),
    "poll_batch": Task(PollBatchTask, lambda task: services().batch_delivery.poll(task)),
    "collect_batch": Task(CollectBatchTask, lambda task: services().batch_delivery.collect(task)),
}


lambda_handler = lambda_entry(app, services, TASKS, default_action="probe", idempotency="probe_once")
