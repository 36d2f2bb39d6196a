"""Delivery truth end to end over a real Postfix (the relay) and a real Dovecot (the reply mailbox).

The sample's dispatch goes to its 36 units through Postfix; two unit mailboxes do not exist. Postfix
accepts both (250), as a real relay does, and returns them minutes later as RFC 3464 reports to the
authority's mailbox, which Dovecot serves. The next daily run reads the mailbox over IMAP, marks both
rows bounced, sends the same document once to each unit's fallback (one ``fallback_email``, one head)
and mails the coordinator one alert; a second run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from mailservers import MailServers, mail_servers  # noqa: F401  (the fixture)
from support import Project, run_flow, spring_2024_campaign

from congvan.results import DeliveryTruth
from congvan.store import make_engine
from congvan.store.models import Delivery

CAMPAIGN = "par-index-2022"
AUTHORITY = "vanthu.ubnd@daklak.example"
PASSWORD = "imap-secret-7f3a"
GONE = ("vanthu.stp@daklak.example", "vanthu.skhdt@daklak.example")
SKHDT_FALLBACK = "vanphong.skhdt@daklak.example"
STP_HEAD = "tranthiminhthu.stp@daklak.example"
ROSTER = "Mã cán bộ,Họ và tên,Chức vụ,Đơn vị,Email\nB-01,Đặng Văn Phúc,Chủ tịch UBND,BMT,\n"

_CONFIG_ADDRESSES = re.compile(r"[a-z0-9._-]+@daklak\.example")
KNOWN = sorted({a for p in (Path(__file__).parent.parent / "config").rglob("*.yaml")
                for a in _CONFIG_ADDRESSES.findall(p.read_text(encoding="utf-8"))} - set(GONE)
               | {SKHDT_FALLBACK})
IMAP_USERS = {AUTHORITY: PASSWORD}


def _fallback(data: dict[str, Any]) -> None:
    for unit in data["units"]:
        if unit["code"] == "SKHDT":
            unit["fallback_email"] = SKHDT_FALLBACK


@pytest.fixture
def world(tmp_path: Path, prefect_api: str, mail_servers: MailServers,  # noqa: F811
          monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    project = Project(tmp_path)
    (project.config / "rosters" / "test.csv").write_text(ROSTER, encoding="utf-8")
    project.edit("campaigns/par-index-2022.yaml", spring_2024_campaign)
    project.edit("units.yaml", _fallback)
    db_url = f"sqlite:///{tmp_path / 'congvan.db'}"
    env = {"CONGVAN_CONFIG_DIR": str(project.config), "CONGVAN_TEMPLATES_DIR": str(project.root / "templates"),
           "CONGVAN_OUTPUT_DIR": str(project.out), "CONGVAN_DATABASE_URL": db_url,
           "CONGVAN_SMTP_HOST": "127.0.0.1", "CONGVAN_SMTP_PORT": str(mail_servers.smtp_port),
           "CONGVAN_SMTP_SECURITY": "none", "CONGVAN_SMTP_BACKOFF": "0", "CONGVAN_SMTP_ATTEMPTS": "2",
           "CONGVAN_IMAP_HOST": "127.0.0.1", "CONGVAN_IMAP_PORT": str(mail_servers.imap_port),
           "CONGVAN_IMAP_SECURITY": "none", "CONGVAN_IMAP_USER": AUTHORITY, "CONGVAN_IMAP_PASSWORD": PASSWORD}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    project.env.update(env, PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"))
    yield {"project": project, "servers": mail_servers, "db_url": db_url}


def _ledger(db_url: str) -> list[tuple[Any, ...]]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Delivery.document_id, Delivery.address, Delivery.status, Delivery.attempts,
                                      Delivery.report_code, Delivery.alerted_at).order_by(Delivery.id)).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def _wait_for(servers: MailServers, address: str, count: int) -> list[bytes]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = servers.messages(address)
        if len(found) >= count:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{address} has {len(servers.messages(address))} message(s), expected {count}:\n"
                         f"{servers.log()[-3000:]}")


def _attachment(raw: bytes) -> bytes:
    msg = message_from_bytes(raw, policy=policy.default)
    for part in msg.walk():
        if part.get_filename():
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            return data
    raise AssertionError("no attachment")


def test_bounces_over_postfix_and_dovecot_reach_the_fallbacks_once(world: dict[str, Any]) -> None:
    from flows.dispatch import dispatch
    from flows.escalate import escalate

    servers: MailServers = world["servers"]
    project: Project = world["project"]
    result = run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 10))
    # Postfix accepted every address, the two that do not exist included.
    assert {d.status for d in result.deliveries} == {"sent"}
    assert {d.address for d in result.deliveries} >= set(GONE)
    servers.wait_queue_empty()
    returned = _wait_for(servers, AUTHORITY, 2)
    assert all(b"message/delivery-status" in r for r in returned)
    # We asked for reports that can be matched: Postfix offers DSN and gives our envelope id back.
    assert all(b"Original-Envelope-Id: cv." in r for r in returned)
    for address in GONE:
        assert servers.messages(address) == []

    imported = project.run("roster", "import", CAMPAIGN)
    assert imported.returncode == 0, imported.stderr

    day = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 15))
    truth = day.bounces
    assert len(truth.reports) == 2 and all("bounced 5.1.1" in line for line in truth.reports)
    assert sorted((f.unit, f.address, f.status) for f in truth.fallbacks) == [
        ("SKHDT", SKHDT_FALLBACK, "sent"), ("STP", STP_HEAD, "sent")]
    assert truth.alerted == 2
    servers.wait_queue_empty()

    # Each fallback got the same document (the .docx recorded for the dispatch), once.
    original = next(r for r in servers.messages("vanthu.snv@daklak.example"))
    for address in (SKHDT_FALLBACK, STP_HEAD):
        got = _wait_for(servers, address, 1)
        assert len(got) == 1
        assert _attachment(got[0]) == _attachment(original)
    # The coordinator's one alert, naming both bounced addresses; the reports were flagged as read.
    alerts = [r for r in _wait_for(servers, AUTHORITY, 3)
              if str(message_from_bytes(r, policy=policy.default)["Subject"]).startswith("[congvan]")]
    assert len(alerts) == 1
    text = message_from_bytes(alerts[0], policy=policy.default).get_body(("plain",))
    assert text is not None and all(a in text.get_content() for a in GONE)

    rows = _ledger(world["db_url"])
    bounced = [r for r in rows if r[2].value == "bounced"]
    assert sorted(r[1] for r in bounced) == sorted(GONE)
    assert {r[4] for r in bounced} == {"5.1.1"} and all(r[5] is not None for r in bounced)

    status = project.run("status", CAMPAIGN, "--as-of", "2024-04-15", "--json")
    assert status.returncode == 0, status.stderr
    units = {u["code"]: u for u in json.loads(status.stdout)["units"]}
    assert units["STP"]["delivery"]["status"] == "sent"
    assert units["STP"]["delivery"]["address"] == STP_HEAD
    assert "bounced 5.1.1 at vanthu.stp@daklak.example" in units["STP"]["delivery"]["detail"]
    assert units["SKHDT"]["delivery"]["address"] == SKHDT_FALLBACK
    assert units["SNV"]["delivery"] == {"status": "sent", "address": "vanthu.snv@daklak.example", "detail": None}
    assert PASSWORD not in status.stdout + status.stderr

    # The next run reads the mailbox again (only the alert is new: congvan's own, skipped) and changes nothing.
    before = {a: len(servers.messages(a)) for a in (AUTHORITY, SKHDT_FALLBACK, STP_HEAD)}
    again = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 16))
    assert again.bounces == DeliveryTruth()  # no reports, no fallbacks, nobody alerted, nobody held
    servers.wait_queue_empty()
    assert {a: len(servers.messages(a)) for a in before} == before
    assert _ledger(world["db_url"]) == rows
    # A dispatch rerun sends nothing either: the bounced addresses are not used again.
    rerun = run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 10))
    assert _ledger(world["db_url"]) == rows
    assert {d.status for d in rerun.deliveries if d.address in GONE} == {"bounced"}


def test_a_refused_login_is_one_line_without_the_password(world: dict[str, Any]) -> None:
    project: Project = world["project"]
    wrong = "not-the-password-91c"
    result = project.run("bounces", "sync", CAMPAIGN, CONGVAN_IMAP_PASSWORD=wrong)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the mailbox server 127.0.0.1:")
    assert "refused the login of 'vanthu.ubnd@daklak.example'" in lines[0]
    assert wrong not in result.stdout + result.stderr and PASSWORD not in result.stdout + result.stderr


def test_the_mailbox_is_read_once_and_hostile_mail_is_skipped(mail_servers: MailServers,  # noqa: F811
                                                              tmp_path: Path) -> None:
    import imaplib

    from pydantic import SecretStr
    from test_bounces import A_TO, B_TO, _rows, _sent, postfix_dsn

    from congvan import bounces
    from congvan.imap import KEYWORD, ImapConfig
    from congvan.store import init_db

    engine = make_engine(f"sqlite:///{tmp_path / 'congvan.db'}")
    init_db(engine)
    ids = _sent(engine)
    huge = b"From: MAILER-DAEMON@daklak.example\r\nSubject: x\r\n\r\n" + b"A" * (11 * 1024 * 1024) + b"\r\n"
    html_only = b"From: MAILER-DAEMON@daklak.example\r\nContent-Type: text/html\r\n\r\n<p>550 5.1.1</p>\r\n"
    reply = f"From: {B_TO}\r\nSubject: Re: V/v\r\nIn-Reply-To: {ids[B_TO]}\r\n\r\nDa nhan.\r\n".encode()
    imap = imaplib.IMAP4("127.0.0.1", mail_servers.imap_port)
    imap.login(AUTHORITY, PASSWORD)
    for raw in (huge, html_only, reply, postfix_dsn(ids[A_TO], A_TO)):
        assert imap.append("INBOX", "", None, raw)[0] == "OK"
    config = ImapConfig("127.0.0.1", mail_servers.imap_port, AUTHORITY, SecretStr(PASSWORD), security="none")

    applied = bounces.sync_mailbox(engine, load_lc(), config, own_domain="daklak.example")
    assert applied.changed == [f'STP {A_TO}: bounced 5.1.1 (X-Postfix; unknown user: "{A_TO}")']
    assert [s.split(": ", 1)[1] for s in applied.skipped] == [
        "11 MB is larger than any delivery report (10 MB at most): not read",
        "HTML only, no delivery-status part and no plain text: not read as a report",
        "not a delivery report or read receipt"]
    assert _rows(engine)[B_TO][0] == "sent"
    # Every message is flagged read by congvan; only the report is marked \Seen (the reply stays unread).
    imap.select("INBOX")
    flags = [imap.fetch(str(n).encode(), "(FLAGS)")[1][0] for n in range(1, 5)]
    assert all(KEYWORD.encode() in f for f in flags)
    assert [b"\\Seen" in f for f in flags] == [False, False, False, True]
    imap.logout()
    again = bounces.sync_mailbox(engine, load_lc(), config, own_domain="daklak.example")
    assert (again.changed, again.skipped) == ([], [])
    engine.dispose()


def load_lc() -> Any:
    from congvan.config import load_campaign

    return load_campaign(Path(__file__).parent.parent / "config", CAMPAIGN)
