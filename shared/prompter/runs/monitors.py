"""Monitors (SPEC §2.9): monitoring that runs by itself.

A monitor names a workspace's templates, the targets each is asked of (provider, model, grounding),
countries, samples and a schedule. Each firing starts one batch run per template x target, tagged
with the monitor and the firing's scheduled time. A firing delivered twice starts its runs once:
each run's id is derived from (monitor, scheduled time, template, target), so a second delivery
finds the runs already there and starts only what did not start. Deployed, the schedule is an
EventBridge Scheduler schedule the API keeps in step with the monitor; locally ``make dev`` fires
due monitors itself (:meth:`Monitors.fire_due`).

Everything a firing would refuse is refused when the monitor is created or changed, as a 422
naming the field: templates of another workspace, pairs a provider cannot answer, countries outside
a template, a firing of more answers than ``PROMPTER_MAX_ANSWERS_PER_FIRING``, an expression or a
time zone EventBridge Scheduler would refuse, a webhook that is not https.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator

from prompter.adapters.scheduler import Schedules, ScheduleSpec
from prompter.adapters.secrets import AlertSecrets
from prompter.api.vocabulary import is_loopback
from prompter.errors import (
    FieldError,
    InvalidInput,
    MonitorNotFound,
    PreconditionFailed,
    PrompterError,
    TemplateNotFound,
)
from prompter.observability import MetricName, add_metric, logger
from prompter.registry.countries import country_code
from prompter.registry.models import Provider
from prompter.registry.paging import decode_cursor, encode_cursor
from prompter.runs.delivery import Delivery, delivery_problem
from prompter.runs.grounding import Grounding, grounding_mode
from prompter.runs.running import BatchRunRequest, Runner
from prompter.runs.schedules import Rate, ScheduleError, next_fire, parse, time_zone
from prompter.schema_base import Model
from prompter.scope import Scope

if TYPE_CHECKING:  # the store is built on first use (cold start: SQLAlchemy loads with it)
    from prompter.db.monitors import MonitorStore

MAX_TEMPLATES = 50
MAX_TARGETS = 10
# Run ids of a firing: uuid5 in this namespace of (monitor, scheduled time, template, target).
FIRING_NAMESPACE = uuid.UUID("6f1f7f0e-4f7a-4c55-9a51-6d6f6e69746f")
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of a generated secret, not a secret


class ScheduleIn(Model):
    expression: str = Field(
        min_length=1,
        max_length=256,
        description="EventBridge Scheduler syntax: cron(min hour day-of-month month day-of-week year) "
        "or rate(N hours|days)",
        examples=["cron(0 6 * * ? *)"],
    )
    timezone: str = Field(default="UTC", min_length=1, max_length=64, description="IANA time zone name")


class Target(Model):
    """What each template is asked of: its own provider and model unless named, with a search mode."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider | None = Field(default=None, description="default: each template's own")
    model_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="default: each template's"
    )
    grounding: Grounding | None = Field(
        default=None, description='"none", "auto" or "required" (default "none"; "auto" for perplexity)'
    )


class _MonitorFields(Model):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    template_ids: list[str] = Field(min_length=1, max_length=MAX_TEMPLATES)
    targets: list[Target] = Field(default_factory=lambda: [Target()], min_length=1, max_length=MAX_TARGETS)
    countries: list[str] | None = Field(
        default=None, min_length=1, max_length=250, description="default: each template's own countries"
    )
    samples: int = Field(default=5, ge=1, le=20, strict=True, description="answers per country")
    delivery: Delivery = Field(
        default="sync",
        description='how its runs are delivered: "sync" (a call per answer) or "batch" (the provider\'s '
        "batch API, within 24 h, at its batch price; every target must have one)",
    )
    schedule: ScheduleIn
    enabled: bool = Field(default=True, strict=True)
    alert_webhook_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="https URL receiving the monitor's VisibilityShift and ProviderVersionChanged events, "
        "signed",
    )

    @field_validator("template_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("names a template twice")
        return value


class MonitorCreate(_MonitorFields):
    org_id: str | None = Field(default=None, min_length=1, max_length=128, description="tenant (local only)")


class MonitorPatch(Model):
    """The fields to change; ``schedule`` is replaced as a whole, ``alert_webhook_url: null`` removes it."""

    model_config = ConfigDict(extra="forbid")

    org_id: str | None = Field(default=None, min_length=1, max_length=128, description="tenant (local only)")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    template_ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_TEMPLATES)
    targets: list[Target] | None = Field(default=None, min_length=1, max_length=MAX_TARGETS)
    countries: list[str] | None = Field(default=None, min_length=1, max_length=250)
    samples: int | None = Field(default=None, ge=1, le=20, strict=True)
    delivery: Delivery | None = None
    schedule: ScheduleIn | None = None
    enabled: bool | None = Field(default=None, strict=True)
    alert_webhook_url: str | None = Field(default=None, min_length=1, max_length=2048)


class Monitor(Model):
    id: str
    org_id: str
    workspace_id: str
    name: str
    template_ids: list[str]
    targets: list[Target]
    countries: list[str] | None
    samples: int
    delivery: Delivery
    schedule: ScheduleIn
    enabled: bool
    alert_webhook_url: str | None
    created_at: datetime
    updated_at: datetime
    next_run_at: datetime | None = Field(description="UTC; null when paused or never firing again")


class MonitorCreated(Monitor):
    alert_secret: str | None = Field(
        description="signs the webhook's alerts (X-Prompter-Signature); shown this once, null without "
        "a webhook"
    )


class MonitorPage(Model):
    items: list[Monitor]
    next_cursor: str | None


class Firing(Model):
    monitor_id: str
    scheduled_at: datetime
    run_ids: list[str] = Field(description="one batch run per template x target")


def utcnow() -> datetime:
    return datetime.now(UTC)


def etag(row: dict[str, Any]) -> str:
    """A hash of the monitor's settings: what a PATCH's If-Match must name."""
    settings = {k: row[k] for k in (*_SETTINGS, "updated_at")}
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


_SETTINGS = (
    "name",
    "template_ids",
    "targets",
    "countries",
    "samples",
    "delivery",
    "schedule_expression",
    "schedule_timezone",
    "enabled",
    "alert_webhook_url",
)


def monitor_out(row: dict[str, Any]) -> Monitor:
    return Monitor(
        id=row["id"],
        org_id=row["org_id"],
        workspace_id=row["workspace_id"],
        name=row["name"],
        template_ids=row["template_ids"],
        targets=[Target.model_validate(t) for t in row["targets"]],
        countries=row["countries"],
        samples=row["samples"],
        delivery=row["delivery"],
        schedule=ScheduleIn(expression=row["schedule_expression"], timezone=row["schedule_timezone"]),
        enabled=row["enabled"],
        alert_webhook_url=row["alert_webhook_url"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        next_run_at=row["next_run_at"],
    )


def firing_run_id(monitor_id: str, scheduled_at: datetime, template_id: str, target: dict[str, Any]) -> str:
    key = json.dumps(
        [monitor_id, scheduled_at.astimezone(UTC).isoformat(), template_id, target],
        sort_keys=True,
        separators=(",", ":"),
    )
    return str(uuid.uuid5(FIRING_NAMESPACE, key))


def _settings_row(fields: _MonitorFields) -> dict[str, Any]:
    """A monitor's settings as its row stores them (countries as ISO codes)."""
    countries = fields.countries
    return {
        "name": fields.name,
        "template_ids": fields.template_ids,
        "targets": [t.model_dump(mode="json") for t in fields.targets],
        "countries": None
        if countries is None
        else [country_code(c, ("countries", i)) for i, c in enumerate(countries)],
        "samples": fields.samples,
        "delivery": fields.delivery,
        "schedule_expression": fields.schedule.expression,
        "schedule_timezone": fields.schedule.timezone,
        "enabled": fields.enabled,
        "alert_webhook_url": fields.alert_webhook_url,
    }


def _prefixed(error: InvalidInput, *prefix: str | int) -> InvalidInput:
    return InvalidInput([FieldError((*prefix, *e.loc), e.message, e.type) for e in error.errors])


class Monitors:
    def __init__(
        self,
        store: MonitorStore,
        runner: Runner,
        schedules: Schedules | None,
        secrets_store: AlertSecrets,
        max_answers: int,
        allow_loopback_webhooks: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.schedules = schedules
        self.secrets = secrets_store
        self.max_answers = max_answers
        self.allow_loopback = allow_loopback_webhooks
        self.clock = clock or (lambda: utcnow())  # the module's, looked up on each call

    # ------------------------------------------------------------ validation

    def _check(self, org_id: str, workspace_id: str, fields: _MonitorFields) -> None:
        """Everything a firing of these settings would refuse, as one 422 naming each field."""
        problems: list[FieldError] = []
        templates = self.store.templates(org_id, fields.template_ids)
        ours = {}
        for i, template_id in enumerate(fields.template_ids):
            found = templates.get(template_id)
            if found is None or found["workspace_id"] != workspace_id:
                message = f"{template_id} is not an active template of workspace {workspace_id}"
                problems.append(FieldError(("template_ids", i), message, "unknown_template"))
            else:
                ours[template_id] = found
        answers = 0
        for template_id, template in ours.items():
            countries = self._countries(template_id, template, fields.countries, problems)
            problems.extend(self._target_problems(template, fields.targets, fields.delivery))
            answers += len(countries) * len(fields.targets) * fields.samples
        if answers > self.max_answers:
            message = (
                f"a firing would ask for {answers} answers (templates x targets x countries x samples); "
                f"at most {self.max_answers}"
            )
            problems.append(FieldError(("samples",), message, "too_many_answers"))
        problems.extend(self._schedule_problems(fields.schedule))
        if fields.alert_webhook_url is not None:
            problem = self._webhook_problem(fields.alert_webhook_url)
            if problem:
                problems.append(FieldError(("alert_webhook_url",), problem, "url"))
        if problems:
            raise InvalidInput(list({(p.loc, p.message): p for p in problems}.values()))

    @staticmethod
    def _countries(
        template_id: str, template: dict[str, Any], wanted: list[str] | None, problems: list[FieldError]
    ) -> set[str]:
        """The countries a firing asks the template in (each of ``wanted`` must be one of its own)."""
        own = list(template["country_set"] or [])
        if wanted is None:
            if not own:
                problems.append(
                    FieldError(
                        ("countries",), f"template {template_id} has no countries; name them", "missing"
                    )
                )
            return set(own)
        chosen = set()
        for i, raw in enumerate(wanted):
            try:
                code = country_code(raw, ("countries", i))
            except InvalidInput as error:
                problems.extend(error.errors)
                continue
            if code not in own:
                problems.append(
                    FieldError(
                        ("countries", i), f"{code} is not a country of template {template_id}", "country"
                    )
                )
            chosen.add(code)
        return chosen

    def _target_problems(
        self, template: dict[str, Any], targets: list[Target], delivery: str
    ) -> list[FieldError]:
        """Each target must make a pair the template's provider can answer, with a search it offers,
        through its batch API when the monitor's delivery is ``batch`` (a 422 naming ``delivery``)."""
        problems = []
        for j, target in enumerate(targets):
            request = BatchRunRequest(
                provider=target.provider, model_id=target.model_id, grounding=target.grounding
            )
            try:
                provider, _ = self.runner.engine(template, request)
                grounding = grounding_mode(target.grounding, None, provider)
            except InvalidInput as error:
                problems.extend(_prefixed(error, "targets", j).errors)
                continue
            try:
                delivery_problem(delivery, provider, grounding)
            except InvalidInput as error:
                problems.extend(FieldError(e.loc, f"targets[{j}]: {e.message}", e.type) for e in error.errors)
        return problems

    @staticmethod
    def _schedule_problems(schedule: ScheduleIn) -> list[FieldError]:
        problems = []
        try:
            parse(schedule.expression)
        except ScheduleError as error:
            problems.append(FieldError(("schedule", "expression"), str(error), "schedule_expression"))
        try:
            time_zone(schedule.timezone)
        except ScheduleError as error:
            problems.append(FieldError(("schedule", "timezone"), str(error), "time_zone"))
        return problems

    def _webhook_problem(self, url: str) -> str | None:
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return "is not a URL"
        if not host or parts.username or parts.password:
            return "must be an https URL with a host and no credentials"
        if parts.scheme == "https":
            return None
        if parts.scheme == "http" and self.allow_loopback and is_loopback(host):
            return None
        return "must be https" + (" (or http to a loopback address, locally)" if self.allow_loopback else "")

    # ------------------------------------------------------------ the schedule

    def _next(self, row: dict[str, Any], after: datetime) -> datetime | None:
        if not row["enabled"]:
            return None
        schedule = parse(row["schedule_expression"])
        return next_fire(schedule, time_zone(row["schedule_timezone"]), after, row["schedule_anchor_at"])

    def _spec(self, row: dict[str, Any]) -> ScheduleSpec:
        schedule = parse(row["schedule_expression"])
        start = row["schedule_anchor_at"] + schedule.every if isinstance(schedule, Rate) else None
        return ScheduleSpec(
            monitor_id=row["id"],
            expression=row["schedule_expression"],
            timezone=row["schedule_timezone"],
            enabled=row["enabled"],
            start=start,
        )

    # ------------------------------------------------------------ the routes

    def create(self, scope: Scope, workspace_id: str, body: MonitorCreate) -> tuple[MonitorCreated, str]:
        self._check(scope.org_id, workspace_id, body)
        now = self.clock()
        monitor_id = str(uuid.uuid4())
        row: dict[str, Any] = {
            "id": monitor_id,
            "org_id": scope.org_id,
            "workspace_id": workspace_id,
            **_settings_row(body),
            "alert_secret_ref": None,
            "schedule_anchor_at": now,
            "created_at": now,
            "updated_at": now,
        }
        row["next_run_at"] = self._next(row, now)
        secret = None
        if body.alert_webhook_url is not None:
            secret = SECRET_PREFIX + secrets.token_hex(32)
            row["alert_secret_ref"] = self.secrets.create(monitor_id, secret)
        try:
            self.store.insert(row)
            if self.schedules is not None:
                self.schedules.put(self._spec(row), exists=False)
        except PrompterError:
            self._undo_create(row)
            raise
        logger.info("monitor created", extra={"action": "create_monitor", "monitor_id": monitor_id})
        out = MonitorCreated(**monitor_out(row).model_dump(), alert_secret=secret)
        return out, etag(row)

    def _undo_create(self, row: dict[str, Any]) -> None:
        """Nothing half-written: the row and the secret of a monitor whose schedule failed go."""
        try:
            self.store.delete(row["org_id"], row["id"])
        finally:
            if row["alert_secret_ref"]:
                self.secrets.delete(row["alert_secret_ref"])

    def get(self, scope: Scope, monitor_id: str) -> tuple[Monitor, str]:
        row = self._row(scope, monitor_id)
        return monitor_out(row), etag(row)

    def _row(self, scope: Scope, monitor_id: str) -> dict[str, Any]:
        row = self.store.get(scope.lookup_org, monitor_id)
        if row is None:
            raise MonitorNotFound(monitor_id)
        return row

    def page(self, scope: Scope, workspace_id: str, limit: int, cursor: str | None) -> MonitorPage:
        after = decode_cursor(cursor) if cursor else None
        rows = self.store.page(scope.org_id, workspace_id, limit + 1, after)
        more = len(rows) > limit
        rows = rows[:limit]
        following = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more and rows else None
        return MonitorPage(items=[monitor_out(r) for r in rows], next_cursor=following)

    def patch(
        self, scope: Scope, monitor_id: str, body: MonitorPatch, if_match: str | None
    ) -> tuple[Monitor, str]:
        row = self._row(scope, monitor_id)
        if if_match is not None and if_match != "*" and if_match != etag(row):
            raise PreconditionFailed(
                f"monitor {monitor_id} changed since it was read (If-Match {if_match!r}, now {etag(row)!r})",
                monitor_id=monitor_id,
            )
        given = body.model_fields_set - {"org_id"}
        current = _MonitorFields(
            name=row["name"],
            template_ids=row["template_ids"],
            targets=[Target.model_validate(t) for t in row["targets"]],
            countries=row["countries"],
            samples=row["samples"],
            delivery=row["delivery"],
            schedule=ScheduleIn(expression=row["schedule_expression"], timezone=row["schedule_timezone"]),
            enabled=row["enabled"],
            alert_webhook_url=row["alert_webhook_url"],
        )
        merged = current.model_copy(update={name: getattr(body, name) for name in given})
        for name in given - {"alert_webhook_url", "countries"}:  # null: no webhook; each template's own
            if getattr(body, name) is None:
                raise InvalidInput([FieldError((name,), "cannot be null", "null")])
        self._check(row["org_id"], row["workspace_id"], merged)
        now = self.clock()
        new = {**row, **_settings_row(merged), "updated_at": now}
        rescheduled = "schedule" in given or (merged.enabled and not row["enabled"])
        if rescheduled:
            new["schedule_anchor_at"] = now
        new["next_run_at"] = (
            self._next(new, now) if (rescheduled or not merged.enabled) else row["next_run_at"]
        )
        if merged.enabled and not rescheduled and row["next_run_at"] is None:
            new["next_run_at"] = self._next(new, now)
        secret_ref = row["alert_secret_ref"]
        if merged.alert_webhook_url is None and secret_ref:
            new["alert_secret_ref"] = None
        values = {k: v for k, v in new.items() if k not in ("id", "org_id", "workspace_id", "created_at")}
        if not self.store.replace(monitor_id, row["updated_at"], values):
            raise PreconditionFailed(
                f"monitor {monitor_id} changed while it was being updated", monitor_id=monitor_id
            )
        if self.schedules is not None:
            try:
                self.schedules.put(self._spec(new), exists=True)
            except PrompterError:
                restore = {
                    k: v for k, v in row.items() if k not in ("id", "org_id", "workspace_id", "created_at")
                }
                self.store.replace(monitor_id, now, restore)
                raise
        if secret_ref and new["alert_secret_ref"] is None:
            self.secrets.delete(secret_ref)
        logger.info("monitor changed", extra={"action": "update_monitor", "monitor_id": monitor_id})
        return monitor_out(new), etag(new)

    def delete(self, scope: Scope, monitor_id: str) -> None:
        row = self._row(scope, monitor_id)
        if self.schedules is not None:
            self.schedules.delete(monitor_id)  # first: a schedule must never fire a deleted monitor
        removed = self.store.delete(scope.lookup_org, monitor_id)
        if removed is not None and removed["alert_secret_ref"]:
            self.secrets.delete(removed["alert_secret_ref"])
        logger.info("monitor deleted", extra={"action": "delete_monitor", "monitor_id": row["id"]})

    def alert_secret(self, row: dict[str, Any]) -> str | None:
        return self.secrets.read(row["alert_secret_ref"]) if row["alert_secret_ref"] else None

    # ------------------------------------------------------------ firing

    def trigger(self, scope: Scope, monitor_id: str) -> Firing:
        """A new firing now, paused or not."""
        row = self._row(scope, monitor_id)
        return self._fire(row, self.clock())

    def fire(self, monitor_id: str, scheduled_at: datetime) -> Firing | None:
        """A scheduled firing (the scheduler's delivery); None when the monitor is gone or paused."""
        row = self.store.get(None, monitor_id)
        if row is None or not row["enabled"]:
            logger.info(
                "firing skipped: the monitor is gone or paused",
                extra={"action": "fire_monitor", "monitor_id": monitor_id},
            )
            return None
        firing = self._fire(row, scheduled_at)
        following = self._next(row, max(scheduled_at, self.clock()))
        if row["next_run_at"] is not None and row["next_run_at"] <= scheduled_at:
            self.store.advance(monitor_id, row["next_run_at"], following)
        return firing

    def due(self, limit: int = 50) -> list[tuple[str, datetime]]:
        """The firings that are due now, (monitor id, the time each was due), earliest first: what
        ``make dev``'s scheduler sends the monitors function, as EventBridge Scheduler does when
        deployed (firing twice is harmless: :meth:`fire` starts a firing's runs once)."""
        return [(row["id"], row["next_run_at"]) for row in self.store.due(self.clock(), limit)]

    def _fire(self, row: dict[str, Any], scheduled_at: datetime) -> Firing:
        scheduled_at = scheduled_at.astimezone(UTC)
        scope = Scope(org_id=row["org_id"])
        run_ids = []
        answers = 0
        for template_id in row["template_ids"]:
            for target in row["targets"]:
                run_id = firing_run_id(row["id"], scheduled_at, template_id, target)
                body = BatchRunRequest(
                    countries=row["countries"],
                    samples=row["samples"],
                    delivery=row["delivery"],
                    provider=target.get("provider"),
                    model_id=target.get("model_id"),
                    grounding=target.get("grounding"),
                )
                try:
                    started = self.runner.start_batch(
                        scope,
                        template_id,
                        body,
                        run_id=run_id,
                        monitor_id=row["id"],
                        scheduled_at=scheduled_at,
                    )
                except (TemplateNotFound, InvalidInput) as error:
                    # deleted or changed since the monitor was saved: the rest of the firing goes on
                    logger.warning(
                        "monitor run not started",
                        extra={
                            "action": "fire_monitor",
                            "monitor_id": row["id"],
                            "template_id": template_id,
                            "error_code": error.code,
                        },
                    )
                    continue
                run_ids.append(started.run_id)
                answers += started.answers
        add_metric(MetricName.MONITOR_FIRINGS)
        add_metric(MetricName.MONITOR_RUNS, len(run_ids))
        add_metric(MetricName.MONITOR_ANSWERS, answers)
        logger.info(
            "monitor fired",
            extra={
                "action": "fire_monitor",
                "monitor_id": row["id"],
                "scheduled_at": scheduled_at.isoformat(),
                "runs": len(run_ids),
                "answers": answers,
            },
        )
        return Firing(monitor_id=row["id"], scheduled_at=scheduled_at, run_ids=run_ids)
