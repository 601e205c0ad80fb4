"""The results' payloads (SPEC §8): every stored answer's request and response JSON, gzip-compressed,
one object each under ``payloads/org_id=<org>/workspace_id=<ws>/day=<YYYY-MM-DD>/<result_id>.json.gz``
(``prompter.runs.payloads``).

- Encryption: SSE-KMS with a customer managed key of the stack's (rotated yearly), as the bucket's
  default encryption, with S3 Bucket Keys (S3 asks KMS for a bucket-level key now and then rather than
  once an object: at tens of millions of answers a day, per-object KMS requests would cost more than
  the PUTs). The functions send no encryption header: every object gets the bucket's default.
- TLS only (a deny on ``aws:SecureTransport`` false), public access blocked, ACLs off.
- Versioning on: a payload is the only copy of an exchange that was paid for, so an overwrite or a
  delete by mistake can be undone for 30 days (noncurrent versions expire then). A store retried
  after its row was inserted writes the same bytes again: one more noncurrent version, rare.
- No transition to cheaper storage classes: a payload is a few KB gzip-compressed, and Standard-IA,
  One Zone-IA and Glacier Instant Retrieval bill every object as at least 128 KB (Intelligent-Tiering
  never moves objects under 128 KB); the archive classes cannot be read by a request. Standard is the
  cheapest class for objects this small that the API reads back.
- Kept when the stack is deleted (with its key), as the database is snapshotted: the rows name them.

Grants (:meth:`grant_store`, :meth:`grant_read`): the functions that store results write
``payloads/*`` (``kms:GenerateDataKey``); the function that reads them back (the results route,
re-analysis) reads ``payloads/*`` (``kms:Decrypt``) and may list that prefix, so that a key with no
object is answered ``NoSuchKey`` rather than ``AccessDenied``. KMS use is allowed through S3 only,
for this bucket only.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from prompter.runs.payloads import PREFIX

NONCURRENT_DAYS = 30  # how long an overwritten or deleted payload can be restored


class PrompterPayloads(Construct):
    """``self.bucket`` (the payloads) and ``self.key`` (its KMS key)."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "PayloadKey",
            alias=f"alias/prompter-{stage}-payloads",
            description=f"Prompter results' request and response JSON in S3 ({stage})",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireOverwrittenAndDeleted",
                    noncurrent_version_expiration=Duration.days(NONCURRENT_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                    expired_object_delete_marker=True,
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _through_s3(self) -> dict[str, dict[str, str]]:
        """KMS used by S3 on this bucket's behalf only."""
        return {
            "StringEquals": {"kms:ViaService": f"s3.{Stack.of(self).region}.amazonaws.com"},
        }

    def grant_store(self, function: iam.IGrantable) -> None:
        """Write payloads (each answer's, before its row)."""
        function.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WritePayloads",
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"{PREFIX}*")],
            )
        )
        function.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="EncryptPayloads",
                actions=["kms:GenerateDataKey"],
                resources=[self.key.key_arn],
                conditions=self._through_s3(),
            )
        )

    def grant_read(self, function: iam.IGrantable) -> None:
        """Read payloads back (and tell a missing one from a forbidden one)."""
        function.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadPayloads",
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{PREFIX}*")],
            )
        )
        function.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListPayloads",
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{PREFIX}*"]}},
            )
        )
        function.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DecryptPayloads",
                actions=["kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions=self._through_s3(),
            )
        )
