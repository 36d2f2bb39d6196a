"""What each flow returns: typed results, read by the CLI, the demo, the benchmarks and the tests.

Each has one ``to_json()``: the ``--json`` output of its command, a contract (docs/design.md §7) that stays
the same whichever field is added here. They live in the domain package rather than in ``flows/``: the CLI
prints them and the tests read them without importing Prefect, and the JSON shape is congvan's contract,
not Prefect's. Plain frozen dataclasses of an importable module: Prefect pickles a flow's return value when it
persists results, so a worker's result reads back in another process (tests/test_results.py checks it).

Standard library only at import: the types of other modules are named for the type checker alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from congvan.approvals import Proposal
    from congvan.escalation import ActionResult

# A delivery that reached its unit, or will (a dry run's plan, a display receipt, a delay report).
SERVED = ("sent", "planned", "delayed", "displayed")


@dataclass(frozen=True)
class Delivery:
    """One address of the dispatch, as the ledger has it after the run (or as a dry run plans it)."""

    unit: str | None
    name: str
    address: str
    role: str
    status: str
    message_id: str | None = None
    error: str | None = None
    attempts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "address": self.address, "status": self.status, "message_id": self.message_id}


@dataclass(frozen=True)
class DispatchResult:
    """The dispatch flow's result: the document and each delivery; or, when the dispatch waits for its signer,
    the draft (no number, no date) and the proposal."""

    campaign: str
    number: str | None
    symbol: str
    issued_on: dt.date | None
    path: Path
    deliveries: tuple[Delivery, ...] = ()
    dry_run: bool = False
    awaiting_approval: tuple[Proposal, ...] = ()

    def count(self, status: str) -> int:
        return sum(1 for d in self.deliveries if d.status == status)

    def unserved(self) -> list[Delivery]:
        """Deliveries not served to a unit (or named recipient) that no other address of it was served at: a 550
        to an old address stops counting once the corrected address has the letter."""
        served = {d.unit or d.address for d in self.deliveries if d.status in SERVED}
        return [d for d in self.deliveries if d.status not in SERVED and (d.unit or d.address) not in served]

    def to_json(self) -> dict[str, Any]:
        """``congvan dispatch --json`` (the ``awaiting_approval`` key only while the dispatch waits)."""
        data: dict[str, Any] = {
            "document": {"number": self.number, "symbol": self.symbol,
                         "issued_on": self.issued_on.isoformat() if self.issued_on else None, "path": str(self.path)},
            "deliveries": [d.to_json() for d in self.deliveries]}
        if self.awaiting_approval:
            data["awaiting_approval"] = [p.as_json() for p in self.awaiting_approval]
        return data


@dataclass(frozen=True)
class Fallback:
    """The dispatch sent again, once, to the fallback address of a unit whose mailbox bounced it."""

    unit: str | None
    address: str
    status: str
    error: str | None = None


@dataclass(frozen=True)
class DeliveryTruth:
    """What the reply mailbox told the run before it acted (congvan.bounces): reports applied, fallbacks sent,
    the coordinator alerted, units held (their code → why) because the dispatch never reached them."""

    reports: tuple[str, ...] = ()
    fallbacks: tuple[Fallback, ...] = ()
    alerted: int = 0
    held: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ComplianceSummary:
    required: int
    responded: int
    units_behind: int


@dataclass(frozen=True)
class EscalationResult:
    """The escalation flow's result for one day: each action and its outcome, and what led to them."""

    as_of: dt.date
    actions: tuple[ActionResult, ...]
    compliance: ComplianceSummary
    imports: tuple[str, ...] = ()
    bounces: DeliveryTruth = DeliveryTruth()
    day_off: str | None = None  # why as_of is not a working day (nothing was done)
    dry_run: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (bench/bench_scale.py)

    def to_json(self) -> dict[str, Any]:
        """``congvan escalate --json``."""
        return {"as_of": self.as_of.isoformat(), "actions": [a.as_json() for a in self.actions]}

    def with_actions(self, actions: tuple[ActionResult, ...]) -> EscalationResult:
        return dataclasses.replace(self, actions=actions)


def decision_json(p: Proposal) -> dict[str, Any]:
    """A decision as ``approve --json`` and ``reject --json`` list it."""
    return {**p.as_json(), "status": p.status.value, "by": p.decided_by,
            "at": p.decided_at.isoformat() if p.decided_at else None, "via": p.decided_via, "comment": p.comment}


@dataclass(frozen=True)
class ApprovalResult:
    """The approve flow's result: the decisions recorded, then what approving issued (the dispatch, letters)."""

    decision: str  # approve | reject
    decided: tuple[Proposal, ...]
    as_of: dt.date
    dispatch: DispatchResult | None = None
    actions: tuple[ActionResult, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """``reject --json``: the decisions; ``approve --json``: the shape of ``dispatch --json`` when the dispatch
        was approved, of ``escalate --json`` otherwise, with the decisions."""
        decided = [decision_json(p) for p in self.decided]
        if self.decision == "reject":
            return {"decided": decided}
        if self.dispatch is not None:
            issued = self.dispatch.to_json()
            return {"document": issued["document"], "deliveries": issued["deliveries"], "decided": decided}
        return {"as_of": self.as_of.isoformat(), "actions": [a.as_json() for a in self.actions], "decided": decided}


@dataclass(frozen=True)
class ReportRow:
    unit: str
    name: str
    required: int
    responded: int
    rate: str  # "83%"
    compliant: str  # yes | no


@dataclass(frozen=True)
class ReportResult:
    """The report flow's result: the two files and the table published as its artifact."""

    docx: Path
    xlsx: Path
    rows: tuple[ReportRow, ...]
    responded: int
    required: int

    def to_json(self) -> dict[str, Any]:
        return {"docx": str(self.docx), "xlsx": str(self.xlsx), "rows": [vars(r) for r in self.rows],
                "responded": self.responded, "required": self.required}


__all__ = ["ApprovalResult", "ComplianceSummary", "Delivery", "DeliveryTruth", "DispatchResult", "EscalationResult",
           "Fallback", "ReportResult", "ReportRow", "decision_json"]
