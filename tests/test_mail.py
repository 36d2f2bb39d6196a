"""Mail on the wire: headers, encodings and attachments as received by a real SMTP server, and the
transport's TLS, AUTH and failure handling (aiosmtpd on loopback, no mocks)."""

from __future__ import annotations

import datetime as dt
import re
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from pydantic import SecretStr
from support import self_signed_tls

from congvan.errors import MailServerError
from congvan.mail_compose import Attachment, Mailbox, Outgoing, compose, encode_words, new_message_id
from congvan.mail_transport import SmtpConfig, SmtpFailure, SmtpSession
from congvan.mailcatcher import CatcherOptions, MailCatcher

SENDER = Mailbox("Ủy ban nhân dân tỉnh Đắk Lắk", "vanthu.ubnd@daklak.example")
STNMT = Mailbox("Sở Tài nguyên & Môi trường", "vanthu.stnmt@daklak.example")
EAHLEO = Mailbox("UBND huyện Ea H'leo", "vanthu.eahleo@daklak.example")
KPAC = Mailbox("Chủ tịch UBND huyện Krông Pắc", "chutich.kpac@daklak.example")
LONG_NAME = Mailbox("Sở Nông nghiệp và Phát triển nông thôn tỉnh Đắk Lắk", "vanthu.snnptnt@daklak.example")
SUBJECT = ("V/v tham gia điều tra xã hội học – Sở Tài nguyên & Môi trường phục vụ xác định "
           "Chỉ số cải cách hành chính năm 2022")
PDF_NAME = "Công văn số 05-UBND-KSTTHC ngày 10.02.2023.pdf"
DOCX_NAME = "Công văn số 05-UBND-KSTTHC ngày 10.02.2023.docx"


def _mail(**changes: object) -> Outgoing:
    fields: dict[str, object] = dict(
        sender=SENDER, to=(STNMT,), cc=(EAHLEO, KPAC), subject=SUBJECT,
        text="Kính gửi: Sở Tài nguyên & Môi trường\n\nNội dung <không phải thẻ HTML>.",
        html="<p>Kính gửi: Sở Tài nguyên &amp; Môi trường</p>",
        message_id=new_message_id("daklak.example"),
        attachments=(Attachment(PDF_NAME, b"%PDF-1.4 test", "application/pdf"),
                     Attachment(DOCX_NAME, b"PK\x03\x04 docx",
                                "application/vnd.openxmlformats-officedocument.wordprocessingml.document")),
        in_reply_to="<cv.original@daklak.example>",
        references=("<cv.original@daklak.example>",),
        date=dt.datetime(2023, 2, 10, 8, 0, tzinfo=dt.UTC),
    )
    fields.update(changes)
    return Outgoing(**fields)  # type: ignore[arg-type]


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _raw_header(raw: bytes, name: str) -> str:
    """The header as it is on the wire, unfolded but not decoded."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    found = re.search(rf"^{name}: (.*?)(?=\r\n\S|\Z)", head, re.M | re.S)
    assert found, name
    return re.sub(r"\r\n[ \t]", " ", found.group(1))


def _rfc2047(value: str) -> str:
    """Decoded as RFC 2047 §6.2 says (whitespace between encoded words is dropped)."""
    return str(make_header(decode_header(value)))


def _send(catcher: MailCatcher, mail: Outgoing) -> bytes:
    raw = compose(mail)
    with SmtpSession(SmtpConfig("127.0.0.1", catcher.port), SENDER.address) as session:
        assert session.send(mail.recipients, raw) == {}
    return raw


def test_received_message_keeps_names_addresses_subject_and_attachment_names(tmp_path: Path) -> None:
    mail = _mail()
    with MailCatcher(tmp_path / "mailbox") as catcher:
        raw = _send(catcher, mail)
        stored = catcher.stored()
    assert len(stored) == 1
    received = stored[0].raw
    assert received == raw  # byte for byte: nothing re-encoded on the way
    assert sorted(stored[0].rcpt_tos) == sorted(mail.recipients)
    msg = _parse(received)
    assert str(msg["Subject"]) == SUBJECT
    assert msg["Message-ID"] == mail.message_id
    assert msg["In-Reply-To"] == "<cv.original@daklak.example>"
    assert msg["References"] == "<cv.original@daklak.example>"
    # To/Cc carry the display name AND the address in the raw header (yagmail's dict form loses it).
    assert [a.addr_spec for a in msg["To"].addresses] == [STNMT.address]
    assert [a.addr_spec for a in msg["Cc"].addresses] == [EAHLEO.address, KPAC.address]
    assert _rfc2047(_raw_header(received, "To")) == f"{STNMT.name} <{STNMT.address}>"
    assert _rfc2047(_raw_header(received, "From")) == f"{SENDER.name} <{SENDER.address}>"
    cc = _rfc2047(_raw_header(received, "Cc"))
    assert EAHLEO.name in cc and KPAC.name in cc and EAHLEO.address in cc and KPAC.address in cc
    assert [a.display_name for a in msg["To"].addresses] == [STNMT.name]
    names = [part.get_filename() for part in msg.iter_attachments()]
    assert names == [PDF_NAME, DOCX_NAME]
    assert "filename*" in received.decode("ascii")  # RFC 2231, not an RFC 2047 word in a parameter
    assert [part.get_content() for part in msg.iter_attachments()] == [b"%PDF-1.4 test", b"PK\x03\x04 docx"]


def test_text_and_html_bodies_are_distinct_alternatives(tmp_path: Path) -> None:
    raw = compose(_mail())
    msg = _parse(raw)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().startswith("Kính gửi: Sở Tài nguyên & Môi trường")
    assert "<p>" not in text.get_content() and "<không phải thẻ HTML>" in text.get_content()
    assert "<p>Kính gửi: Sở Tài nguyên &amp; Môi trường</p>" in html.get_content()


def test_every_line_is_within_the_rfc_limits() -> None:
    raw = compose(_mail(to=(LONG_NAME,), text="Nội dung rất dài " * 80))
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    head, _, body = raw.partition(b"\r\n\r\n")
    ours = re.findall(rb"^(?:From|To|Cc|Subject): .*?(?=\r\n\S|\Z)", head, re.M | re.S)
    assert len(ours) == 4
    assert max(len(line) for header in ours for line in header.split(b"\r\n")) <= 78
    assert all(len(w) <= 75 for w in re.findall(rb"=\?[^?]+\?[bBqQ]\?[^?]*\?=", raw))
    assert all(len(line) <= 76 for line in body.split(b"\r\n") if not line.startswith(b"Content-"))
    assert _rfc2047(_raw_header(raw, "To")) == f"{LONG_NAME.name} <{LONG_NAME.address}>"


@pytest.mark.parametrize("text", ["Krông Pắc", "Ea H'leo", "học – Sở", "a" * 200, "tiếng Việt " * 30, "=?x?="])
def test_encoded_words_decode_to_the_same_text(text: str) -> None:
    encoded = encode_words(text)
    assert all(len(w) <= 75 for w in re.findall(r"=\?[^?]+\?b\?[^?]*\?=", encoded))
    assert _rfc2047(encoded) == text


def test_a_body_that_names_an_existing_file_stays_text(tmp_path: Path) -> None:
    # yagmail would attach the file; the coordinator would have mailed something else.
    secret = tmp_path / "secret.txt"
    secret.write_text("do not send", encoding="utf-8")
    msg = _parse(compose(_mail(text=str(secret), attachments=())))
    assert list(msg.iter_attachments()) == []
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().strip() == str(secret)


@pytest.mark.parametrize("field", ["subject", "to", "message_id", "attachment"])
def test_line_breaks_in_any_header_value_are_refused(field: str) -> None:
    forged = "Sở Nội vụ\r\nBcc: victim@example.org"
    changes: dict[str, object] = {
        "subject": {"subject": forged},
        "to": {"to": (Mailbox(forged, "a@daklak.example"),)},
        "message_id": {"message_id": "<x@y>\nBcc: victim@example.org"},
        "attachment": {"attachments": (Attachment(forged + ".pdf", b"x"),)},
    }[field]
    with pytest.raises(ValueError, match="line break"):
        compose(_mail(**changes))


@pytest.mark.parametrize("address",
                         ["no-domain", "two words@daklak.example", "<x>@daklak.example", "sở@daklak.example"])
def test_malformed_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        compose(_mail(to=(Mailbox("Sở Nội vụ", address),)))


# --- transport ------------------------------------------------------------------------------------


def test_one_connection_carries_a_whole_batch(tmp_path: Path) -> None:
    with MailCatcher(tmp_path / "mailbox") as catcher, \
            SmtpSession(SmtpConfig("127.0.0.1", catcher.port), SENDER.address) as session:
        for i in range(5):
            session.send([STNMT.address], compose(_mail(cc=(), message_id=new_message_id(f"n{i}.example"))))
        assert session.connections == 1
        assert len(catcher.messages()) == 5


def test_starttls_with_a_trusted_ca_and_auth(tmp_path: Path) -> None:
    context, ca_file = self_signed_tls(tmp_path)
    options = CatcherOptions(starttls_context=context, require_starttls=True,
                             auth_user="vanthu", auth_password="bi-mat-2023")
    with MailCatcher(tmp_path / "mailbox", options=options) as catcher:
        config = SmtpConfig("127.0.0.1", catcher.port, "starttls", user="vanthu",
                            password=SecretStr("bi-mat-2023"), ca_file=ca_file)
        with SmtpSession(config, SENDER.address) as session:
            assert session.send([STNMT.address], compose(_mail(cc=()))) == {}
        assert len(catcher.messages()) == 1


def test_implicit_tls(tmp_path: Path) -> None:
    context, ca_file = self_signed_tls(tmp_path)
    with MailCatcher(tmp_path / "mailbox", options=CatcherOptions(implicit_tls_context=context)) as catcher:
        config = SmtpConfig("127.0.0.1", catcher.port, "ssl", ca_file=ca_file)
        with SmtpSession(config, SENDER.address) as session:
            session.send([STNMT.address], compose(_mail(cc=())))
        assert [str(m["Subject"]) for m in catcher.messages()] == [SUBJECT]


def test_an_untrusted_certificate_is_a_clear_error_and_nothing_is_sent(tmp_path: Path) -> None:
    context, _ = self_signed_tls(tmp_path)
    with MailCatcher(tmp_path / "mailbox", options=CatcherOptions(starttls_context=context)) as catcher:
        config = SmtpConfig("127.0.0.1", catcher.port, "starttls")
        with pytest.raises(MailServerError, match=r"certificate we do not trust.*CONGVAN_SMTP_CA_FILE"), \
                SmtpSession(config, SENDER.address) as session:
            session.send([STNMT.address], compose(_mail(cc=())))
        assert catcher.messages() == []


def test_a_refused_login_is_a_clear_error_and_nothing_is_sent(tmp_path: Path) -> None:
    context, ca_file = self_signed_tls(tmp_path)
    options = CatcherOptions(starttls_context=context, auth_user="vanthu", auth_password="right")
    with MailCatcher(tmp_path / "mailbox", options=options) as catcher:
        config = SmtpConfig("127.0.0.1", catcher.port, "starttls", user="vanthu", password=SecretStr("wrong"),
                            ca_file=ca_file)
        with pytest.raises(MailServerError, match="refused the login of 'vanthu': 535") as info, \
                SmtpSession(config, SENDER.address) as session:
            session.connect()
        assert "wrong" not in str(info.value)
        assert catcher.messages() == []


def test_no_password_over_an_unencrypted_link() -> None:
    config = SmtpConfig("127.0.0.1", 1025, "none", user="vanthu", password=SecretStr("bi-mat"))
    with pytest.raises(MailServerError, match="unencrypted link") as info:
        SmtpSession(config, SENDER.address)
    assert "bi-mat" not in str(info.value)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_plain_auth_only_when_explicitly_allowed(tmp_path: Path) -> None:
    options = CatcherOptions(auth_user="vanthu", auth_password="bi-mat", auth_require_tls=False)
    with MailCatcher(tmp_path / "mailbox", options=options) as catcher:
        config = SmtpConfig("127.0.0.1", catcher.port, "none", user="vanthu", password=SecretStr("bi-mat"),
                            allow_plain_auth=True)
        with SmtpSession(config, SENDER.address) as session:
            session.send([STNMT.address], compose(_mail(cc=())))
        assert len(catcher.messages()) == 1


@pytest.mark.parametrize(("config", "message"), [
    (SmtpConfig("smtp.daklak.gov.vn", 25, "none"), "for a server on this machine"),
    (SmtpConfig("127.0.0.1", 1025, "none", user="vanthu"), "set both"),
    (SmtpConfig("127.0.0.1", 587, "starttls", user="văn-thư", password=SecretStr("x")), "must be ASCII"),
    (SmtpConfig("127.0.0.1", 587, "starttls", ca_file=Path("/nonexistent/ca.pem")), "no such file"),
])
def test_unsafe_or_impossible_settings_are_refused_before_connecting(config: SmtpConfig, message: str) -> None:
    with pytest.raises(MailServerError, match=message):
        SmtpSession(config, SENDER.address)


def test_per_recipient_refusals_come_back_with_their_codes(tmp_path: Path) -> None:
    options = CatcherOptions(temp_fail_rcpts=frozenset({EAHLEO.address}), perm_fail_rcpts=frozenset({KPAC.address}))
    with MailCatcher(tmp_path / "mailbox", options=options) as catcher, \
            SmtpSession(SmtpConfig("127.0.0.1", catcher.port), SENDER.address) as session:
        refused = session.send([STNMT.address, EAHLEO.address, KPAC.address], compose(_mail()))
        assert {a: code for a, (code, _) in refused.items()} == {EAHLEO.address: 451, KPAC.address: 550}
        assert [m.rcpt_tos for m in catcher.stored()] == [(STNMT.address,)]
        # All refused: the message as a whole did not go, and the session is still usable.
        refused = session.send([KPAC.address], compose(_mail(cc=())))
        assert list(refused) == [KPAC.address]
        assert session.send([STNMT.address], compose(_mail(cc=()))) == {}


def test_a_dropped_connection_is_a_temporary_failure_and_the_next_send_reconnects(tmp_path: Path) -> None:
    with MailCatcher(tmp_path / "mailbox", options=CatcherOptions(drop_after=2)) as catcher, \
            SmtpSession(SmtpConfig("127.0.0.1", catcher.port), SENDER.address) as session:
        session.send([STNMT.address], compose(_mail(cc=())))
        session.send([STNMT.address], compose(_mail(cc=())))
        with pytest.raises(SmtpFailure) as info:
            session.send([STNMT.address], compose(_mail(cc=())))
        assert info.value.temporary and info.value.connection_lost
        session.send([STNMT.address], compose(_mail(cc=())))
        assert session.connections == 2
        assert len(catcher.messages()) == 3


def test_a_server_that_is_down_is_a_temporary_failure(tmp_path: Path) -> None:
    with MailCatcher(tmp_path / "mailbox") as catcher:
        port = catcher.port
    with SmtpSession(SmtpConfig("127.0.0.1", port, timeout=5), SENDER.address) as session, \
            pytest.raises(SmtpFailure) as info:
        session.connect()
    assert info.value.temporary
    assert "cannot reach the mail server 127.0.0.1" in info.value.reason


def test_the_rate_limit_paces_messages(tmp_path: Path) -> None:
    # Behaviour, not speed: at 20 messages/s, 5 messages cannot leave in less than 4 intervals.
    import time

    with MailCatcher(tmp_path / "mailbox") as catcher, \
            SmtpSession(SmtpConfig("127.0.0.1", catcher.port, rate=20), SENDER.address) as session:
        raw = compose(_mail(cc=()))
        session.connect()
        started = time.monotonic()
        for _ in range(5):
            session.send([STNMT.address], raw)
        assert time.monotonic() - started >= 4 / 20


def test_the_private_yagmail_login_we_override_is_still_there() -> None:
    """congvan.mail_transport._Client overrides yagmail's private ``_login(password)`` and relies on it connecting (and
    doing STARTTLS) but skipping the login when ``smtp_skip_login``: if a yagmail release changes that, this
    fails before a mail does. The login itself is tested against a real server (AUTH over STARTTLS/SSL)."""
    import inspect

    import yagmail

    from congvan.mail_transport import _Client

    login = yagmail.Client._login
    assert list(inspect.signature(login).parameters) == ["self", "password"]
    source = inspect.getsource(login)
    assert "self.connection(" in source and "starttls" in source and "if not self.smtp_skip_login" in source
    assert _Client._login is not login and issubclass(_Client, yagmail.Client)
