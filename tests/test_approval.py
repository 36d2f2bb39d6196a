"""Approval before issuing (trình ký, docs/design.md §1.3): nothing numbered or mailed before the signer says
yes; a refusal sticks; a late approval for a unit that has complied issues nothing; two decisions at once
record one. Real flows, a real SMTP server, SQLite and PostgreSQL.

Campaign: the sample moved to spring 2024 (tests/support.py), with the approval of the sample kept:
the dispatch and the numbered letters wait for their signer, the reminder mail does not.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support import Project, run_flow, spring_world
from typer.testing import CliRunner

from congvan import approvals, roster
from congvan.cli import app
from congvan.config import load_campaign
from congvan.errors import ApprovalError
from congvan.store import init_db, make_engine
from congvan.store.models import Approval, ApprovalStatus, Delivery, Document

CAMPAIGN = "par-index-2022"
VN = dt.timezone(dt.timedelta(hours=7))
ROSTER = """Mã cán bộ,Họ và tên,Chức vụ,Đơn vị,Email
E-01,Y Khoa Byă,Chủ tịch UBND,EAHLEO,
E-02,Lê Văn Cường,Trưởng phòng Nội vụ,Ea H'leo,
K-01,Phạm Thị Dung,Phó Chủ tịch UBND,KPAC,
K-02,Võ Văn Em,Chuyên viên,Krông Pắc,
T-01,Nguyễn Văn An,Giám đốc,STNMT,an.stnmt@daklak.example
"""
DISPATCH_DAY = dt.date(2024, 4, 10)
DON_DOC_DAY = dt.date(2024, 4, 25)  # deadline 24/04 + 1 working day: the letter to the head


@pytest.fixture
def world(tmp_path: Path, prefect_api: str, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from _world(tmp_path, prefect_api, db_url, monkeypatch)


@pytest.fixture
def sqlite_world(tmp_path: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from _world(tmp_path, prefect_api, f"sqlite:///{tmp_path / 'congvan.db'}", monkeypatch)


def _world(tmp_path: Path, prefect_api: str, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for world in spring_world(tmp_path, prefect_api, db_url, monkeypatch, roster=ROSTER, approval=True):
        engine = make_engine(db_url)
        init_db(engine)
        yield {**world, "engine": engine}
        engine.dispose()


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _documents(engine: sa.Engine) -> list[Document]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(Document).order_by(Document.id)).all())  # type: ignore[arg-type]


def _approval_rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(Approval.key, Approval.status, Approval.decided_by, Approval.decided_via,
                                           Approval.comment, Approval.document_id).order_by(Approval.id)).all())


def _sent(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(Delivery)).scalar_one())


# --- the dispatch --------------------------------------------------------------------------------------

def test_the_dispatch_waits_for_its_signer_then_issues_once_approved(world: dict[str, Any]) -> None:
    from flows.dispatch import dispatch

    engine, catcher = world["engine"], world["catcher"]
    drafted = run_flow(dispatch, campaign=CAMPAIGN, as_of=DISPATCH_DAY)
    # Drafted, checked, submitted: no number taken, nothing mailed.
    assert drafted.number is None and drafted.deliveries == ()
    assert set(drafted.to_json()) == {"document", "deliveries", "awaiting_approval"}  # dispatch --json
    assert _documents(engine) == [] and catcher.stored() == []
    (waiting,) = drafted.awaiting_approval
    assert waiting.draft is not None and Path(waiting.draft).is_file()

    listed = _cli("pending", CAMPAIGN, "--json")
    assert listed.exit_code == 0, listed.output
    (item,) = json.loads(listed.stdout)["pending"]
    assert set(item) == {"id", "campaign", "step", "unit", "kind", "draft"}  # the contract's keys, no more
    assert item["campaign"] == CAMPAIGN and item["kind"] == "dispatch" and item["unit"] is None

    # A second run the same day asks nothing twice and still sends nothing.
    run_flow(dispatch, campaign=CAMPAIGN, as_of=DISPATCH_DAY)
    assert len(json.loads(_cli("pending", "--json").stdout)["pending"]) == 1 and catcher.stored() == []

    approved = _cli("approve", CAMPAIGN, "--by", "Phạm Ngọc Nghị", "--comment", "Đồng ý ban hành", "--as-of",
                    DISPATCH_DAY.isoformat(), "--json")
    assert approved.exit_code == 0, approved.output
    out = json.loads(approved.stdout)
    assert out["document"]["number"] == "01" and out["document"]["issued_on"] == DISPATCH_DAY.isoformat()
    assert {d["status"] for d in out["deliveries"]} == {"sent"} and len(out["deliveries"]) == len(catcher.stored())
    (row,) = _approval_rows(engine)
    assert row.status is ApprovalStatus.ISSUED and row.decided_by == "Phạm Ngọc Nghị"
    assert row.decided_via.startswith("cli ") and row.comment == "Đồng ý ban hành"
    assert row.document_id == _documents(engine)[0].id

    # Approving again: nothing awaits; a rerun of the dispatch sends nothing twice.
    again = _cli("approve", CAMPAIGN)
    assert again.exit_code == 2 and "nothing awaits approval" in again.output
    before = len(catcher.stored())
    run_flow(dispatch, campaign=CAMPAIGN, as_of=DISPATCH_DAY)
    assert len(catcher.stored()) == before


def test_a_rejected_dispatch_never_leaves(sqlite_world: dict[str, Any]) -> None:
    from flows.dispatch import dispatch

    world = sqlite_world
    run_flow(dispatch, campaign=CAMPAIGN, as_of=DISPATCH_DAY)
    without_reason = _cli("reject", CAMPAIGN, "--unit", "ALL")
    assert without_reason.exit_code == 2 and "--reason" in without_reason.output
    without_unit = _cli("reject", CAMPAIGN, "--reason", "Sửa lại")  # never everything pending by omission
    assert without_unit.exit_code == 2 and "--unit" in without_unit.output
    refused = _cli("reject", CAMPAIGN, "--unit", "ALL", "--reason", "Sửa lại hạn trả lời")
    assert refused.exit_code == 0, refused.output
    assert "Rejected the dispatch by Phạm Ngọc Nghị" in refused.stdout
    state = dispatch(campaign=CAMPAIGN, as_of=DISPATCH_DAY, return_state=True)
    assert state.is_failed() and "rejected by Phạm Ngọc Nghị: Sửa lại hạn trả lời" in (state.message or "")
    assert _documents(world["engine"]) == [] and world["catcher"].stored() == []
    assert _cli("approve", CAMPAIGN).exit_code == 2  # nothing to approve: the refusal sticks


# --- the letters ---------------------------------------------------------------------------------------

def _issued_dispatch(world: dict[str, Any]) -> None:
    """The dispatch approved and sent, the roster loaded, E-01 and K-01 answered (T-01 too: STNMT complies)."""
    from flows.dispatch import dispatch

    run_flow(dispatch, campaign=CAMPAIGN, as_of=DISPATCH_DAY)
    assert _cli("approve", CAMPAIGN, "--as-of", DISPATCH_DAY.isoformat()).exit_code == 0
    assert _cli("roster", "import", CAMPAIGN).exit_code == 0
    _answer(world, [("E-01", dt.datetime(2024, 4, 15, 9, 0, tzinfo=VN)),
                    ("K-01", dt.datetime(2024, 4, 16, 9, 0, tzinfo=VN)),
                    ("T-01", dt.datetime(2024, 4, 16, 10, 0, tzinfo=VN))])


def _answer(world: dict[str, Any], rows: list[tuple[str, dt.datetime]]) -> None:
    export = world["tmp"] / "exports" / f"{uuid.uuid4().hex}.csv"
    export.parent.mkdir(exist_ok=True)
    export.write_text("staff_id,completed_at\n" + "".join(f"{s},{a.isoformat()}\n" for s, a in rows), encoding="utf-8")
    project: Project = world["project"]
    roster.import_responses(world["engine"], load_campaign(project.config, CAMPAIGN), export)


def test_letters_wait_a_refusal_sticks_and_an_approval_issues_them(world: dict[str, Any]) -> None:
    from flows.escalate import escalate

    _issued_dispatch(world)
    engine, catcher = world["engine"], world["catcher"]
    # 19/04: the reminder mail needs no approval (approval: none): it goes.
    reminders = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 19))
    assert {(a.unit, a.status) for a in reminders.actions} == {("EAHLEO", "sent"), ("KPAC", "sent")}
    mails = len(catcher.stored())

    # 25/04: the letters to the heads are drafted and submitted; nothing numbered or mailed.
    day = run_flow(escalate, campaign=CAMPAIGN, as_of=DON_DOC_DAY)
    assert {(a.unit, a.step, a.status) for a in day.actions} == {
        ("EAHLEO", "don-doc", "awaiting_approval"), ("KPAC", "don-doc", "awaiting_approval")}
    assert all(Path(a.files[0]).is_file() for a in day.actions)
    assert len(catcher.stored()) == mails and [d.kind for d in _documents(engine)].count("letter") == 0

    # KPAC's letter is refused; EAHLEO's is approved and goes out at once, numbered, dated the approval day.
    refused = _cli("reject", CAMPAIGN, "--unit", "KPAC", "--reason", "Đơn vị đã giải trình", "--by", "Trần Minh Đức")
    assert refused.exit_code == 0, refused.output
    approved = _cli("approve", CAMPAIGN, "--unit", "EAHLEO", "--as-of", "2024-04-26", "--json")
    assert approved.exit_code == 0, approved.output
    out = json.loads(approved.stdout)
    (action,) = out["actions"]
    assert action["unit"] == "EAHLEO" and action["status"] == "sent" and action["number"] == "02/UBND-KSTTHC"
    assert out["decided"][0]["by"] == "Trần Minh Đức"  # the letter's own signer (pho-chu-tich) by default
    letters = [d for d in _documents(engine) if d.kind == "letter"]
    assert [(d.unit, d.issued_on) for d in letters] == [("EAHLEO", dt.date(2024, 4, 26))]
    assert len(catcher.stored()) == mails + 1

    # The next days: the refused letter is never proposed again; nothing is asked twice.
    again = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 29))
    assert [a for a in again.actions if a.unit == "KPAC"] == []
    assert json.loads(_cli("pending", CAMPAIGN, "--json").stdout)["pending"] == []
    statuses = {r.key: r.status for r in _approval_rows(engine)}
    assert statuses[f"{CAMPAIGN}/don-doc/KPAC"] is ApprovalStatus.REJECTED
    assert statuses[f"{CAMPAIGN}/don-doc/EAHLEO"] is ApprovalStatus.ISSUED


def test_an_approval_after_the_unit_complied_issues_nothing(sqlite_world: dict[str, Any]) -> None:
    from flows.escalate import escalate

    world = sqlite_world
    _issued_dispatch(world)
    run_flow(escalate, campaign=CAMPAIGN, as_of=DON_DOC_DAY)
    # KPAC's last official answers before the Chairman's deputy gets to the letter.
    _answer(world, [("K-02", dt.datetime(2024, 4, 25, 15, 0, tzinfo=VN))])
    approved = _cli("approve", CAMPAIGN, "--as-of", "2024-04-26")
    assert approved.exit_code == 0, approved.output
    assert "KPAC has complied since it was drafted on 25/04/2024: nothing issued" in approved.stdout
    letters = [d for d in _documents(world["engine"]) if d.kind == "letter"]
    assert [d.unit for d in letters] == ["EAHLEO"]
    statuses = {r.key: r.status for r in _approval_rows(world["engine"])}
    assert statuses[f"{CAMPAIGN}/don-doc/KPAC"] is ApprovalStatus.MOOT


def test_a_higher_step_supersedes_a_letter_still_waiting(sqlite_world: dict[str, Any]) -> None:
    from flows.escalate import escalate

    world = sqlite_world
    _issued_dispatch(world)
    run_flow(escalate, campaign=CAMPAIGN, as_of=DON_DOC_DAY)  # don-doc drafted for EAHLEO and KPAC, never decided
    later = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 5, 4))  # giai-trinh and the report are due
    assert {(a.unit, a.step) for a in later.actions} >= {("EAHLEO", "giai-trinh"), ("KPAC", "giai-trinh")}
    waiting = json.loads(_cli("pending", CAMPAIGN, "--json").stdout)["pending"]
    assert {(p["unit"], p["step"]) for p in waiting} == {("EAHLEO", "giai-trinh"), ("KPAC", "giai-trinh"),
                                                         (None, "bao-cao")}
    # Each waits with a draft to read, the report too (number left blank).
    assert all(p["draft"] and Path(p["draft"]).is_file() for p in waiting), waiting
    statuses = {r.key: r.status for r in _approval_rows(world["engine"])}
    assert statuses[f"{CAMPAIGN}/don-doc/KPAC"] is ApprovalStatus.SUPERSEDED


# --- bad input -------------------------------------------------------------------------------------------

def test_an_approval_for_a_letter_that_does_not_exist_is_one_line(sqlite_world: dict[str, Any]) -> None:
    from flows.dispatch import dispatch

    nothing = _cli("approve", CAMPAIGN)
    assert nothing.exit_code == 2 and "nothing awaits approval" in nothing.output
    run_flow(dispatch, campaign=CAMPAIGN, as_of=DISPATCH_DAY)
    unknown = _cli("approve", CAMPAIGN, "--unit", "KHONGCO")
    assert unknown.exit_code == 2
    assert "nothing awaits approval for unit KHONGCO (pending: (campaign))" in unknown.output
    assert "Traceback" not in unknown.output
    assert _documents(sqlite_world["engine"]) == []


def test_two_approvals_of_the_same_letter_at_once_record_one(world: dict[str, Any]) -> None:
    from flows.dispatch import dispatch

    engine = world["engine"]
    run_flow(dispatch, campaign=CAMPAIGN, as_of=DISPATCH_DAY)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(who: str) -> None:
        barrier.wait()
        try:
            approvals.decide(engine, CAMPAIGN, approve=True, units=None, by=who, via="test", comment=None)
            outcomes.append(f"ok {who}")
        except ApprovalError as exc:
            outcomes.append(f"refused {exc}")

    threads = [threading.Thread(target=decide, args=(name,)) for name in ("Phạm Ngọc Nghị", "Trần Minh Đức")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.split()[0] for o in outcomes) == ["ok", "refused"], outcomes
    (row,) = _approval_rows(engine)
    winner = next(o for o in outcomes if o.startswith("ok"))[3:]
    assert row.decided_by == winner and row.status is ApprovalStatus.APPROVED
    loser = next(o for o in outcomes if o.startswith("refused"))
    assert winner in loser or "nothing awaits approval" in loser  # told who was first, or that it is gone
