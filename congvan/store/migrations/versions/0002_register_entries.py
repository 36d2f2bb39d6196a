"""The register as the office keeps it: a starting number per register and year, and the entry
(trích yếu, người ký, bản lưu) recorded with each number.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("register_counters") as batch_op:
        batch_op.add_column(sa.Column("first_number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("documents") as batch_op:
        batch_op.add_column(sa.Column("summary", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("signer", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("archive", sa.String(length=255), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("congvan never downgrades a database that holds the outgoing register")
