"""Payloads in S3 (SPEC §8): a result's request and response JSON live in the payload storage, gzip
compressed, at ``payload_key``, with the SHA-256 of that JSON in ``payload_sha256``; the row keeps
the first bytes of the answer's text and the whole text's length (``answer_chars``), so a stored
result stays within SPEC §7's 4 KB whatever the size of its answer.

Schema only: the columns are added, nothing is moved. Moving the payloads of results stored before
this revision needs the payload storage, which a migration run by the ``migrate`` function cannot
reach (no S3 grant, a deploy-time timeout): ``prompter.runs.payloads.PayloadBackfill`` does it,
re-runnably, from store_result's ``move_payloads`` action or ``make move-payloads``
(docs/decision_log.md, "Payloads in S3"). Until then those rows keep their JSON and are read as before.

Revision ID: 0013_result_payloads
Revises: 0012_batch_delivery
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_result_payloads"
down_revision = "0012_batch_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prompt_results") as table:
        table.add_column(sa.Column("answer_chars", sa.Integer(), nullable=True))
        table.add_column(sa.Column("payload_key", sa.String(1024), nullable=True))
        table.add_column(sa.Column("payload_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    # A result stored since has its JSON only in the payload storage: downgrading loses the way to it.
    with op.batch_alter_table("prompt_results") as table:
        table.drop_column("payload_sha256")
        table.drop_column("payload_key")
        table.drop_column("answer_chars")
