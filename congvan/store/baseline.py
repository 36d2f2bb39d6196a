"""The baseline schema (revision 0001), frozen: the tables exactly as congvan created them before it had
migrations. Revision 0001 creates these; ``schema.adopt_legacy`` compares an unversioned database with
them. Never edit: later changes are later revisions (docs/design.md §3)."""

from __future__ import annotations

import sqlalchemy as sa

from congvan.store.tables import NAMING_CONVENTION

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

sa.Table(
    "register_counters", metadata,
    sa.Column("register", sa.String(64), primary_key=True),
    sa.Column("year", sa.Integer(), primary_key=True),
    sa.Column("last_number", sa.Integer(), server_default="0", nullable=False),
)
sa.Table(
    "documents", metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("key", sa.String(255), nullable=False, unique=True),
    sa.Column("campaign", sa.String(128), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("unit", sa.String(128), nullable=True),
    sa.Column("level", sa.Integer(), server_default="0", nullable=False),
    sa.Column("register", sa.String(64), nullable=True),
    sa.Column("year", sa.Integer(), nullable=True),
    sa.Column("number", sa.Integer(), nullable=True),
    sa.Column("symbol", sa.String(64), nullable=True),
    sa.Column("issued_on", sa.Date(), nullable=False),
    sa.Column("docx_path", sa.String(), nullable=True),
    sa.Column("pdf_path", sa.String(), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.UniqueConstraint("register", "year", "number"),
)
sa.Table(
    "imports", metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("campaign", sa.String(128), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("file_name", sa.String(512), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rows", sa.Integer(), server_default="0", nullable=False),
    sa.Column("warnings", sa.Integer(), server_default="0", nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.UniqueConstraint("campaign", "kind", "sha256"),
)
sa.Table(
    "deliveries", metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("document_id", sa.Integer(), sa.ForeignKey("documents.id"), nullable=False, index=True),
    sa.Column("address", sa.String(320), nullable=False),
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("unit", sa.String(128), nullable=True),
    sa.Column("message_id", sa.String(255), nullable=False, index=True),
    sa.Column("status", sa.Enum("pending", "sent", "failed_temporary", "failed_permanent", name="deliverystatus",
                                native_enum=False), nullable=False),
    sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.UniqueConstraint("document_id", "address"),
)
sa.Table(
    "staff", metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("campaign", sa.String(128), nullable=False, index=True),
    sa.Column("staff_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("position", sa.String(255), server_default="", nullable=False),
    sa.Column("unit", sa.String(128), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("import_id", sa.Integer(), sa.ForeignKey("imports.id"), nullable=True),
    sa.UniqueConstraint("campaign", "staff_id"),
)
sa.Table(
    "responses", metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("campaign", sa.String(128), nullable=False, index=True),
    sa.Column("staff_id", sa.String(64), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("import_id", sa.Integer(), sa.ForeignKey("imports.id"), nullable=True),
    sa.UniqueConstraint("campaign", "staff_id"),
)
