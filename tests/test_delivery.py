"""The ledger and the sending loop, on SQLite and PostgreSQL, against a real SMTP server on loopback.

Exactly once per (document, address): rows before the SMTP transaction, ``sent`` after the 250,
temporary failures retried and left retryable, permanent ones recorded and final.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from congvan import ledger
from congvan.delivery import RetryPolicy, send_batch
from congvan.errors import MailServerError
from congvan.ledger import LedgerMessage
from congvan.mail_compose import Mailbox, Outgoing, compose
from congvan.mail_transport import SmtpConfig
from congvan.mailcatcher import CatcherOptions, MailCatcher
from congvan.recipients import PlannedMessage, Recipient
from congvan.register import allocate
from congvan.store.models import DeliveryStatus

SENDER = "vanthu.ubnd@daklak.example"
UNITS = [("STNMT", "Sở Tài nguyên & Môi trường"), ("EAHLEO", "UBND huyện Ea H'leo"),
         ("KPAC", "UBND huyện Krông Pắc"), ("SNV", "Sở Nội vụ"), ("BMT", "UBND thành phố Buôn Ma Thuột")]
NO_WAIT = RetryPolicy(attempts=3, backoff=0.0)


def _address(code: str) -> str:
    return f"vanthu.{code.lower()}@daklak.example"


def _messages() -> list[PlannedMessage]:
    return [PlannedMessage(to=(Recipient(name, _address(code), "to", code),)) for code, name in UNITS]


def _document(engine: Engine, key: str = "test/dispatch") -> int:
    return allocate(engine, key=key, register="ubnd-daklak", symbol="UBND-KSTTHC", issued_on=dt.date(2023, 2, 10),
                    campaign="test", kind="dispatch").document_id


def _compose(message: LedgerMessage) -> bytes:
    to = message.planned.to[0]
    return compose(Outgoing(sender=Mailbox("UBND tỉnh Đắk Lắk", SENDER), to=(Mailbox(to.name, to.address),),
                            subject="V/v tham gia điều tra xã hội học", text=f"Kính gửi: {to.name}",
                            html=f"<p>Kính gửi: {to.name}</p>", message_id=message.message_id))


def _send(engine: Engine, port: int, document_id: int, **kwargs: object) -> list[ledger.DeliveryRow]:
    planned = ledger.plan(engine, document_id, _messages(), message_id_domain="daklak.example")
    send_batch(engine, SmtpConfig("127.0.0.1", port, timeout=5), SENDER, planned, _compose,
               **kwargs)  # type: ignore[arg-type]
    return ledger.deliveries(engine, document_id)


def _received(catcher: MailCatcher) -> Counter[tuple[str, str]]:
    """(address, Message-ID) of every copy the server accepted."""
    return Counter((rcpt, str(m.message()["Message-ID"])) for m in catcher.stored() for rcpt in m.rcpt_tos)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_plan_is_idempotent_and_keeps_message_ids(engine: Engine) -> None:
    document_id = _document(engine)
    first = ledger.plan(engine, document_id, _messages(), message_id_domain="daklak.example")
    again = ledger.plan(engine, document_id, _messages(), message_id_domain="daklak.example")
    assert [m.message_id for m in first] == [m.message_id for m in again]
    assert len({m.message_id for m in first}) == len(UNITS)
    assert all(m.message_id.endswith("@daklak.example>") for m in first)
    assert len(ledger.deliveries(engine, document_id)) == len(UNITS)


def test_one_delivery_per_address_whatever_its_case(engine: Engine) -> None:
    document_id = _document(engine)
    twice = [PlannedMessage(to=(Recipient("Sở Nội vụ", "VanThu.SNV@daklak.example", "to", "SNV"),)),
             PlannedMessage(to=(Recipient("Sở Nội vụ (bản sao)", "vanthu.snv@daklak.example", "cc"),))]
    planned = ledger.plan(engine, document_id, twice, message_id_domain="daklak.example")
    assert len(planned) == 1
    assert [(r.address, r.role) for r in ledger.deliveries(engine, document_id)] == [
        ("vanthu.snv@daklak.example", "to")]


def test_every_unit_gets_it_once_and_a_rerun_sends_nothing(engine: Engine, tmp_path: Path) -> None:
    document_id = _document(engine)
    with MailCatcher(tmp_path / "mailbox") as catcher:
        rows = _send(engine, catcher.port, document_id)
        assert {r.status for r in rows} == {DeliveryStatus.SENT}
        assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
        received = _received(catcher)
        assert received == Counter({(r.address, r.message_id): 1 for r in rows})
        _send(engine, catcher.port, document_id)
        assert _received(catcher) == received


def test_temporary_refusal_is_retried_then_left_retryable_and_a_rerun_delivers(engine: Engine,
                                                                               tmp_path: Path) -> None:
    document_id = _document(engine)
    waits: list[float] = []
    busy = CatcherOptions(temp_fail_rcpts=frozenset({_address("KPAC")}))
    with MailCatcher(tmp_path / "mailbox", options=busy) as catcher:
        port = catcher.port
        rows = {r.unit: r for r in _send(engine, port, document_id, retry=RetryPolicy(attempts=3, backoff=0.5),
                                         sleep=waits.append)}
    assert waits == [0.5, 1.0]  # backoff doubles between tries
    assert rows["KPAC"].status is DeliveryStatus.FAILED_TEMPORARY
    assert rows["KPAC"].attempts == 3 and rows["KPAC"].last_error is not None
    assert rows["KPAC"].last_error.startswith("451")
    assert {r.status for u, r in rows.items() if u != "KPAC"} == {DeliveryStatus.SENT}
    with MailCatcher(tmp_path / "mailbox2", port=port) as catcher:
        after = {r.unit: r for r in _send(engine, port, document_id, retry=NO_WAIT)}
        assert _received(catcher) == Counter({(_address("KPAC"), rows["KPAC"].message_id): 1})
    assert after["KPAC"].status is DeliveryStatus.SENT
    assert after["KPAC"].message_id == rows["KPAC"].message_id


def test_permanent_refusal_is_recorded_with_the_reply_and_not_retried(engine: Engine, tmp_path: Path) -> None:
    document_id = _document(engine)
    gone = CatcherOptions(perm_fail_rcpts=frozenset({_address("EAHLEO")}))
    with MailCatcher(tmp_path / "mailbox", options=gone) as catcher:
        rows = {r.unit: r for r in _send(engine, catcher.port, document_id, retry=NO_WAIT)}
        assert rows["EAHLEO"].status is DeliveryStatus.FAILED_PERMANENT
        assert rows["EAHLEO"].attempts == 1
        assert rows["EAHLEO"].last_error is not None and rows["EAHLEO"].last_error.startswith("550")
        assert sum(r.status is DeliveryStatus.SENT for r in rows.values()) == len(UNITS) - 1
        before = _received(catcher)
        _send(engine, catcher.port, document_id, retry=NO_WAIT)
        assert _received(catcher) == before


def test_a_dropped_connection_reconnects_and_nobody_gets_two(engine: Engine, tmp_path: Path) -> None:
    document_id = _document(engine)
    with MailCatcher(tmp_path / "mailbox", options=CatcherOptions(drop_after=2)) as catcher:
        rows = _send(engine, catcher.port, document_id, retry=NO_WAIT)
        assert {r.status for r in rows} == {DeliveryStatus.SENT}
        received = _received(catcher)
    assert sorted(a for a, _ in received) == sorted(_address(c) for c, _ in UNITS)
    assert set(received.values()) == {1}


def test_server_down_leaves_everything_pending_then_a_rerun_sends_all(engine: Engine, tmp_path: Path) -> None:
    document_id = _document(engine)
    port = _free_port()
    waits: list[float] = []
    rows = _send(engine, port, document_id, retry=RetryPolicy(attempts=2, backoff=1.0), sleep=waits.append)
    assert {r.status for r in rows} == {DeliveryStatus.FAILED_TEMPORARY}
    assert waits == [1.0]
    assert all("cannot reach the mail server" in (r.last_error or "") for r in rows)
    with MailCatcher(tmp_path / "mailbox", port=port) as catcher:
        rows = _send(engine, port, document_id, retry=NO_WAIT)
        assert {r.status for r in rows} == {DeliveryStatus.SENT}
        assert len(_received(catcher)) == len(UNITS)


def test_a_refused_login_stops_the_batch_with_nothing_marked(engine: Engine, tmp_path: Path) -> None:
    from pydantic import SecretStr
    from support import self_signed_tls

    context, ca_file = self_signed_tls(tmp_path)
    options = CatcherOptions(starttls_context=context, auth_user="vanthu", auth_password="right")
    document_id = _document(engine)
    planned = ledger.plan(engine, document_id, _messages(), message_id_domain="daklak.example")
    with MailCatcher(tmp_path / "mailbox", options=options) as catcher:
        config = SmtpConfig("127.0.0.1", catcher.port, "starttls", user="vanthu", password=SecretStr("wrong"),
                            ca_file=ca_file)
        with pytest.raises(MailServerError):
            send_batch(engine, config, SENDER, planned, _compose, retry=NO_WAIT)
        assert catcher.stored() == []
    assert {r.status for r in ledger.deliveries(engine, document_id)} == {DeliveryStatus.PENDING}


def test_concurrent_planners_agree_on_rows_and_message_ids(db_url: str) -> None:
    """Two runs planning the same document at once (a manual and a scheduled one) share the rows."""
    from concurrent.futures import ThreadPoolExecutor

    from congvan.store import init_db, make_engine

    engine = make_engine(db_url)
    init_db(engine)
    document_id = _document(engine)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ledger.plan(engine, document_id, _messages(),
                                                      message_id_domain="daklak.example"), range(4)))
    ids = {tuple(m.message_id for m in r) for r in results}
    assert len(ids) == 1
    assert len(ledger.deliveries(engine, document_id)) == len(UNITS)
    engine.dispose()
