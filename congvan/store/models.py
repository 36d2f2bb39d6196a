"""The tables (docs/design.md §3), as SQLAlchemy 2.0 typed models.

One ``Base`` owns the metadata. Constraint names come from the naming convention, so they are
the same on SQLite and PostgreSQL and stay stable for migrations. Enums are stored by value
("sent", not "SENT"); a new model only declares ``Mapped[SomeEnum]``.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


def _enum_values(enum_class: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_class]


# Reusable column types.
created_now = Annotated[dt.datetime, mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())]


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        enum.Enum: sa.Enum(enum.Enum, native_enum=False, values_callable=_enum_values),
    }


class RegisterCounter(Base):
    """The last number given in one register (sổ văn bản đi) for one year."""

    __tablename__ = "register_counters"

    register: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0, server_default="0")
    # Set by `congvan register set-next` when the office had issued numbers before congvan: the first
    # number congvan gives this year. NULL: the register started at 1 in congvan.
    first_number: Mapped[int | None]
    updated_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


class Document(Base):
    """One issued letter: its number in the register, and what was produced for it.

    ``key`` names the document within the whole database: ``par-index-2022/dispatch`` for a dispatch,
    campaign/step/unit for a follow-up (``par-index-2022/don-doc/KPAC``, ``…/bao-cao/ALL``); allocating the same
    key again reuses the number (docs/design.md §3.2).
    """

    __tablename__ = "documents"
    __table_args__ = (sa.UniqueConstraint("register", "year", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    campaign: Mapped[str] = mapped_column(sa.String(128), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    unit: Mapped[str | None] = mapped_column(sa.String(128))
    level: Mapped[int] = mapped_column(default=0, server_default="0")
    # A plain reminder mail is recorded here too (kind "mail"), without a place in the register.
    register: Mapped[str | None] = mapped_column(sa.String(64))
    year: Mapped[int | None]
    number: Mapped[int | None]
    symbol: Mapped[str | None] = mapped_column(sa.String(64))
    issued_on: Mapped[dt.date]
    docx_path: Mapped[str | None]
    pdf_path: Mapped[str | None]
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    # The register entry as written when the number was taken (sổ văn bản đi: trích yếu, người ký,
    # bản lưu), so the register stays true when the campaign's YAML changes later. NULL on rows issued
    # before revision 0002: the export reads those from the campaign.
    summary: Mapped[str | None] = mapped_column(sa.Text)
    signer: Mapped[str | None] = mapped_column(sa.String(255))
    archive: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[created_now]


class DeliveryStatus(enum.Enum):
    PENDING = "pending"
    SENT = "sent"
    FAILED_TEMPORARY = "failed_temporary"  # retried later in the run, and by a rerun
    FAILED_PERMANENT = "failed_permanent"  # the server said no (5xx): reported, not retried
    # What the mailbox said later (congvan/bounces.py): a delivery report or a read receipt.
    BOUNCED = "bounced"  # accepted, then returned for good (a 5.x.x report): never sent there again
    DELAYED = "delayed"  # accepted, the relay is still trying (informational)
    DISPLAYED = "displayed"  # a read receipt came back

    @property
    def retryable(self) -> bool:
        return self in (DeliveryStatus.PENDING, DeliveryStatus.FAILED_TEMPORARY)

    @property
    def accepted(self) -> bool:
        """Our server took it (250) and nothing says it failed since."""
        return self in (DeliveryStatus.SENT, DeliveryStatus.DELAYED, DeliveryStatus.DISPLAYED)


class Delivery(Base):
    """One copy of one document to one address (docs/design.md §3.2).

    The row and its Message-ID exist before the SMTP transaction and the status turns ``sent`` only
    after the server's 250, so a rerun sends exactly what is not sent, under the same Message-ID.
    Addresses that share a message (To head, Cc mailbox) share its Message-ID.
    """

    __tablename__ = "deliveries"
    __table_args__ = (sa.UniqueConstraint("document_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(320))  # lower-cased: one delivery per mailbox
    display_name: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(8))  # "to" | "cc"
    unit: Mapped[str | None] = mapped_column(sa.String(128))
    message_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[created_now]
    # The last delivery report or read receipt applied to the row (congvan/bounces.py): its status
    # code ("5.1.1"), diagnostic, when it was read, and when the coordinator was told of a bounce.
    report_code: Mapped[str | None] = mapped_column(sa.String(16))
    report_detail: Mapped[str | None] = mapped_column(sa.Text)
    reported_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    alerted_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


class Import(Base):
    """One roster or response export loaded for a campaign. The file's hash makes a re-import a no-op."""

    __tablename__ = "imports"
    __table_args__ = (sa.UniqueConstraint("campaign", "kind", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(sa.String(128), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # "roster" | "responses"
    file_name: Mapped[str] = mapped_column(sa.String(512))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    rows: Mapped[int] = mapped_column(default=0, server_default="0")
    warnings: Mapped[int] = mapped_column(default=0, server_default="0")
    imported_at: Mapped[created_now]


class Staff(Base):
    """An official on a campaign's roster: who must answer."""

    __tablename__ = "staff"
    # (campaign, unit, answered_at) covers what `status` reads per official: the counts per unit come from the
    # index alone, in unit order, with no look-up of the responses (revision 0006).
    __table_args__ = (sa.UniqueConstraint("campaign", "staff_id"),
                      sa.Index("ix_staff_campaign_unit_answered_at", "campaign", "unit", "answered_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(sa.String(128), index=True)
    staff_id: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(255))
    position: Mapped[str] = mapped_column(sa.String(255), default="", server_default="")
    # The unit code from units.yaml. No index of its own: every query asks for a campaign first (revision 0006).
    unit: Mapped[str] = mapped_column(sa.String(128))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    import_id: Mapped[int | None] = mapped_column(sa.ForeignKey("imports.id"))
    # When this official's response was completed (the earliest, as in `responses`), or None: derived from
    # `responses`, kept by both imports (`congvan.roster.importing`), so that "who answered by then" reads one
    # table (revision 0006).
    answered_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


class Response(Base):
    """Someone answered the survey, when, according to which export. Kept even for a staff_id the roster
    does not know (reported, never dropped); the earliest completion counts."""

    __tablename__ = "responses"
    # (campaign, staff_id, completed_at) covers "who answered by then": read from the index alone, not the
    # table (revision 0005).
    __table_args__ = (sa.UniqueConstraint("campaign", "staff_id"),
                      sa.Index("ix_responses_campaign_staff_id_completed_at", "campaign", "staff_id", "completed_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the unique constraint and the index below both begin with it (revision 0006).
    campaign: Mapped[str] = mapped_column(sa.String(128))
    staff_id: Mapped[str] = mapped_column(sa.String(64))
    completed_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    import_id: Mapped[int | None] = mapped_column(sa.ForeignKey("imports.id"))


class ApprovalStatus(enum.Enum):
    """Where a document stands on its way to the signer (trình ký) and out (docs/design.md §1.3)."""

    PENDING = "pending"  # drafted and checked; waits for the signer's decision
    APPROVED = "approved"  # the signer said yes; issuing (number, sign, mail) follows at once
    ISSUED = "issued"  # numbered and handed to the ledger
    REJECTED = "rejected"  # the signer said no: never issued, never proposed again for this step
    MOOT = "moot"  # approved after the unit complied: nothing issued
    SUPERSEDED = "superseded"  # a higher step became due for the unit before a decision

    @property
    def open(self) -> bool:
        return self in (ApprovalStatus.PENDING, ApprovalStatus.APPROVED)


class Approval(Base):
    """One document submitted for the signer's approval, keyed like the document it becomes
    (``par-index-2022/dispatch``, ``par-index-2022/don-doc/KPAC``): at most one per key, so proposing it
    again on the next run refreshes the draft instead of asking twice, and a rejection sticks."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    campaign: Mapped[str] = mapped_column(sa.String(128), index=True)
    step: Mapped[str] = mapped_column(sa.String(64))  # "dispatch" or the ladder step's name
    kind: Mapped[str] = mapped_column(sa.String(32))  # dispatch | letter | report | mail
    unit: Mapped[str | None] = mapped_column(sa.String(128))
    level: Mapped[int] = mapped_column(default=0, server_default="0")
    signer: Mapped[str] = mapped_column(sa.String(255))  # who is asked to sign (the letter's signer)
    draft_path: Mapped[str | None] = mapped_column(sa.Text)
    proposed_on: Mapped[dt.date]
    status: Mapped[ApprovalStatus] = mapped_column(default=ApprovalStatus.PENDING)
    # The decision: who, when, from where ("cli root@host", "prefect flow run …", "demo"), and why.
    decided_by: Mapped[str | None] = mapped_column(sa.String(255))
    decided_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    decided_via: Mapped[str | None] = mapped_column(sa.String(255))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("documents.id"))
    created_at: Mapped[created_now]
    updated_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
