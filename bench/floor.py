"""The framework floor of a warm create (SPEC §7): a Lambda handler with the same Powertools REST
resolver and OpenAPI validation of the same request model, the same Logger and Metrics decorators,
that runs one pipelined one-round-trip ``INSERT ... ON CONFLICT DO NOTHING`` through the same engine
(SQLAlchemy over pg8000 and the service's one-round-trip wire) and nothing else: no identity, cost
guard, tenancy or error mapping. What Prompter adds on top of it is its own work.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit
from sqlalchemy import text

from prompter.registry.models import CreateTemplateRequest

TABLE = "bench_floor"
INSERT = text(
    f"INSERT INTO {TABLE} (id, org_id, workspace_id, name, provider, model_id, config_hash, canonical_config,"
    " system_instructions, user_prompt_template, country_set, inference_params, tools_spec, created_at)"
    " VALUES (:id, 'default', :workspace_id, :name, 'openai', :model_id, :config_hash,"
    " CAST(:canonical_config AS jsonb), :system_instructions, :user_prompt_template,"
    " CAST(:country_set AS jsonb), CAST(:inference_params AS jsonb), '[]', :created_at)"
    " ON CONFLICT (org_id, workspace_id, config_hash) WHERE deleted_at IS NULL DO NOTHING"
)

app = APIGatewayRestResolver(enable_validation=True)
logger = Logger(service="floor")
metrics = Metrics(namespace="PrompterFloor", service="floor")
engine: Any = None  # set by :func:`floor_handler`


@app.post("/api/prompt-templates")
def create(body: Annotated[CreateTemplateRequest, Body()]) -> Response[str]:
    canonical = body.model_dump_json()
    row = {
        "id": str(uuid.uuid4()),
        "workspace_id": body.workspace_id,
        "name": body.name,
        "model_id": body.model_id,
        "config_hash": str(uuid.uuid4().hex * 2)[:64],  # unique: every request inserts
        "canonical_config": canonical,
        "system_instructions": body.system_instructions,
        "user_prompt_template": body.user_prompt_template,
        "country_set": json.dumps(body.country_set),
        "inference_params": json.dumps(body.inference_params),
        "created_at": datetime.now(UTC),
    }
    with engine.connect() as conn:
        conn.execute(INSERT, row)
    metrics.add_metric(name="TemplatesCreated", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=201, content_type=content_types.APPLICATION_JSON, body=json.dumps({"id": row["id"]})
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)


def floor_handler(url: str) -> Any:
    """The floor's handler on ``url``'s database, with its own copy of the templates table."""
    global engine
    from prompter.db.engine import build_engine
    from prompter.settings import DatabaseSettings

    engine = build_engine(DatabaseSettings.from_env({"DATABASE_URL": url}))
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {TABLE} (LIKE prompt_templates INCLUDING ALL)")
    return lambda_handler
