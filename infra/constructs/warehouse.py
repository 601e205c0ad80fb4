"""The warehouse (SPEC §8): the bucket the Export workflow writes its Parquet files to, the Glue
database and tables Athena reads them through, an Athena workgroup and a named query per report.

- Export bucket: ``<table>/org_id=<org>/workspace_id=<ws>/day=<YYYY-MM-DD>/<export_id>-<part>.parquet``
  (a later export of a day replaces that day's files) and each export's manifest under
  ``exports/<export_id>/``. Encrypted, TLS only, no public access, bucket-owner objects; kept when the
  stack is deleted (it is the warehouse's data).
- Glue: one external Parquet table per export table, columns from :mod:`prompter.exports.schema` (the
  same definition the writer casts to), partitioned by ``org_id``, ``workspace_id`` and ``day`` with
  partition projection: org and workspace are *injected* (a query names them, so Athena reads that
  tenant's prefix only and no partition is ever registered), the day is a *date* range.
- Athena: a workgroup whose settings are enforced (results encrypted in a bucket of their own, engine
  version 3, a scan cutoff per query, CloudWatch metrics), and a named query per report, whose SQL is
  ``infra/queries/<report>.sql`` rendered for Athena (:func:`prompter.exports.reports.for_athena`):
  the text ``make report`` runs locally with DuckDB.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from prompter.exports.reports import REPORTS, for_athena
from prompter.exports.schema import PARTITION_KEYS, TABLES, glue_type

QUERIES_DIR = Path(__file__).resolve().parents[1] / "queries"
# The first day the day projection covers (Athena enumerates days from here to NOW when a query does
# not name them); exports of earlier days are still written, and read by naming their days.
FIRST_DAY = "2026-01-01"
# A query scanning more than this is cancelled (the workgroup's per-query cutoff).
BYTES_SCANNED_CUTOFF = 100 * 1024**3
RESULTS_EXPIRE = Duration.days(30)
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


def database_name(stage: str) -> str:
    """Glue names are lower case, letters, digits and underscores."""
    return "prompter_" + "".join(c if c.isalnum() else "_" for c in stage.lower())


def query_text(report: str) -> str:
    return (QUERIES_DIR / f"{report}.sql").read_text(encoding="utf-8")


def projection(bucket_name: str, table: str) -> dict[str, str]:
    """The table's partition projection: org and workspace injected, the day a date range."""
    return {
        "classification": "parquet",
        "EXTERNAL": "TRUE",
        "projection.enabled": "true",
        "projection.org_id.type": "injected",
        "projection.workspace_id.type": "injected",
        "projection.day.type": "date",
        "projection.day.format": "yyyy-MM-dd",
        "projection.day.range": f"{FIRST_DAY},NOW",
        "projection.day.interval": "1",
        "projection.day.interval.unit": "DAYS",
        "storage.location.template": (
            f"s3://{bucket_name}/{table}/org_id=${{org_id}}/workspace_id=${{workspace_id}}/day=${{day}}/"
        ),
    }


class PrompterWarehouse(Construct):
    """``self.export_bucket``, ``self.results_bucket``, ``self.database`` (Glue), ``self.tables`` (by
    export table), ``self.work_group`` (Athena) and ``self.named_queries`` (by report)."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.export_bucket = s3.Bucket(
            self,
            "Exports",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.results_bucket = s3.Bucket(
            self,
            "QueryResults",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=RESULTS_EXPIRE)],
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
        )
        self.database_name = database_name(stage)
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description=f"Prompter warehouse export ({stage}): answers, brand mentions, citations",
            ),
        )
        self.tables = {table: self._table(table) for table in TABLES}
        self.work_group = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=f"prompter-{stage}",
            description=f"Prompter warehouse reports ({stage})",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=BYTES_SCANNED_CUTOFF,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results_bucket.bucket_name}/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        self.named_queries = {report: self._named_query(stage, report) for report in REPORTS}

    def _table(self, table: str) -> glue.CfnTable:
        bucket = self.export_bucket.bucket_name
        column = glue.CfnTable.ColumnProperty
        resource = glue.CfnTable(
            self,
            "".join(part.capitalize() for part in table.split("_")) + "Table",
            catalog_id=Stack.of(self).account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=table,
                description=f"The export's {table} (prompter.exports.schema)",
                table_type="EXTERNAL_TABLE",
                parameters=projection(bucket, table),
                partition_keys=[column(name=key, type="string") for key in PARTITION_KEYS],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[
                        column(name=c.name, type=glue_type(c.sql_type), comment=c.comment)
                        for c in TABLES[table]
                    ],
                    location=f"s3://{bucket}/{table}/",
                    input_format=PARQUET_INPUT,
                    output_format=PARQUET_OUTPUT,
                    serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=PARQUET_SERDE),
                ),
            ),
        )
        resource.node.add_dependency(self.database)
        return resource

    def _named_query(self, stage: str, report: str) -> athena.CfnNamedQuery:
        sql, parameters = for_athena(query_text(report), self.database_name)
        query = athena.CfnNamedQuery(
            self,
            "".join(part.capitalize() for part in report.split("_")) + "Query",
            name=f"prompter-{stage}-{report.replace('_', '-')}",
            description=(
                f"{report.replace('_', ' ')} over the warehouse export (infra/queries/{report}.sql). "
                f"Execution parameters, in order: {', '.join(parameters)} (days YYYY-MM-DD)."
            ),
            database=self.database_name,
            work_group=self.work_group.name,
            query_string=sql,
        )
        query.node.add_dependency(self.work_group)
        return query
