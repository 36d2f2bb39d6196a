"""Approval before issuing (trình ký, docs/design.md §1.3): a document waits for its signer's decision.

A run that reaches a document needing approval drafts and checks it, takes no number and sends
nothing: it *proposes* it (one ``Approval`` row per document key). The signer's decision is recorded
here, by compare-and-set on the row's status, so that two approvals of the same letter at once
record one decision and tell the other who was first. What happens next (number, sign, mail) is the
flows' business; this module only keeps the truth of who decided what, when, from where and why.
"""

from __future__ import annotations

import datetime as dt
import getpass
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan.errors import ApprovalError
from congvan.i18n import N_, _, status_word
from congvan.store.db import insert_ignoring_duplicates, transaction
from congvan.store.models import Approval, ApprovalStatus

if TYPE_CHECKING:
    from congvan.config import LoadedCampaign

# Statuses after which a proposal may start again (the unit fell behind again, or the higher step
# that superseded it is itself gone): the row goes back to pending.
_REOPENABLE = (ApprovalStatus.MOOT, ApprovalStatus.SUPERSEDED)


@dataclass(frozen=True)
class Proposal:
    """A document submitted to its signer: what ``congvan pending`` lists."""

    id: int
    key: str
    campaign: str
    step: str
    kind: str
    unit: str | None
    level: int
    signer: str
    draft: str | None
    proposed_on: dt.date
    status: ApprovalStatus
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decided_via: str | None = None
    comment: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The contract of ``congvan pending --json`` (docs/design.md §7.1)."""
        return {"id": self.id, "campaign": self.campaign, "step": self.step, "unit": self.unit, "kind": self.kind,
                "draft": self.draft}

    def describe(self) -> str:
        what = "the dispatch" if self.kind == "dispatch" else f"the {self.step} {self.kind}"
        return f"{what} for {self.unit}" if self.unit else what

    def shown(self) -> str:
        """``describe()`` in the user's language (for the messages a user reads; logs keep ``describe()``)."""
        what = _(_KIND_WORDS[self.kind]).format(step=self.step) if self.kind in _KIND_WORDS else self.describe()
        return _("{what} for {unit}").format(what=what, unit=self.unit) if self.unit else what


_KIND_WORDS = {"dispatch": N_("the dispatch"), "letter": N_("the {step} letter"), "report": N_("the {step} report"),
               "mail": N_("the {step} mail")}


def _proposal(row: Approval) -> Proposal:
    return Proposal(id=row.id, key=row.key, campaign=row.campaign, step=row.step, kind=row.kind, unit=row.unit,
                    level=row.level, signer=row.signer, draft=row.draft_path, proposed_on=row.proposed_on,
                    status=row.status, decided_by=row.decided_by, decided_at=_aware(row.decided_at),
                    decided_via=row.decided_via, comment=row.comment)


def cli_origin() -> str:
    """Where a decision typed at a terminal came from: the account and the machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"cli {user}@{socket.gethostname()}"


def find(engine: Engine, key: str) -> Proposal | None:
    with transaction(engine) as session:
        row = session.scalars(sa.select(Approval).where(Approval.key == key)).first()
        return _proposal(row) if row is not None else None


def propose(engine: Engine, *, key: str, campaign: str, step: str, kind: str, unit: str | None, level: int,
            signer: str, draft: Path | None, on: dt.date) -> Proposal:
    """Submit a document (or refresh the draft of one still waiting). A decided document is left as it
    is and returned: the caller issues an approved one and skips a rejected one."""
    values = {"key": key, "campaign": campaign, "step": step, "kind": kind, "unit": unit, "level": level,
              "signer": signer, "draft_path": str(draft) if draft else None, "proposed_on": on,
              "status": ApprovalStatus.PENDING.value}
    with transaction(engine) as session:
        session.execute(insert_ignoring_duplicates(session, Approval).values(**values))
        row = session.scalars(sa.select(Approval).where(Approval.key == key).with_for_update()).one()
        if row.status == ApprovalStatus.PENDING or row.status in _REOPENABLE:
            if row.status in _REOPENABLE:
                row.proposed_on = on
                row.decided_by = row.decided_at = row.decided_via = row.comment = None
            row.status = ApprovalStatus.PENDING
            row.draft_path = str(draft) if draft else None
            row.signer = signer
            row.updated_at = _now()
        return _proposal(row)


def supersede(engine: Engine, campaign: str, unit: str, below_level: int) -> int:
    """A higher step became due for the unit: what still waits at a lower level will never be asked for."""
    with transaction(engine) as session:
        result = session.execute(
            sa.update(Approval).where(Approval.campaign == campaign, Approval.unit == unit,
                                      Approval.level < below_level, Approval.status == ApprovalStatus.PENDING)
            .values(status=ApprovalStatus.SUPERSEDED, updated_at=_now()))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def listing(engine: Engine, campaign: str | None = None,
            statuses: Sequence[ApprovalStatus] = (ApprovalStatus.PENDING,)) -> list[Proposal]:
    """What awaits a decision (or has the given statuses), oldest first."""
    query = sa.select(Approval).where(Approval.status.in_(statuses)).order_by(Approval.level, Approval.id)
    if campaign is not None:
        query = query.where(Approval.campaign == campaign)
    with transaction(engine) as session:
        return [_proposal(r) for r in session.scalars(query)]


def decide(engine: Engine, campaign: str, *, approve: bool, units: Sequence[str | None] | None, by: str | None,
           via: str, comment: str | None) -> list[Proposal]:
    """Record the signer's decision on what awaits it: every pending document of the campaign, or only
    those of ``units`` (``None`` in ``units`` stands for the campaign-wide ones: the dispatch, the
    report). ``by`` defaults to each document's signer. ``ApprovalError`` (nothing recorded) when a named
    unit has nothing pending, when nothing is pending at all, or when another decision got there first."""
    waiting = listing(engine, campaign)
    if units:
        wanted = set(units)
        chosen = [p for p in waiting if p.unit in wanted]
        missing = [u for u in units if u not in {p.unit for p in chosen}]
        if missing:
            raise ApprovalError(_nothing_for(engine, campaign, missing, waiting))
    else:
        chosen = waiting
    if not chosen:
        raise ApprovalError(_nothing_for(engine, campaign, [], waiting))
    status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    now = _now()
    decided: list[Proposal] = []
    with transaction(engine) as session:
        for proposal in chosen:
            # Compare-and-set: only a row still pending takes the decision; a concurrent decision wins once.
            result = session.execute(
                sa.update(Approval).where(Approval.id == proposal.id, Approval.status == ApprovalStatus.PENDING)
                .values(status=status, decided_by=by or proposal.signer, decided_at=now, decided_via=via,
                        comment=comment, updated_at=now))
            if not result.rowcount:  # type: ignore[attr-defined]
                row = session.get_one(Approval, proposal.id)
                raise ApprovalError(_("{campaign}: {what} was just {status} by {by}; nothing recorded").format(
                    campaign=campaign, what=proposal.shown(), status=status_word(row.status.value),
                    by=row.decided_by or _("another run")))
        rows = session.scalars(sa.select(Approval).where(Approval.id.in_([p.id for p in chosen]))
                               .order_by(Approval.level, Approval.id))
        decided = [_proposal(r) for r in rows]
    return decided


def _nothing_for(engine: Engine, campaign: str, units: Sequence[str | None], waiting: Sequence[Proposal]) -> str:
    """Why nothing can be decided: what happened to the named units' documents, and what is pending."""
    if not units:
        return _("{campaign}: nothing awaits approval (congvan pending lists what does)").format(campaign=campaign)
    with transaction(engine) as session:
        last = {r.unit: r for r in session.scalars(
            sa.select(Approval).where(Approval.campaign == campaign, Approval.unit.in_([u for u in units if u]))
            .order_by(Approval.level, Approval.id))}
        unit = units[0]
        row = last.get(unit)
        if row is not None and row.status != ApprovalStatus.PENDING:
            text = (_("{campaign}: {what} is already {status} by {by}; nothing awaits approval for it")
                    if row.decided_by else _("{campaign}: {what} is already {status}; nothing awaits approval for it"))
            return text.format(campaign=campaign, what=_proposal(row).shown(), status=status_word(row.status.value),
                               by=row.decided_by)
    others = ", ".join(sorted(p.unit or _("(campaign)") for p in waiting)) or _("none")
    return _("{campaign}: nothing awaits approval for unit {unit} (pending: {others})").format(
        campaign=campaign, unit=unit, others=others)


def mark(engine: Engine, key: str, status: ApprovalStatus, *, document_id: int | None = None) -> None:
    """An approved document was issued (``ISSUED``, with its register entry) or found moot."""
    values: dict[str, Any] = {"status": status, "updated_at": _now()}
    if document_id is not None:
        values["document_id"] = document_id
    with transaction(engine) as session:
        session.execute(sa.update(Approval).where(Approval.key == key).values(**values))


def _aware(at: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives back the UTC time it was given without its zone."""
    return at.replace(tzinfo=dt.UTC) if at is not None and at.tzinfo is None else at


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)




def dispatch_gated(engine: Engine, lc: LoadedCampaign) -> bool:
    """The dispatch passes through its signer before it is numbered: the campaign asks for approval and
    the dispatch has no number yet (one numbered before approval existed goes on as it was)."""
    from congvan import register
    from congvan.documents import dispatch_key

    return lc.campaign.approval == "signer" and register.lookup(engine, dispatch_key(lc.name)) is None


def dispatch_waits(engine: Engine, lc: LoadedCampaign) -> bool:
    """The dispatch is gated and its signer has not approved it yet: this run drafts it, and no more."""
    from congvan.documents import dispatch_key

    if not dispatch_gated(engine, lc):
        return False
    found = find(engine, dispatch_key(lc.name))
    return found is None or found.status is not ApprovalStatus.APPROVED


__all__ = ["Proposal", "cli_origin", "decide", "dispatch_gated", "dispatch_waits", "find", "listing", "mark", "propose",
           "supersede"]
