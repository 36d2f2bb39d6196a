"""Delivery reports and read receipts applied to the ledger (congvan.reports, congvan.bounces), on SQLite
and PostgreSQL: each report changes exactly the row it names, and untrusted mail changes nothing wrongly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from support import ROOT, Project, edit_yaml, project_copy

from congvan import bounces, ledger, reports
from congvan.config import load_campaign
from congvan.errors import MailboxError
from congvan.imap import ImapConfig, read_new
from congvan.mail_compose import Mailbox, Outgoing, compose, new_message_id
from congvan.mail_transport import SmtpConfig, SmtpSession
from congvan.mailcatcher import RETURNED_DIR, CatcherOptions, MailCatcher
from congvan.recipients import PlannedMessage, Recipient
from congvan.store.db import transaction
from congvan.store.models import Delivery, Document

CAMPAIGN = "par-index-2022"
A_TO, A_CC, B_TO = "vanthu.stp@daklak.example", "vanthu.tinhuy@daklak.example", "vanthu.snv@daklak.example"
STP_HEAD = "tranthiminhthu.stp@daklak.example"


def _document(engine: Engine, key: str = f"{CAMPAIGN}/dispatch", campaign: str = CAMPAIGN) -> int:
    with transaction(engine) as session:
        doc = Document(key=key, campaign=campaign, kind="dispatch", issued_on=dt.date(2024, 4, 10))
        session.add(doc)
        session.flush()
        return doc.id


def _sent(engine: Engine) -> dict[str, str]:
    """Two messages of the dispatch, sent: A to the STP mailbox (Cc a named body), B to the SNV mailbox."""
    document_id = _document(engine)
    planned = ledger.plan(engine, document_id, [
        PlannedMessage(to=(Recipient("Sở Tư pháp", A_TO, "to", "STP"),),
                       cc=(Recipient("Tỉnh ủy", A_CC, "cc"),)),
        PlannedMessage(to=(Recipient("Sở Nội vụ", B_TO, "to", "SNV"),)),
    ], message_id_domain="daklak.example")
    ledger.mark_sent(engine, [r.id for m in planned for r in m.rows])
    return {r.address: m.message_id for m in planned for r in m.rows}


def _rows(engine: Engine) -> dict[str, tuple[str, str | None, str | None]]:
    with transaction(engine) as session:
        return {d.address: (d.status.value, d.report_code, d.report_detail)
                for d in session.scalars(sa.select(Delivery))}


def postfix_dsn(message_id: str, recipient: str, *, action: str = "failed", status: str = "5.1.1",
                envid: bool = True, returned_id: str | None = None) -> bytes:
    """A report as Postfix 3.7 writes it (captured from the test relay), for one recipient."""
    env = f"Original-Envelope-Id: {message_id.strip('<>')}\n" if envid else ""
    return f"""Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@daklak.example>
Subject: Undelivered Mail Returned to Sender
To: vanthu.ubnd@daklak.example
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="C3C9320C543.1795863137/mx.daklak.example"
Message-Id: <20261128105217.CC3CE20C5C3@mx.daklak.example>

This is a MIME-encapsulated message.

--C3C9320C543.1795863137/mx.daklak.example
Content-Description: Notification
Content-Type: text/plain; charset=utf-8

<{recipient}>: unknown user: "{recipient}"

--C3C9320C543.1795863137/mx.daklak.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.daklak.example
{env}X-Postfix-Sender: rfc822; vanthu.ubnd@daklak.example

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: X-Postfix; unknown user: "{recipient}"

--C3C9320C543.1795863137/mx.daklak.example
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: vanthu.ubnd@daklak.example
Subject: V/v test
Message-ID: {returned_id or message_id}

--C3C9320C543.1795863137/mx.daklak.example--
""".replace("\n", "\r\n").encode()


def read_receipt(message_id: str, recipient: str, disposition: str = "displayed") -> bytes:
    return f"""From: Sở Nội vụ <{recipient}>
To: vanthu.ubnd@daklak.example
Subject: Đã đọc: V/v test
Message-ID: <mdn.1@daklak.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="mdn"

--mdn
Content-Type: text/plain; charset=utf-8

The message was displayed.

--mdn
Content-Type: message/disposition-notification

Reporting-UA: mail.daklak.example; Thunderbird
Final-Recipient: rfc822; {recipient}
Original-Message-ID: {message_id}
Disposition: manual-action/MDN-sent-manually; {disposition}

--mdn--
""".replace("\n", "\r\n").encode()


def test_a_report_changes_exactly_the_row_it_names(engine: Engine) -> None:
    ids = _sent(engine)
    applied = bounces.apply(engine, CAMPAIGN, postfix_dsn(ids[A_TO], A_TO), source="r1.eml")
    assert applied.bounced == 1 and applied.skipped == []
    assert applied.changed == [f'STP {A_TO}: bounced 5.1.1 (X-Postfix; unknown user: "{A_TO}")']
    rows = _rows(engine)
    assert rows[A_TO] == ("bounced", "5.1.1", f'X-Postfix; unknown user: "{A_TO}"')
    assert rows[A_CC][0] == rows[B_TO][0] == "sent"
    # Read again (the same file imported twice): nothing changes.
    again = bounces.apply(engine, CAMPAIGN, postfix_dsn(ids[A_TO], A_TO), source="r1.eml")
    assert (again.changed, again.skipped) == ([], [])
    assert _rows(engine) == rows


def test_matched_by_the_returned_message_id_when_there_is_no_envelope_id(engine: Engine) -> None:
    ids = _sent(engine)
    applied = bounces.apply(engine, CAMPAIGN, postfix_dsn(ids[B_TO], B_TO, envid=False), source="r.eml")
    assert applied.bounced == 1 and _rows(engine)[B_TO][0] == "bounced"


def test_delayed_then_read_then_no_going_back(engine: Engine) -> None:
    ids = _sent(engine)
    delayed = bounces.apply(engine, CAMPAIGN, postfix_dsn(ids[B_TO], B_TO, action="delayed", status="4.4.1"),
                            source="d.eml")
    assert delayed.changed and _rows(engine)[B_TO][:2] == ("delayed", "4.4.1")
    read = bounces.apply(engine, CAMPAIGN, read_receipt(ids[B_TO], B_TO), source="mdn.eml")
    assert read.changed == [f"SNV {B_TO}: displayed (manual-action/MDN-sent-manually; displayed)"]
    late = bounces.apply(engine, CAMPAIGN, postfix_dsn(ids[B_TO], B_TO, action="delayed", status="4.4.1"),
                         source="d2.eml")
    assert late.changed == [] and "whose letter is displayed: not applied" in late.skipped[0]
    assert _rows(engine)[B_TO][0] == "displayed"


def check_untouched(engine: Engine, raw: bytes, expected: str) -> None:
    before = _rows(engine)
    applied = bounces.apply(engine, CAMPAIGN, raw, source="x.eml", own_domain="daklak.example")
    assert applied.changed == []
    assert len(applied.skipped) == 1 and expected in applied.skipped[0], applied.skipped
    assert _rows(engine) == before


def test_untrusted_reports_change_nothing_wrongly(engine: Engine) -> None:
    ids = _sent(engine)
    stranger = "<cv.00000000000000000000000000000000@daklak.example>"
    check_untouched(engine, postfix_dsn(stranger, A_TO), f"{stranger} is not a message campaign {CAMPAIGN} sent")
    check_untouched(engine, postfix_dsn(ids[A_TO], B_TO), f"{B_TO} is not an address {ids[A_TO]} was sent to")
    check_untouched(engine, postfix_dsn(ids[A_TO], A_TO, returned_id=ids[B_TO]), "names several of our messages")
    # A forged "delivered" (never asked for) and a forged read receipt for a bounced row.
    bounces.apply(engine, CAMPAIGN, postfix_dsn(ids[A_TO], A_TO), source="real.eml")
    check_untouched(engine, postfix_dsn(ids[A_TO], A_TO, action="delivered", status="2.0.0"),
               f"a 'delivered' report for {A_TO} is not acted on (the row stays bounced)")
    check_untouched(engine, read_receipt(ids[A_TO], A_TO), f"a displayed report for {A_TO}, whose letter is bounced")
    # Another campaign's ledger is not this one's.
    other = bounces.apply(engine, "another-campaign", postfix_dsn(ids[B_TO], B_TO), source="o.eml")
    assert other.changed == [] and "is not a message campaign another-campaign sent" in other.skipped[0]


def test_hostile_messages_are_refused_with_a_reason(engine: Engine) -> None:
    ids = _sent(engine)
    html_only = (f"From: MAILER-DAEMON@daklak.example\r\nMessage-ID: <h@x>\r\nContent-Type: text/html\r\n\r\n"
                 f"<p>{ids[A_TO]} to {A_TO} failed: 550 5.1.1</p>\r\n").encode()
    check_untouched(engine, html_only, "HTML only")
    bomb = b"".join(b"Content-Type: message/rfc822\r\n\r\n" for _ in range(150)) + b"Subject: x\r\n\r\nboom\r\n"
    check_untouched(engine, bomb, "nested more than 8 levels deep")
    wide = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"".join(
        b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(300)) + b"--b--\r\n"
    check_untouched(engine, wide, "more than 200 MIME parts")
    check_untouched(engine, b"X" * (reports.MAX_REPORT_BYTES + 1), "larger than any delivery report")
    broken = (b"From: MAILER-DAEMON@daklak.example\r\nContent-Type: multipart/report; report-type=delivery-status;"
              b' boundary="q"\r\n\r\n--q\r\nContent-Type: message/delivery-status\r\n\r\n\r\n--q--\r\n')
    check_untouched(engine, broken, "")
    check_untouched(engine, b"\x00\xff\xfe garbage \r\n\r\n\x00", "not a delivery report")
    reply = f"From: {B_TO}\r\nSubject: Re: V/v\r\nIn-Reply-To: {ids[B_TO]}\r\n\r\nĐã nhận.\r\n".encode()
    check_untouched(engine, reply, "not a delivery report or read receipt")
    # congvan's own alert names our Message-IDs and addresses: it is never read as a bounce.
    own = compose(Outgoing(sender=Mailbox("UBND", "vanthu.ubnd@daklak.example"),
                           to=(Mailbox("UBND", "vanthu.ubnd@daklak.example"),), subject="[congvan] 1 bounce",
                           text=f"{A_TO} {ids[A_TO]} 550 5.1.1", html="<p>x</p>",
                           message_id=new_message_id("daklak.example")))
    check_untouched(engine, own, "not a delivery report or read receipt")


def test_a_free_text_bounce_counts_only_from_a_mailer_daemon_naming_ours(engine: Engine) -> None:
    ids = _sent(engine)
    text = (f"The following message to <{A_TO}> was undeliverable.\r\n"
            f"{A_TO}: 550 5.1.1 User unknown\r\n\r\nMessage-ID: {ids[A_TO]}\r\n")
    forged = f"From: someone@evil.example\r\nSubject: Undeliverable\r\n\r\n{text}".encode()
    check_untouched(engine, forged, "not a delivery report")
    real = f"From: postmaster@mail.daklak.example\r\nSubject: Undeliverable\r\n\r\n{text}".encode()
    applied = bounces.apply(engine, CAMPAIGN, real, source="old.eml")
    assert applied.bounced == 1 and _rows(engine)[A_TO][:2] == ("bounced", "5.1.1")
    assert _rows(engine)[A_TO][2].startswith("non-standard bounce:")
    assert _rows(engine)[A_CC][0] == "sent"


def test_import_of_a_50_mb_file_is_not_read(tmp_path: Path, engine: Engine) -> None:
    _sent(engine)
    big = tmp_path / "big.eml"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    lc = load_campaign(ROOT / "config", CAMPAIGN)
    applied = bounces.import_files(engine, lc, [big, tmp_path / "missing.eml"])
    assert applied.changed == []
    assert applied.skipped[0] == f"{big}: 50 MB is larger than any delivery report (10 MB at most): not read"
    assert applied.skipped[1].startswith(f"{tmp_path / 'missing.eml'}: cannot be read")


# --- what follows from a bounce -------------------------------------------------------------------


def _bounce(engine: Engine, address: str, ids: dict[str, str]) -> None:
    assert bounces.apply(engine, CAMPAIGN, postfix_dsn(ids[address], address), source="b.eml").bounced == 1


def test_fallback_reroute_and_hold(tmp_path: Path, engine: Engine) -> None:
    config = project_copy(tmp_path) / "config"
    lc = load_campaign(config, CAMPAIGN)
    ids = _sent(engine)
    document_id = _document_id(engine)
    assert bounces.fallback_messages(engine, lc, document_id) == []
    _bounce(engine, A_TO, ids)
    # The dispatch bounced at STP's mailbox: its head is the fallback, and STP is held from follow-ups.
    assert [m.to for m in bounces.fallback_messages(engine, lc, document_id)] == [
        (Recipient("Trần Thị Minh Thu", STP_HEAD, "to", "STP"),)]
    assert "bounced" in bounces.unreached(engine, lc)["STP"]
    deliveries = bounces.unit_deliveries(engine, lc)
    assert deliveries["STP"].as_json()["status"] == "bounced"
    assert deliveries["SNV"].as_json() == {"status": "sent", "address": B_TO, "detail": None}
    assert deliveries["SKHDT"].status == "pending"
    # A follow-up to STP's mailbox goes to the fallback; a bounced Cc is dropped.
    letter = [PlannedMessage(to=(Recipient("Sở Tư pháp", A_TO, "to", "STP"),),
                             cc=(Recipient("Sở Tư pháp", A_TO, "cc", "STP"), Recipient("SNV", B_TO, "cc")))]
    rerouted = bounces.reroute(letter, bounces.suppressed(engine, lc), lc)
    assert [r.address for r in rerouted[0].to] == [STP_HEAD] and [r.address for r in rerouted[0].cc] == [B_TO]
    # units.yaml gives the unit a new mailbox: no fallback any more (the dispatch serves the new address).
    edit_yaml(config / "units.yaml", lambda d: next(u for u in d["units"] if u["code"] == "STP").update(
        email="vanthu.moi.stp@daklak.example"))
    assert bounces.fallback_messages(engine, load_campaign(config, CAMPAIGN), document_id) == []


def _document_id(engine: Engine) -> int:
    with transaction(engine) as session:
        found = session.scalar(sa.select(Document.id).where(Document.key == f"{CAMPAIGN}/dispatch"))
        assert found is not None
        return found


def test_unit_fallback_email_is_preferred(tmp_path: Path, engine: Engine) -> None:
    config = project_copy(tmp_path) / "config"
    edit_yaml(config / "units.yaml", lambda d: next(u for u in d["units"] if u["code"] == "STP").update(
        fallback_email="vanphong.stp@daklak.example"))
    lc = load_campaign(config, CAMPAIGN)
    ids = _sent(engine)
    _bounce(engine, A_TO, ids)
    assert [m.to[0].address for m in bounces.fallback_messages(engine, lc, _document_id(engine))] == [
        "vanphong.stp@daklak.example"]


# --- the built-in catcher bounces too; imports from the CLI ----------------------------------------


def test_the_catcher_returns_a_report_that_import_applies(tmp_path: Path) -> None:
    project = Project(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'congvan.db'}"
    from congvan.store import init_db, make_engine

    engine = make_engine(db_url)
    init_db(engine)
    ids = _sent(engine)
    options = CatcherOptions(bounce_rcpts=frozenset({A_TO}))
    with MailCatcher(tmp_path / "mailbox", options=options) as catcher:
        raw = compose(Outgoing(sender=Mailbox("UBND", "vanthu.ubnd@daklak.example"),
                               to=(Mailbox("Sở Tư pháp", A_TO),), cc=(Mailbox("Tỉnh ủy", A_CC),), subject="V/v t",
                               text="x", html="<p>x</p>", message_id=ids[A_TO]))
        with SmtpSession(SmtpConfig("127.0.0.1", catcher.port), "vanthu.ubnd@daklak.example") as session:
            assert session.send([A_TO, A_CC], raw) == {}  # accepted, as a relay does
        kept = catcher.stored()
        assert [m.rcpt_tos for m in kept] == [(A_CC,)]
    returned = sorted((tmp_path / "mailbox" / RETURNED_DIR).glob("*.eml"))
    assert len(returned) == 1
    result = project.run("bounces", "import", CAMPAIGN, *map(str, returned), str(tmp_path / "mailbox" / "x.eml"),
                         CONGVAN_DATABASE_URL=db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"STP {A_TO}: bounced 5.1.1 (smtp; 550 5.1.1 <{A_TO}>: mailbox unavailable)"]
    assert "1 delivery row(s) changed, 1 bounce(s); 1 message(s) skipped" in result.stderr
    assert _rows(engine)[A_TO][0] == "bounced" and _rows(engine)[A_CC][0] == "sent"
    again = project.run("bounces", "import", CAMPAIGN, *map(str, returned), CONGVAN_DATABASE_URL=db_url)
    assert again.returncode == 0 and again.stdout == ""
    engine.dispose()


# --- the mailbox and the mail ------------------------------------------------------------------------


def _imap(**change: Any) -> ImapConfig:
    from pydantic import SecretStr

    values: dict[str, Any] = {"host": "127.0.0.1", "port": 1, "user": "u", "password": SecretStr("pw-s3cret"),
                              "security": "none", "timeout": 5.0}
    values.update(change)
    return ImapConfig(**values)


def test_an_unreachable_mailbox_is_one_line() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(MailboxError) as caught:
        read_new(_imap(port=port), lambda fetched: False)
    assert str(caught.value).startswith(f"cannot reach the mailbox server 127.0.0.1:{port} (none): ")
    assert "pw-s3cret" not in str(caught.value)
    with pytest.raises(MailboxError, match="CONGVAN_IMAP_SECURITY=none is for a server on this machine"):
        read_new(_imap(host="imap.daklak.example"), lambda fetched: False)


def test_a_read_receipt_is_asked_for_only_when_the_campaign_says_so() -> None:
    sender = Mailbox("Ủy ban nhân dân tỉnh Đắk Lắk", "vanthu.ubnd@daklak.example")
    mail = Outgoing(sender=sender, to=(Mailbox("Sở Tư pháp", A_TO),), subject="V/v t", text="x", html="<p>x</p>",
                    message_id=new_message_id("daklak.example"))
    assert b"Disposition-Notification-To" not in compose(mail)
    from dataclasses import replace

    raw = compose(replace(mail, receipt_to=sender))
    assert b"Disposition-Notification-To: =?utf-8?b?" in raw and b"<vanthu.ubnd@daklak.example>" in raw


def test_the_report_workbook_has_a_receipt_column(tmp_path: Path, engine: Engine) -> None:
    import openpyxl

    from congvan import compliance
    from congvan.report import write_workbook

    lc = load_campaign(ROOT / "config", CAMPAIGN)
    ids = _sent(engine)
    _bounce(engine, A_TO, ids)
    bounces.apply(engine, CAMPAIGN, read_receipt(ids[B_TO], B_TO), source="mdn.eml")
    receipts = {c: d.status for c, d in bounces.unit_deliveries(engine, lc).items()}
    out = write_workbook(lc, compliance.compute(engine, lc, dt.date(2024, 4, 20)), tmp_path / "r.xlsx", receipts)
    ws = openpyxl.load_workbook(out)["Tổng hợp"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0][-1] == "Nhận công văn"
    by_unit = {r[1]: r[6] for r in rows[1:-1]}
    assert by_unit["Sở Tư pháp"] == "Bị trả lại"
    assert by_unit["Sở Nội vụ"] == "Đã đọc"
    assert by_unit["Sở Tài chính"] == "Chưa gửi"
