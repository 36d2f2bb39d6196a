"""The ORM classes (SQLAlchemy 2.0, typed) over the tables of ``congvan.store.tables``, for the code that writes.

Each class maps its table as it stands there (columns, types, defaults and constraints live in ``tables``, once);
the annotations here give the attributes their Python types.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import DeclarativeBase, Mapped

from congvan.store import tables
from congvan.store.tables import NAMING_CONVENTION, ApprovalStatus, DeliveryStatus


class Base(DeclarativeBase):
    metadata = tables.metadata


class RegisterCounter(Base):
    """The last number given in one register (sổ văn bản đi) for one year."""

    __table__ = tables.register_counters

    register: Mapped[str]
    year: Mapped[int]
    last_number: Mapped[int]
    first_number: Mapped[int | None]
    updated_at: Mapped[dt.datetime | None]


class Document(Base):
    """One issued letter: its number in the register, and what was produced for it."""

    __table__ = tables.documents

    id: Mapped[int]
    key: Mapped[str]
    campaign: Mapped[str]
    kind: Mapped[str]
    unit: Mapped[str | None]
    level: Mapped[int]
    register: Mapped[str | None]
    year: Mapped[int | None]
    number: Mapped[int | None]
    symbol: Mapped[str | None]
    issued_on: Mapped[dt.date]
    docx_path: Mapped[str | None]
    pdf_path: Mapped[str | None]
    sha256: Mapped[str | None]
    summary: Mapped[str | None]
    signer: Mapped[str | None]
    archive: Mapped[str | None]
    created_at: Mapped[dt.datetime]


class Delivery(Base):
    """One copy of one document to one address (docs/design.md §3.2)."""

    __table__ = tables.deliveries

    id: Mapped[int]
    document_id: Mapped[int]
    address: Mapped[str]
    display_name: Mapped[str]
    role: Mapped[str]
    unit: Mapped[str | None]
    message_id: Mapped[str]
    status: Mapped[DeliveryStatus]
    attempts: Mapped[int]
    last_error: Mapped[str | None]
    sent_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    report_code: Mapped[str | None]
    report_detail: Mapped[str | None]
    reported_at: Mapped[dt.datetime | None]
    alerted_at: Mapped[dt.datetime | None]


class Import(Base):
    """One roster or response export loaded for a campaign."""

    __table__ = tables.imports

    id: Mapped[int]
    campaign: Mapped[str]
    kind: Mapped[str]
    file_name: Mapped[str]
    sha256: Mapped[str]
    rows: Mapped[int]
    warnings: Mapped[int]
    imported_at: Mapped[dt.datetime]


class Staff(Base):
    """An official on a campaign's roster: who must answer."""

    __table__ = tables.staff

    id: Mapped[int]
    campaign: Mapped[str]
    staff_id: Mapped[str]
    name: Mapped[str]
    position: Mapped[str]
    unit: Mapped[str]
    email: Mapped[str | None]
    import_id: Mapped[int | None]
    answered_at: Mapped[dt.datetime | None]


class Response(Base):
    """Someone answered the survey, when, according to which export."""

    __table__ = tables.responses

    id: Mapped[int]
    campaign: Mapped[str]
    staff_id: Mapped[str]
    completed_at: Mapped[dt.datetime]
    import_id: Mapped[int | None]


class Approval(Base):
    """One document submitted for the signer's approval, keyed like the document it becomes."""

    __table__ = tables.approvals

    id: Mapped[int]
    key: Mapped[str]
    campaign: Mapped[str]
    step: Mapped[str]
    kind: Mapped[str]
    unit: Mapped[str | None]
    level: Mapped[int]
    signer: Mapped[str]
    draft_path: Mapped[str | None]
    proposed_on: Mapped[dt.date]
    status: Mapped[ApprovalStatus]
    decided_by: Mapped[str | None]
    decided_at: Mapped[dt.datetime | None]
    decided_via: Mapped[str | None]
    comment: Mapped[str | None]
    document_id: Mapped[int | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]


__all__ = ["NAMING_CONVENTION", "Approval", "ApprovalStatus", "Base", "Delivery", "DeliveryStatus", "Document",
           "Import", "RegisterCounter", "Response", "Staff"]
