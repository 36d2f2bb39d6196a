"""The flows' typed results (congvan.results): ``to_json()`` is exactly the ``--json`` contract of each command
(docs/design.md §7), and each result survives the pickling Prefect applies to a persisted flow result (a worker's
run read back in another process). No Prefect, no database: the commands' own tests run the flows."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pytest

from congvan.approvals import Proposal
from congvan.escalation import ActionResult
from congvan.results import (
    ApprovalResult,
    ComplianceSummary,
    Delivery,
    DeliveryTruth,
    DispatchResult,
    EscalationResult,
    Fallback,
    ReportResult,
    ReportRow,
)
from congvan.store.models import ApprovalStatus

DAY = dt.date(2024, 4, 10)
SENT = Delivery(unit="KPAC", name="Văn thư KPAC", address="vanthu.kpac@daklak.example", role="to", status="sent",
                message_id="<cv.1@daklak.example>", attempts=1)
BOUNCED = Delivery(unit="STP", name="Văn thư STP", address="vanthu.stp@daklak.example", role="to", status="bounced",
                   message_id="<cv.2@daklak.example>", error="550 5.1.1")
FALLBACK = Delivery(unit="STP", name="Giám đốc", address="giamdoc.stp@daklak.example", role="to", status="sent",
                    message_id="<cv.3@daklak.example>")
REFUSED = Delivery(unit=None, name="Sở Nội vụ", address="snv@daklak.example", role="cc", status="failed_permanent",
                   error="550 no such user")
DISPATCH = DispatchResult(campaign="par-index-2022", number="01", symbol="UBND-KSTTHC", issued_on=DAY,
                          path=Path("outputs/documents/cv.docx"), deliveries=(SENT, BOUNCED, FALLBACK))
PROPOSAL = Proposal(id=7, key="par-index-2022/don-doc/KPAC", campaign="par-index-2022", step="don-doc", kind="letter",
                    unit="KPAC", level=2, signer="Trần Minh Đức", draft="outputs/drafts/x.docx", proposed_on=DAY,
                    status=ApprovalStatus.APPROVED, decided_by="Trần Minh Đức",
                    decided_at=dt.datetime(2024, 4, 11, 2, 30, tzinfo=dt.UTC), decided_via="cli", comment="Đồng ý")
LETTER = ActionResult(unit="KPAC", step="don-doc", kind="letter", number="02/UBND-KSTTHC",
                      to=["chutich.kpac@daklak.example"], status="sent", files=["a.docx", "a.pdf"])
ESCALATION = EscalationResult(
    as_of=DAY, actions=(LETTER,), compliance=ComplianceSummary(required=9, responded=5, units_behind=2),
    imports=("2024-04-10.csv: 5 responses",), day_off=None, timings={"pdf": 1.25},
    bounces=DeliveryTruth(reports=("STP bounced",), fallbacks=(Fallback("STP", "giamdoc.stp@daklak.example", "sent"),),
                          alerted=1, held={"EAHLEO": "the dispatch bounced"}))


def test_dispatch_json_is_the_contract() -> None:
    assert DISPATCH.to_json() == {
        "document": {"number": "01", "symbol": "UBND-KSTTHC", "issued_on": "2024-04-10",
                     "path": str(Path("outputs/documents/cv.docx"))},
        "deliveries": [{"unit": d.unit, "address": d.address, "status": d.status, "message_id": d.message_id}
                       for d in (SENT, BOUNCED, FALLBACK)]}


def test_a_dispatch_awaiting_its_signer_says_so_in_json() -> None:
    waiting = DispatchResult(campaign="par-index-2022", number=None, symbol="UBND-KSTTHC", issued_on=None,
                             path=Path("drafts/d.docx"), awaiting_approval=(PROPOSAL,))
    assert waiting.to_json() == {
        "document": {"number": None, "symbol": "UBND-KSTTHC", "issued_on": None, "path": str(Path("drafts/d.docx"))},
        "deliveries": [], "awaiting_approval": [PROPOSAL.as_json()]}


def test_a_unit_served_at_its_fallback_is_not_unserved() -> None:
    assert DISPATCH.unserved() == []
    refused = DispatchResult(campaign="c", number="01", symbol="S", issued_on=DAY, path=Path("d.docx"),
                             deliveries=(SENT, REFUSED))
    assert refused.unserved() == [REFUSED]
    assert refused.count("sent") == 1


def test_escalation_json_is_the_contract() -> None:
    assert ESCALATION.to_json() == {"as_of": "2024-04-10", "actions": [
        {"unit": "KPAC", "step": "don-doc", "kind": "letter", "number": "02/UBND-KSTTHC",
         "to": ["chutich.kpac@daklak.example"], "status": "sent"}]}


def test_approve_json_takes_the_shape_of_what_it_issued() -> None:
    decided = {"id": 7, "campaign": "par-index-2022", "step": "don-doc", "unit": "KPAC", "kind": "letter",
               "draft": "outputs/drafts/x.docx", "status": "approved", "by": "Trần Minh Đức",
               "at": "2024-04-11T02:30:00+00:00", "via": "cli", "comment": "Đồng ý"}
    letters = ApprovalResult(decision="approve", decided=(PROPOSAL,), as_of=DAY, actions=(LETTER,))
    assert letters.to_json() == {**ESCALATION.to_json(), "decided": [decided]}
    dispatched = ApprovalResult(decision="approve", decided=(PROPOSAL,), as_of=DAY, dispatch=DISPATCH)
    assert dispatched.to_json() == {**DISPATCH.to_json(), "decided": [decided]}
    refused = ApprovalResult(decision="reject", decided=(PROPOSAL,), as_of=DAY)
    assert refused.to_json() == {"decided": [decided]}


@pytest.mark.parametrize("result", [
    DISPATCH, ESCALATION,
    ApprovalResult(decision="approve", decided=(PROPOSAL,), as_of=DAY, dispatch=DISPATCH, actions=(LETTER,)),
    ReportResult(docx=Path("r.docx"), xlsx=Path("r.xlsx"), responded=5, required=9,
                 rows=(ReportRow(unit="KPAC", name="Krông Pắc", required=2, responded=1, rate="50%", compliant="no"),)),
], ids=lambda r: type(r).__name__)
def test_every_result_survives_prefects_pickling(result: DispatchResult | EscalationResult | ApprovalResult
                                                 | ReportResult) -> None:
    """Prefect's default result serializer is pickle: a run persisted by a worker is read back elsewhere."""
    from prefect.serializers import PickleSerializer

    again = PickleSerializer().loads(PickleSerializer().dumps(result))
    assert again == result
    assert pickle.loads(pickle.dumps(result)) == result
    assert again.to_json() == result.to_json()
