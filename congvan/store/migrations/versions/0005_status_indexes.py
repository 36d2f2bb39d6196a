"""Covering indexes for ``status`` and the escalation's plan: who answered by when, and the roster per unit,
read from the indexes alone instead of a table row per official (docs/design.md §1.2).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_staff_campaign_unit_staff_id"), "staff", ["campaign", "unit", "staff_id"], unique=False)
    op.create_index(op.f("ix_responses_campaign_staff_id_completed_at"), "responses",
                    ["campaign", "staff_id", "completed_at"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("congvan never downgrades a database that holds the outgoing register")
