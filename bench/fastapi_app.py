"""Cold-start baseline: the template registry written as the equivalent FastAPI service.

SPEC §7 compares each function's import with "an equivalent FastAPI + SQLAlchemy +
prometheus-client app". This is that app, written the way such a service is usually written and
serving the same routes with the same behaviour:

- FastAPI routes create, check-duplicate, list (keyset pages), get, soft delete and health, plus
  the Prometheus ``/metrics`` endpoint; pydantic request/response models; error bodies
  ``{"detail": {"code", "message", ...}}`` with field-naming validation errors;
- a SQLAlchemy ORM declarative model of ``prompt_templates`` (JSONB on PostgreSQL, the partial
  unique index on the active identity), sessions per request, an engine created lazily on first use,
  single-statement ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` creates;
- prometheus-client Counters and a Histogram, recorded by a middleware;
- the same domain code for the config identity (``prompter.registry.identity``), so only the framework
  stack differs from ``functions/create_template/handler.py``.

It is not deployed; ``bench.cold_start`` imports it in fresh processes and smoke-tests it
in-process.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Index,
    String,
    Text,
    create_engine,
    literal,
    select,
    text,
    tuple_,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from prompter.errors import InvalidInput
from prompter.registry.identity import canonical_config, effective_provider, hash_canonical

log = logging.getLogger("prompter")
log.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

# ---------------------------------------------------------------- metrics

REQUESTS = Counter("prompter_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("prompter_http_request_seconds", "HTTP request latency", ["method", "route"])
TEMPLATES_CREATED = Counter("prompter_templates_created_total", "Templates created")
TEMPLATE_CONFLICTS = Counter("prompter_template_conflicts_total", "Creates refused: same active config")
DB_UNAVAILABLE = Counter("prompter_db_unavailable_total", "Requests failed because the database was down")

# ---------------------------------------------------------------- ORM model

JsonType = JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = DateTime(timezone=True)
ACTIVE_SQL = text("deleted_at IS NULL")


class Base(DeclarativeBase):
    pass


class PromptTemplate(Base):
    __tablename__ = "prompt_templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(128))
    workspace_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(32))
    model_id: Mapped[str] = mapped_column(String(200))
    config_hash: Mapped[str] = mapped_column(String(64))
    canonical_config: Mapped[dict[str, Any]] = mapped_column(JsonType)
    system_instructions: Mapped[str] = mapped_column(Text)
    user_prompt_template: Mapped[str] = mapped_column(Text)
    country_set: Mapped[list[str]] = mapped_column(JsonType)
    inference_params: Mapped[dict[str, Any]] = mapped_column(JsonType)
    tools_spec: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    response_format: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    grounding_profile_id: Mapped[str | None] = mapped_column(String(200))
    grounding_snapshot_id: Mapped[str | None] = mapped_column(String(200))
    retrieval_params: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    preprocess_pipeline_id: Mapped[str | None] = mapped_column(String(200))
    postprocess_pipeline_id: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    deleted_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        Index(
            "uq_prompt_templates_active_config",
            "org_id",
            "workspace_id",
            "config_hash",
            unique=True,
            postgresql_where=ACTIVE_SQL,
            sqlite_where=ACTIVE_SQL,
        ),
        Index("ix_prompt_templates_listing", "org_id", "workspace_id", "created_at", "id"),
    )


ACTIVE = PromptTemplate.deleted_at.is_(None)
IDENTITY = ["org_id", "workspace_id", "config_hash"]

# ---------------------------------------------------------------- API models

Provider = Literal["openai", "azure-openai", "google", "anthropic", "bedrock", "fake"]


class CreateTemplateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=100_000)

    org_id: str | None = Field(default=None, min_length=1, max_length=128, description="tenant (local only)")
    workspace_id: str = Field(min_length=1, max_length=128, description="brand workspace")
    name: str = Field(min_length=1, max_length=200)
    provider: Provider | None = Field(default=None, description="inferred from model_id when absent")
    system_instructions: str | None = None
    user_prompt_template: str = Field(min_length=1, description="may hold {{placeholders}}")
    country_set: list[str] = Field(max_length=250, description="ISO 3166-1 alpha-2 codes; UK is read as GB")
    model_id: str = Field(min_length=1, max_length=200)
    inference_params: dict[str, Any] = Field(default_factory=dict)
    tools_spec: list[dict[str, Any]] = Field(default_factory=list)
    response_format: dict[str, Any] | None = None
    grounding_profile_id: str | None = Field(default=None, max_length=200)
    grounding_snapshot_id: str | None = Field(default=None, max_length=200)
    retrieval_params: dict[str, Any] | None = None
    preprocess_pipeline_id: str | None = Field(default=None, max_length=200)
    postprocess_pipeline_id: str | None = Field(default=None, max_length=200)
    created_by: str | None = Field(default=None, max_length=200)


class Template(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    org_id: str
    workspace_id: str
    name: str
    provider: Provider
    model_id: str
    config_hash: str
    system_instructions: str
    user_prompt_template: str
    country_set: list[str]
    inference_params: dict[str, Any]
    tools_spec: list[dict[str, Any]]
    response_format: dict[str, Any] | None
    grounding_profile_id: str | None
    grounding_snapshot_id: str | None
    retrieval_params: dict[str, Any] | None
    preprocess_pipeline_id: str | None
    postprocess_pipeline_id: str | None
    created_by: str | None
    created_at: datetime
    deleted_at: datetime | None = None


class TemplateDetail(Template):
    canonical_config: dict[str, Any]


class TemplatePage(BaseModel):
    items: list[Template]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class DuplicateCheck(BaseModel):
    exact_match: bool
    template_id: str | None


class Health(BaseModel):
    status: Literal["ok"]
    db: str


class FieldProblem(BaseModel):
    field: str
    loc: list[str | int]
    message: str
    type: str


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    errors: list[FieldProblem] | None = None
    template_id: str | None = None


class ErrorBody(BaseModel):
    detail: ErrorDetail


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _errors(status: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody}}


# ---------------------------------------------------------------- database


@lru_cache(maxsize=1)
def engine() -> Engine:
    """Created on first use (not at import), one per process; autocommit single statements."""
    url = os.environ.get("DATABASE_URL") or "sqlite:///.data/prompter.db"
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=5, max_overflow=10, pool_recycle=600)


def db_session() -> Iterator[Session]:
    try:
        with Session(engine()) as session:
            yield session
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
        DB_UNAVAILABLE.inc()
        log.warning("database unavailable: %r", error)
        raise ApiError(
            503, "DATABASE_UNAVAILABLE", "the database is unavailable; try again shortly"
        ) from error


DB = Annotated[Session, Depends(db_session)]


def org_scope(x_org_id: Annotated[str | None, Header(max_length=128)] = None) -> str:
    return x_org_id or "default"


ORG = Annotated[str, Depends(org_scope)]


def identity(body: CreateTemplateRequest) -> tuple[dict[str, Any], str, str]:
    try:
        canonical = canonical_config(body.model_dump())
        provider = effective_provider(body.provider, body.model_id)
    except InvalidInput as invalid:
        raise ApiError(
            422, "VALIDATION_ERROR", invalid.message, errors=[e.as_dict() for e in invalid.errors]
        ) from invalid
    return canonical, hash_canonical(canonical), provider


def active_id(db: Session, org_id: str, workspace_id: str, digest: str) -> str | None:
    """The id of the active template with this config, if any."""
    return db.scalar(
        select(PromptTemplate.id).where(
            PromptTemplate.org_id == org_id,
            PromptTemplate.workspace_id == workspace_id,
            PromptTemplate.config_hash == digest,
            ACTIVE,
        )
    )


def active_row(db: Session, org_id: str, template_id: str) -> PromptTemplate:
    """The tenant's active template ``template_id``; a 404 when there is none."""
    row = db.scalar(
        select(PromptTemplate).where(
            PromptTemplate.id == template_id, PromptTemplate.org_id == org_id, ACTIVE
        )
    )
    if row is None:
        raise ApiError(404, "TEMPLATE_NOT_FOUND", f"no active template {template_id}")
    return row


def encode_cursor(created_at: datetime, template_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), template_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, template_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created_at).astimezone(UTC), str(template_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise ApiError(422, "VALIDATION_ERROR", "cursor: is not a cursor this API returned") from error


def utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def as_template(row: PromptTemplate, model: type[Template] = Template) -> Template:
    found = model.model_validate(row)
    return found.model_copy(update={"created_at": utc(found.created_at), "deleted_at": utc(found.deleted_at)})


# ---------------------------------------------------------------- app

app = FastAPI(title="Prompter", version="0.1.0")
TEMPLATES = "/api/prompt-templates"


@app.middleware("http")
async def observe(request: Request, call_next: Any) -> Any:
    started = time.perf_counter()
    response = await call_next(request)
    route = getattr(request.scope.get("route"), "path", "unmatched")
    LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    return response


@app.exception_handler(ApiError)
async def api_error(_: Request, error: ApiError) -> JSONResponse:
    log.info("request rejected", extra={"status": error.status, "code": error.code})
    body = {"code": error.code, "message": error.message, **error.details}
    return JSONResponse({"detail": body}, status_code=error.status)


@app.exception_handler(RequestValidationError)
async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
    problems = []
    for item in error.errors():
        loc = list(item.get("loc") or ())[1:] or ["body"]
        field = "".join(
            f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc)
        )
        problems.append(
            {"field": field, "loc": loc, "message": item.get("msg", "invalid"), "type": item["type"]}
        )
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return JSONResponse(
        {"detail": {"code": "VALIDATION_ERROR", "message": message, "errors": problems}}, status_code=422
    )


@app.post(TEMPLATES, status_code=201, response_model=Template, responses={**_errors(409), **_errors(422)})
def create_template(body: CreateTemplateRequest, db: DB, org: ORG, response: Response) -> Template:
    canonical, digest, provider = identity(body)
    org_id = body.org_id or org
    # the request's own columns as sent; the identity's columns from the canonical config
    values = body.model_dump(exclude={"org_id", "provider", "model_id", "system_instructions", "country_set"})
    values |= {
        "id": str(uuid.uuid4()),
        "org_id": org_id,
        "provider": provider,
        "model_id": canonical["model_id"],
        "config_hash": digest,
        "canonical_config": canonical,
        "system_instructions": body.system_instructions or "",
        "country_set": canonical["country_set"],
        "created_at": datetime.now(UTC),
    }
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(PromptTemplate)
        .values(**values)
        .on_conflict_do_nothing(index_elements=IDENTITY, index_where=ACTIVE)
        .returning(PromptTemplate)
    )
    created = db.scalars(stmt).first()
    if created is None:
        existing = active_id(db, org_id, body.workspace_id, digest)
        TEMPLATE_CONFLICTS.inc()
        raise ApiError(409, "TEMPLATE_EXISTS", "an active template has this config", template_id=existing)
    db.commit()
    TEMPLATES_CREATED.inc()
    log.info("template created", extra={"template_id": created.id, "provider": created.provider})
    response.headers["Location"] = f"{TEMPLATES}/{created.id}"
    return as_template(created)


@app.post(f"{TEMPLATES}/check-duplicate", response_model=DuplicateCheck, responses=_errors(422))
def check_duplicate(body: CreateTemplateRequest, db: DB, org: ORG) -> DuplicateCheck:
    _, digest, _ = identity(body)
    found = active_id(db, body.org_id or org, body.workspace_id, digest)
    return DuplicateCheck(exact_match=found is not None, template_id=found)


@app.get(TEMPLATES, response_model=TemplatePage, responses=_errors(422))
def list_templates(
    db: DB,
    org: ORG,
    workspace_id: Annotated[str, Query(min_length=1, max_length=128)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> TemplatePage:
    stmt = select(PromptTemplate).where(
        PromptTemplate.org_id == org, PromptTemplate.workspace_id == workspace_id, ACTIVE
    )
    if cursor:
        created_at, template_id = decode_cursor(cursor)
        stmt = stmt.where(
            tuple_(PromptTemplate.created_at, PromptTemplate.id)
            < tuple_(literal(created_at, Timestamp), template_id)
        )
    stmt = stmt.order_by(PromptTemplate.created_at.desc(), PromptTemplate.id.desc()).limit(limit + 1)
    rows = list(db.scalars(stmt))
    items = [as_template(r) for r in rows[:limit]]
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
    return TemplatePage(items=items, next_cursor=next_cursor)


@app.get(f"{TEMPLATES}/health", response_model=Health)
def health(db: DB) -> Health:
    db.execute(select(literal(1)))
    return Health(status="ok", db=db.get_bind().dialect.name)


@app.get(f"{TEMPLATES}/{{template_id}}", response_model=TemplateDetail, responses=_errors(404))
def get_template(template_id: str, db: DB, org: ORG) -> Template:
    return as_template(active_row(db, org, template_id), TemplateDetail)


@app.delete(f"{TEMPLATES}/{{template_id}}", status_code=204, responses=_errors(404))
def delete_template(template_id: str, db: DB, org: ORG) -> Response:
    row = active_row(db, org, template_id)
    row.deleted_at = datetime.now(UTC)
    db.commit()
    log.info("template deleted", extra={"template_id": template_id})
    return Response(status_code=204)


@app.get("/metrics", include_in_schema=False)
def prometheus_metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
