"""Delivery truth: what the mailbox said after the server's 250 (a bounce, a delay, a read receipt).

The status column is a plain string (a non-native enum without a CHECK constraint), so the new values
``bounced``, ``delayed`` and ``displayed`` need no change to it; the report's code and diagnostic, when
it was read and when the coordinator was alerted get their own columns.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("report_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("report_detail", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("congvan never downgrades a database that holds the outgoing register")
