"""Migrations on deploy: a custom resource that upgrades the database to the Alembic head.

The resource's onEvent handler is ``functions/migrate`` (built by the functions helper: same layer,
same VPC placement, security group and database settings as the API functions), behind the CDK
Provider framework. Its ``MigrationsHash`` property hashes the migrations folder, so a deploy that
adds or changes a migration updates the resource, and the update runs the upgrade; a deploy without
one leaves it alone. The stack makes the API functions depend on the resource, so new function code
only goes live on a migrated database, and a failed migration fails (and rolls back) the deploy with
the handler's message as the reason.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.layer import tree_hash

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = ROOT / "shared" / "prompter" / "db" / "migrations"
RESOURCE_TYPE = "Custom::PrompterMigrations"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def migrations_hash(folder: Path = MIGRATIONS_DIR) -> str:
    """SHA-256 of the migration scripts (paths and contents; bytecode caches ignored)."""
    if not (folder / "env.py").is_file():
        raise FileNotFoundError(f"no Alembic environment in {folder}")
    return tree_hash(folder)


class PrompterMigrations(Construct):
    """``self.resource`` (the custom resource), ``self.provider``, ``self.migrate_function``."""

    def __init__(self, scope: Construct, construct_id: str, *, migrate_function: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        self.migrate_function = migrate_function
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=migrate_function,
            log_group=logs.LogGroup(self, "ProviderLogs", retention=LOG_RETENTION),
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={"MigrationsHash": migrations_hash()},
        )

    @property
    def revision(self) -> str:
        """The Alembic revision the database is at after the deploy."""
        return self.resource.get_att_string("Revision")
