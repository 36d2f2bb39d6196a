"""The tables (docs/design.md §3) in SQLAlchemy Core, and the states stored in them.

The ORM classes of ``congvan.store.models`` are mapped onto these tables. Queries that only read rows (``status``,
the ladder's history, the dispatch's delivery truth) use the tables directly: importing SQLAlchemy's ORM costs a
command 50 ms of the 0.4 s it may take (bench/bench_startup.py). Constraint names come from the naming convention,
so they are the same on SQLite and PostgreSQL and stay stable for migrations. Enums are stored by value ("sent",
not "SENT").
"""

from __future__ import annotations

import enum

import sqlalchemy as sa

NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


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


def _enum_values(enum_class: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_class]


def _status(enum_class: type[enum.Enum], default: enum.Enum) -> sa.Column[enum.Enum]:
    return sa.Column("status", sa.Enum(enum_class, native_enum=False, values_callable=_enum_values),
                     nullable=False, default=default)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True)


def _text(name: str, length: int | None = None, *, null: bool = True, **options: object) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=null, **options)  # type: ignore[arg-type]


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer, nullable=False, default=0, server_default="0")


def _moment(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def _created(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


# The last number given in one register (sổ văn bản đi) for one year.
register_counters = sa.Table(
    "register_counters", metadata,
    _text("register", 64, null=False, primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    _count("last_number"),
    # Set by `congvan register set-next` when the office had issued numbers before congvan: the first
    # number congvan gives this year. NULL: the register started at 1 in congvan.
    sa.Column("first_number", sa.Integer, nullable=True),
    _moment("updated_at"),
)

# One issued letter: its number in the register, and what was produced for it. ``key`` names the document within
# the whole database: ``par-index-2022/dispatch`` for a dispatch, campaign/step/unit for a follow-up
# (``par-index-2022/don-doc/KPAC``, ``…/bao-cao/ALL``); allocating the same key again reuses the number
# (docs/design.md §3.2).
documents = sa.Table(
    "documents", metadata,
    _id(),
    _text("key", 255, null=False, unique=True),
    _text("campaign", 128, null=False, index=True),
    _text("kind", 32, null=False),
    _text("unit", 128),
    _count("level"),
    # A plain reminder mail is recorded here too (kind "mail"), without a place in the register.
    _text("register", 64),
    sa.Column("year", sa.Integer, nullable=True),
    sa.Column("number", sa.Integer, nullable=True),
    _text("symbol", 64),
    sa.Column("issued_on", sa.Date, nullable=False),
    _text("docx_path"),
    _text("pdf_path"),
    _text("sha256", 64),
    # The register entry as written when the number was taken (sổ văn bản đi: trích yếu, người ký, bản lưu), so the
    # register stays true when the campaign's YAML changes later. NULL on rows issued before revision 0002: the
    # export reads those from the campaign.
    sa.Column("summary", sa.Text, nullable=True),
    _text("signer", 255),
    _text("archive", 255),
    _created("created_at"),
    sa.UniqueConstraint("register", "year", "number"),
)

# One copy of one document to one address (docs/design.md §3.2). The row and its Message-ID exist before the SMTP
# transaction and the status turns ``sent`` only after the server's 250, so a rerun sends exactly what is not sent,
# under the same Message-ID. Addresses that share a message (To head, Cc mailbox) share its Message-ID.
deliveries = sa.Table(
    "deliveries", metadata,
    _id(),
    sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=False, index=True),
    _text("address", 320, null=False),  # lower-cased: one delivery per mailbox
    _text("display_name", 255, null=False),
    _text("role", 8, null=False),  # "to" | "cc"
    _text("unit", 128),
    _text("message_id", 255, null=False, index=True),
    _status(DeliveryStatus, DeliveryStatus.PENDING),
    _count("attempts"),
    sa.Column("last_error", sa.Text, nullable=True),
    _moment("sent_at"),
    _created("created_at"),
    # The last delivery report or read receipt applied to the row (congvan/bounces.py): its status code ("5.1.1"),
    # diagnostic, when it was read, and when the coordinator was told of a bounce.
    _text("report_code", 16),
    sa.Column("report_detail", sa.Text, nullable=True),
    _moment("reported_at"),
    _moment("alerted_at"),
    sa.UniqueConstraint("document_id", "address"),
)

# One roster or response export loaded for a campaign. The file's hash makes a re-import a no-op.
imports = sa.Table(
    "imports", metadata,
    _id(),
    _text("campaign", 128, null=False, index=True),
    _text("kind", 16, null=False),  # "roster" | "responses"
    _text("file_name", 512, null=False),
    _text("sha256", 64, null=False),
    _count("rows"),
    _count("warnings"),
    _created("imported_at"),
    sa.UniqueConstraint("campaign", "kind", "sha256"),
)

# An official on a campaign's roster: who must answer. (campaign, unit, answered_at) covers what `status` reads per
# official: the counts per unit come from the index alone, in unit order, with no look-up of the responses
# (revision 0006).
staff = sa.Table(
    "staff", metadata,
    _id(),
    _text("campaign", 128, null=False, index=True),
    _text("staff_id", 64, null=False),
    _text("name", 255, null=False),
    _text("position", 255, null=False, default="", server_default=""),
    # The unit code from units.yaml. No index of its own: every query asks for a campaign first (revision 0006).
    _text("unit", 128, null=False),
    _text("email", 320),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=True),
    # When this official's response was completed (the earliest, as in `responses`), or None: derived from
    # `responses`, kept by both imports (`congvan.roster.importing`), so that "who answered by then" reads one table
    # (revision 0006).
    _moment("answered_at"),
    sa.UniqueConstraint("campaign", "staff_id"),
    sa.Index("ix_staff_campaign_unit_answered_at", "campaign", "unit", "answered_at"),
)

# Someone answered the survey, when, according to which export. Kept even for a staff_id the roster does not know
# (reported, never dropped); the earliest completion counts. (campaign, staff_id, completed_at) covers "who answered
# by then": read from the index alone, not the table (revision 0005).
responses = sa.Table(
    "responses", metadata,
    _id(),
    # No index of its own: the unique constraint and the index below both begin with it (revision 0006).
    _text("campaign", 128, null=False),
    _text("staff_id", 64, null=False),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=True),
    sa.UniqueConstraint("campaign", "staff_id"),
    sa.Index("ix_responses_campaign_staff_id_completed_at", "campaign", "staff_id", "completed_at"),
)

# One document submitted for the signer's approval, keyed like the document it becomes (``par-index-2022/dispatch``,
# ``par-index-2022/don-doc/KPAC``): at most one per key, so proposing it again on the next run refreshes the draft
# instead of asking twice, and a rejection sticks.
approvals = sa.Table(
    "approvals", metadata,
    _id(),
    _text("key", 255, null=False, unique=True),
    _text("campaign", 128, null=False, index=True),
    _text("step", 64, null=False),  # "dispatch" or the ladder step's name
    _text("kind", 32, null=False),  # dispatch | letter | report | mail
    _text("unit", 128),
    _count("level"),
    _text("signer", 255, null=False),  # who is asked to sign (the letter's signer)
    sa.Column("draft_path", sa.Text, nullable=True),
    sa.Column("proposed_on", sa.Date, nullable=False),
    _status(ApprovalStatus, ApprovalStatus.PENDING),
    # The decision: who, when, from where ("cli root@host", "prefect flow run …", "demo"), and why.
    _text("decided_by", 255),
    _moment("decided_at"),
    _text("decided_via", 255),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=True),
    _created("created_at"),
    _moment("updated_at"),
)
