"""Who answered, on the roster itself: ``staff.answered_at`` (the official's completion time from ``responses``),
so that ``status`` and the escalation's plan read one table (docs/design.md §1.2). The counts per unit come from
``ix_staff_campaign_unit_answered_at`` alone, which replaces 0005's ``ix_staff_campaign_unit_staff_id``;
``ix_responses_campaign`` goes, as the unique constraint and 0005's index both begin with the campaign, and
``ix_staff_unit`` (no query asks for a unit without its campaign): each costs the imports time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
    # Every official who has answered gets the completion time of their response (one per campaign and staff_id).
    staff, responses = sa.table("staff", sa.column("campaign"), sa.column("staff_id"), sa.column("answered_at")), \
        sa.table("responses", sa.column("campaign"), sa.column("staff_id"), sa.column("completed_at"))
    op.execute(staff.update().values(answered_at=sa.select(responses.c.completed_at).where(
        responses.c.campaign == staff.c.campaign, responses.c.staff_id == staff.c.staff_id).scalar_subquery()))
    op.drop_index(op.f("ix_staff_campaign_unit_staff_id"), table_name="staff")
    op.create_index(op.f("ix_staff_campaign_unit_answered_at"), "staff", ["campaign", "unit", "answered_at"],
                    unique=False)
    op.drop_index(op.f("ix_responses_campaign"), table_name="responses")
    op.drop_index(op.f("ix_staff_unit"), table_name="staff")


def downgrade() -> None:
    raise NotImplementedError("congvan never downgrades a database that holds the outgoing register")
