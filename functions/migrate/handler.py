"""Deploy-time migrations: the onEvent handler of the custom resource that upgrades the database.

CloudFormation (through the CDK Provider framework) calls this on Create and on every Update of the
resource, which happens when the migrations folder changes (its hash is a resource property). It
upgrades the database to the Alembic head with the engine the API functions use (same
``DatabaseSettings``: secret ARN, RDS Proxy host, TLS). Delete does nothing: the schema outlives
the stack's resources. An exception fails the deployment; its message is the reason shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text

from prompter.db.engine import build_engine
from prompter.db.migrate import upgrade
from prompter.observability import logger
from prompter.settings import DatabaseSettings, environment
from prompter.tracing import traced

PHYSICAL_ID = "prompter-database-schema"
MAX_REASON = 1000  # CloudFormation shows the reason in the console and events; keep it readable


class MigrationFailed(RuntimeError):
    """The database could not be upgraded; the deployment fails with this message."""


def migrate(environ: Mapping[str, str]) -> str:
    """Upgrade the database the settings name to head; the revision it is at afterwards."""
    engine = build_engine(DatabaseSettings.from_env(environ))
    try:
        upgrade(engine)
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()  # one short-lived connection per deploy, not one held by a warm environment


@logger.inject_lambda_context(clear_state=True, log_event=False)
@traced
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = event["RequestType"]
    physical_id = event.get("PhysicalResourceId") or PHYSICAL_ID
    if request == "Delete":
        logger.info("delete: the schema is left as it is")
        return {"PhysicalResourceId": physical_id}
    try:
        revision = migrate(environment())
    except Exception as exc:
        logger.exception("migration failed")
        reason = f"database migration to head failed: {type(exc).__name__}: {exc}"
        raise MigrationFailed(reason[:MAX_REASON]) from exc
    logger.info("database at revision", extra={"revision": revision, "request": request})
    return {"PhysicalResourceId": physical_id, "Data": {"Revision": revision}}
