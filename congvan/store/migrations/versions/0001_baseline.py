"""Baseline: the schema congvan had before it had migrations (main at 059ee3a, 2026-11-28).

A database made by that code has these tables and no ``alembic_version``; ``congvan.store.schema``
recognises it and stamps it with this revision instead of running it (docs/design.md §3). The tables
are defined once, frozen, in ``congvan.store.baseline``.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from congvan.store import baseline

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    baseline.metadata.create_all(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("congvan never downgrades a database that holds the outgoing register")
