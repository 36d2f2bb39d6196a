"""The mail catcher: real SMTP over TCP on loopback (smtplib and congvan's own SmtpSession), no mocks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import signal
import smtplib
import ssl
import subprocess
import sys
import threading
import time
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path

import pytest
from support import self_signed_tls

from congvan.errors import MailCatcherError
from congvan.mail_compose import Attachment, Mailbox, Outgoing, compose, new_message_id
from congvan.mail_labels import DISPATCH_KIND, MailLabels, slug
from congvan.mail_transport import SmtpConfig, SmtpSession
from congvan.mailcatcher import RETURNED_DIR, CatcherOptions, MailCatcher, default_mailbox, serve_forever, store_message
from congvan.settings import Settings

SUBJECT = "V/v tham gia điều tra xã hội học – Sở Tài nguyên & Môi trường"
ATTACHMENT = "Công văn 05-UBND-KSTTHC.pdf"
SENDER = "vanthu@daklak.example"
UNIT = "ubnd.buondon@daklak.example"
PDF = b"%PDF-1.4\n% fake but binary: \xe2\xe3\xcf\xd3\n%%EOF\n"
# CPython 3.11's folding of a long RFC 2047 subject drops the space at a fold between encoded words
# ("học – Sở" comes back as "học –Sở"): a sender-side bug that congvan's own composer avoids (see
# test_a_congvan_letter_folded_over_many_encoded_words_reads_back_whole). The smtplib letters here
# are generated unfolded (lines up to 998 octets are legal) so the catcher's own behaviour is what is tested.
LETTER_POLICY = policy.SMTP.clone(max_line_length=998)
SAFE_NAME = re.compile(r"[0-9]{8}T[0-9]{12}Z-[0-9]{6}-[0-9a-f]{8}(-[A-Za-z0-9][A-Za-z0-9._-]*)?\.eml")


def _letter(*, to: str = UNIT, subject: str = SUBJECT, message_id: str | None = None) -> EmailMessage:
    msg = EmailMessage(policy=LETTER_POLICY)
    msg["From"] = f"UBND tỉnh Đắk Lắk <{SENDER}>"
    msg["To"] = f"Chủ tịch UBND huyện Buôn Đôn <{to}>"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or "<cv-05-ubnd-ksttthc.buondon@daklak.example>"
    msg.set_content("Kính gửi: Chủ tịch UBND huyện Buôn Đôn.\n\nỦy ban nhân dân tỉnh đề nghị…\n"
                    ".dòng bắt đầu bằng dấu chấm\n")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename=ATTACHMENT)
    return msg


def _only_file(catcher: MailCatcher) -> Path:
    paths = catcher.paths()
    assert len(paths) == 1, paths
    return paths[0]


def test_vietnamese_letter_is_stored_byte_exact_with_its_envelope(tmp_path: Path) -> None:
    sent = _letter().as_bytes()  # CRLF, RFC 2047 subject, RFC 2231 file name
    assert b"=?utf-8?" in sent and b"filename*=utf-8''" in sent
    with MailCatcher(tmp_path / "mailbox") as catcher, smtplib.SMTP("127.0.0.1", catcher.port) as client:
        assert client.sendmail(SENDER, [UNIT, "bcc.sonoivu@daklak.example"], sent) == {}
        path = _only_file(catcher)
        assert path.read_bytes() == sent
        envelope = json.loads(path.with_name(path.name.removesuffix(".eml") + ".envelope.json").read_text("utf-8"))
        assert envelope["mail_from"] == SENDER
        assert envelope["rcpt_tos"] == [UNIT, "bcc.sonoivu@daklak.example"]
        assert envelope["sha256"] == hashlib.sha256(sent).hexdigest()
        [stored] = catcher.stored()
        assert stored.rcpt_tos == (UNIT, "bcc.sonoivu@daklak.example")
        [msg] = catcher.messages()
    assert msg["Subject"] == SUBJECT
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == ATTACHMENT
    assert attachment.get_content() == PDF
    assert msg.get_body(("plain",)) is not None
    assert "\n.dòng bắt đầu" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_congvan_letter_folded_over_many_encoded_words_reads_back_whole(tmp_path: Path) -> None:
    """congvan's own composer and transport (compose, SmtpSession over yagmail) into the catcher, and the
    catcher's own parse back: a subject and display name long enough to fold over several encoded words,
    where the stdlib's folding has lost a space ("học – Sở"), come back exactly, as does the attachment."""
    subject = SUBJECT + " phục vụ xác định Chỉ số cải cách hành chính năm 2022 của tỉnh Đắk Lắk"
    head = Mailbox("Chủ tịch Ủy ban nhân dân huyện Buôn Đôn, tỉnh Đắk Lắk", UNIT)
    mail = Outgoing(sender=Mailbox("UBND tỉnh Đắk Lắk", SENDER), to=(head,), subject=subject,
                    text="Kính gửi: UBND huyện Buôn Đôn.\n.dòng bắt đầu bằng dấu chấm\n",
                    html="<p>Kính gửi: UBND huyện Buôn Đôn.</p>", message_id=new_message_id("daklak.example"),
                    attachments=(Attachment(ATTACHMENT, PDF, "application/pdf"),))
    sent = compose(mail)
    assert sent.count(b"=?utf-8?b?") > 2  # the subject really is folded over several encoded words
    with MailCatcher(tmp_path / "mailbox") as catcher, \
            SmtpSession(SmtpConfig("127.0.0.1", catcher.port), SENDER) as session:
        assert session.send(mail.recipients, sent) == {}
        raw = _only_file(catcher).read_bytes()
        [stored] = catcher.stored()
        [msg] = catcher.messages()
    assert raw == sent
    assert raw.isascii()  # congvan encodes the Vietnamese subject, names and file name; nothing is lost
    assert stored.rcpt_tos == (UNIT,)
    assert stored.mail_from == SENDER
    assert msg["Subject"] == subject
    assert [a.addr_spec for a in msg["To"].addresses] == [UNIT]
    # The name as RFC 2047 §6.2 decodes it (CPython's address parser keeps the space between two
    # encoded words of a display name, "Buô n", which RFC 2047 says to drop).
    to = re.search(r"^To: (.*?)\r\n(?!\s)", raw.decode("ascii"), re.M | re.S)
    assert to is not None
    assert str(make_header(decode_header(re.sub(r"\r\n[ \t]", " ", to.group(1))))) == f"{head.name} <{UNIT}>"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == ATTACHMENT
    assert attachment.get_content() == PDF
    assert "\n.dòng bắt đầu" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_smtputf8_message_with_raw_utf8_headers_is_stored_byte_exact(tmp_path: Path) -> None:
    sent = _letter().as_bytes(policy=policy.SMTPUTF8)
    assert SUBJECT.encode("utf-8") in sent  # raw UTF-8, no encoded words
    with MailCatcher(tmp_path) as catcher, smtplib.SMTP("127.0.0.1", catcher.port) as client:
        client.ehlo()
        assert client.has_extn("smtputf8")
        client.sendmail(SENDER, ["vănthư@daklak.example"], sent, mail_options=["SMTPUTF8"])
        [stored] = catcher.stored()
    assert stored.raw == sent
    assert stored.rcpt_tos == ("vănthư@daklak.example",)
    assert stored.message()["Subject"] == SUBJECT
    [attachment] = list(stored.message().iter_attachments())
    assert attachment.get_filename() == ATTACHMENT


def test_ten_messages_make_ten_files_with_distinct_sortable_names(tmp_path: Path) -> None:
    with MailCatcher(tmp_path) as catcher, smtplib.SMTP("127.0.0.1", catcher.port) as client:
        for i in range(10):
            client.send_message(_letter(subject=f"{SUBJECT} ({i})", message_id="<same@daklak.example>"))
        paths = catcher.paths()
        subjects = [m["Subject"] for m in catcher.messages()]
    assert len(paths) == 10
    assert len({p.name for p in paths}) == 10
    assert all(SAFE_NAME.fullmatch(p.name) for p in paths), [p.name for p in paths]
    assert subjects == [f"{SUBJECT} ({i})" for i in range(10)]  # name order is arrival order
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


# A dispatch to Krông Pắc as congvan labels it (congvan.dispatch.outgoing).
KPAC_LABELS = MailLabels(DISPATCH_KIND, unit="KPAC", number="01/SNV-CCHC", day=dt.date(2023, 2, 10))
KPAC_NAME = "2023-02-10_KPAC_cong-van_01-SNV-CCHC.eml"


def _labelled(labels: MailLabels | None, *, to: str = UNIT) -> Outgoing:
    return Outgoing(sender=Mailbox("UBND tỉnh Đắk Lắk", SENDER), to=(Mailbox("UBND huyện Krông Pắc", to),),
                    subject=SUBJECT, text="Kính gửi: UBND huyện Krông Pắc.", html="<p>Kính gửi</p>",
                    message_id=new_message_id("daklak.example"), labels=labels,
                    attachments=(Attachment(ATTACHMENT, PDF, "application/pdf"),))


def test_a_congvan_letter_is_stored_under_its_date_unit_kind_and_number(tmp_path: Path) -> None:
    """compose → SmtpSession (yagmail) → the catcher: the file says which unit, which letter, which day;
    the same letter again gets its own file, after the first."""
    first, again = _labelled(KPAC_LABELS), _labelled(KPAC_LABELS)
    with MailCatcher(tmp_path / "mailbox") as catcher, \
            SmtpSession(SmtpConfig("127.0.0.1", catcher.port), SENDER) as session:
        assert session.send(first.recipients, compose(first)) == {}
        assert session.send(again.recipients, compose(again)) == {}
        stored = catcher.stored()
    assert [m.path.name for m in stored] == [KPAC_NAME, "2023-02-10_KPAC_cong-van_01-SNV-CCHC_2.eml"]
    assert [str(m.message()["Message-ID"]) for m in stored] == [first.message_id, again.message_id]
    assert stored[0].message()["X-Congvan-Unit"] == "KPAC" and stored[0].message()["X-Congvan-Kind"] == "cong-van"
    assert stored[0].labels == KPAC_LABELS
    for m in stored:  # each with its own envelope
        assert m.path.with_name(m.path.name.removesuffix(".eml") + ".envelope.json").is_file()
    assert sorted(p.name for p in (tmp_path / "mailbox").iterdir()) == sorted([
        KPAC_NAME, KPAC_NAME.removesuffix(".eml") + ".envelope.json",
        "2023-02-10_KPAC_cong-van_01-SNV-CCHC_2.eml", "2023-02-10_KPAC_cong-van_01-SNV-CCHC_2.envelope.json"])


def test_a_name_taken_by_an_earlier_run_is_never_overwritten(tmp_path: Path) -> None:
    raw = compose(_labelled(KPAC_LABELS))
    (tmp_path / KPAC_NAME).write_bytes(b"from an earlier run, without its envelope")
    (tmp_path / "2023-02-10_KPAC_cong-van_01-SNV-CCHC_2.envelope.json").write_text("{}")
    path = store_message(tmp_path, raw, mail_from=SENDER, rcpt_tos=[UNIT])
    assert path.name == "2023-02-10_KPAC_cong-van_01-SNV-CCHC_3.eml"
    assert (tmp_path / KPAC_NAME).read_bytes() == b"from an earlier run, without its envelope"
    assert path.read_bytes() == raw


def test_a_message_without_labels_keeps_the_timestamp_name(tmp_path: Path) -> None:
    with MailCatcher(tmp_path) as catcher, smtplib.SMTP("127.0.0.1", catcher.port) as client:
        client.send_message(_letter())
        client.sendmail(SENDER, [UNIT], compose(_labelled(None)))
        paths = catcher.paths()
        assert [m.labels for m in catcher.stored()] == [None, None]
    assert len(paths) == 2 and all(SAFE_NAME.fullmatch(p.name) for p in paths), paths


@pytest.mark.parametrize(("labels", "name"), [
    (MailLabels("don-doc", unit="Sở Tài nguyên & Môi trường", number="05/UBND-KSTTHC", day=dt.date(2023, 2, 24)),
     "2023-02-24_So-Tai-nguyen-Moi-truong_don-doc_05-UBND-KSTTHC.eml"),
    (MailLabels("nhắc nhở", unit="Ea H'leo", number=None, day=dt.date(2023, 2, 21)),
     "2023-02-21_Ea-H-leo_nhac-nho.eml"),
    (MailLabels("../../etc", unit="../..", number="/etc/passwd", day=None), None),
    (MailLabels(".ẩn", unit="Đắk Lắk\\..\\win", number="..", day=dt.date(2023, 2, 10)),
     "2023-02-10_Dak-Lak-win_an.eml"),
    (MailLabels("...", unit="///", number="Số 05/QĐ-UBND", day=dt.date(2023, 2, 10)),
     "2023-02-10_vanthu-kpac_thu_So-05-QD-UBND.eml"),
])
def test_labels_in_vietnamese_or_hostile_make_safe_names(tmp_path: Path, labels: MailLabels, name: str | None,
                                                         ) -> None:
    raw = compose(_labelled(labels, to="vanthu.kpac@daklak.example"))
    path = store_message(tmp_path / "", raw, mail_from=SENDER, rcpt_tos=["vanthu.kpac@daklak.example"])
    assert path.parent == tmp_path and re.fullmatch(r"[0-9A-Za-z][A-Za-z0-9._-]*\.eml", path.name), path.name
    if name is not None:
        assert path.name == name
    else:  # no date of its own: the day it arrived, in Vietnam
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_vanthu-kpac_etc_etc-passwd\.eml", path.name), path.name
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted([path.name, path.name[:-4] + ".envelope.json"])


def test_slug_keeps_ascii_letters_digits_and_hyphens() -> None:
    assert slug("Sở Tài nguyên & Môi trường") == "So-Tai-nguyen-Moi-truong"
    assert slug("Ea H'leo") == "Ea-H-leo"
    assert slug("Krông Pắc") == "Krong-Pac"
    assert slug("01/SNV-CCHC") == "01-SNV-CCHC"
    assert slug("ĐĂK MIL") == "DAK-MIL"
    assert slug("a" * 50, 10) == "a" * 10
    assert slug("../") == "" and slug("") == ""


def test_a_returned_message_is_filed_after_the_letter_it_returns(tmp_path: Path) -> None:
    gone = "vanthu.kpac@daklak.example"
    letter = _labelled(KPAC_LABELS, to=gone)
    with MailCatcher(tmp_path / "mailbox", options=CatcherOptions(bounce_rcpts=frozenset({gone}))) as catcher, \
            SmtpSession(SmtpConfig("127.0.0.1", catcher.port), SENDER) as session:
        assert session.send(letter.recipients, compose(letter)) == {}
        assert catcher.paths() == []
    returned = sorted((tmp_path / "mailbox" / RETURNED_DIR).glob("*.eml"))
    assert [p.name for p in returned] == ["2023-02-10_KPAC_bao-loi-cong-van_01-SNV-CCHC.eml"]


def test_refused_recipients_get_451_and_550_and_the_others_receive(tmp_path: Path) -> None:
    options = CatcherOptions(temp_fail_rcpts=frozenset({"Busy@daklak.example"}),
                             perm_fail_rcpts=frozenset({"gone@daklak.example"}))
    with MailCatcher(tmp_path, options=options) as catcher, smtplib.SMTP("127.0.0.1", catcher.port) as client:
        refused = client.sendmail(SENDER, [UNIT, "busy@daklak.example", "gone@daklak.example"],
                                  _letter().as_bytes())
        assert {addr: code for addr, (code, _) in refused.items()} == {"busy@daklak.example": 451,
                                                                         "gone@daklak.example": 550}
        with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
            client.sendmail(SENDER, ["gone@daklak.example"], _letter().as_bytes())
        assert info.value.recipients["gone@daklak.example"][0] == 550
        with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
            client.sendmail(SENDER, ["busy@daklak.example"], _letter().as_bytes())
        assert info.value.recipients["busy@daklak.example"][0] == 451
        [stored] = catcher.stored()
    assert stored.rcpt_tos == (UNIT,)


def test_connection_is_dropped_after_n_messages_and_a_new_one_works(tmp_path: Path) -> None:
    with MailCatcher(tmp_path, options=CatcherOptions(drop_after=2)) as catcher:
        client = smtplib.SMTP("127.0.0.1", catcher.port)
        client.send_message(_letter(subject="1"))
        client.send_message(_letter(subject="2"))
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.send_message(_letter(subject="3"))
        client.close()
        with smtplib.SMTP("127.0.0.1", catcher.port) as again:  # reconnecting resets the count
            again.send_message(_letter(subject="3"))
        assert [m["Subject"] for m in catcher.messages()] == ["1", "2", "3"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_required_refuses_anonymous_and_wrong_password_accepts_right_one(tmp_path: Path) -> None:
    # Plain-TCP AUTH is for this test only: production mail never sends credentials unencrypted.
    # ASCII password: smtplib.login() encodes AUTH PLAIN/LOGIN as ASCII and fails on "mật khẩu".
    options = CatcherOptions(auth_user=SENDER, auth_password="mat-khau dung", auth_require_tls=False)
    with MailCatcher(tmp_path, options=options) as catcher:
        with smtplib.SMTP("127.0.0.1", catcher.port) as anonymous, pytest.raises(smtplib.SMTPSenderRefused) as info:
            anonymous.send_message(_letter())
        assert info.value.smtp_code == 530
        with smtplib.SMTP("127.0.0.1", catcher.port) as wrong, pytest.raises(smtplib.SMTPAuthenticationError):
            wrong.login(SENDER, "sai")
        with smtplib.SMTP("127.0.0.1", catcher.port) as right:
            right.login(SENDER, "mat-khau dung")
            right.send_message(_letter())
        assert len(catcher.paths()) == 1


def test_auth_is_not_offered_over_plain_tcp_by_default(tmp_path: Path) -> None:
    options = CatcherOptions(auth_user=SENDER, auth_password="x")
    with MailCatcher(tmp_path, options=options) as catcher, smtplib.SMTP("127.0.0.1", catcher.port) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            client.login(SENDER, "x")


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    return self_signed_tls(tmp_path)[0]


def test_starttls_then_auth(tmp_path: Path) -> None:
    options = CatcherOptions(starttls_context=_self_signed(tmp_path), require_starttls=True,
                             auth_user=SENDER, auth_password="bi-mat")
    client_context = ssl.create_default_context()
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE  # self-signed test certificate
    with MailCatcher(tmp_path / "mailbox", options=options) as catcher:
        with smtplib.SMTP("127.0.0.1", catcher.port) as clear, pytest.raises(smtplib.SMTPSenderRefused) as info:
            clear.send_message(_letter())
        assert info.value.smtp_code == 530
        with smtplib.SMTP("127.0.0.1", catcher.port) as client:
            client.starttls(context=client_context)
            client.login(SENDER, "bi-mat")
            client.send_message(_letter())
        assert [m["Subject"] for m in catcher.messages()] == [SUBJECT]


def test_delay_per_message(tmp_path: Path) -> None:
    with MailCatcher(tmp_path, options=CatcherOptions(delay_seconds=0.3)) as catcher, \
            smtplib.SMTP("127.0.0.1", catcher.port) as client:
        start = time.monotonic()
        client.send_message(_letter())
        assert time.monotonic() - start >= 0.3
        assert len(catcher.paths()) == 1


@pytest.mark.parametrize("message_id", [
    "<../../etc/passwd>",
    "<..\\..\\windows\\win.ini@x>",
    "</absolute/path@x>",
    "<.hidden@x>",
    "<..>",
    "<%2e%2e%2fetc@x>",
    "<" + "a" * 500 + "@x>",
])
def test_hostile_message_id_cannot_escape_the_mailbox(tmp_path: Path, message_id: str) -> None:
    mailbox = tmp_path / "a" / "mailbox"
    raw = (f"From: {SENDER}\r\nTo: {UNIT}\r\nSubject: x\r\nMessage-ID: {message_id}\r\n\r\nbody\r\n").encode()
    with MailCatcher(mailbox) as catcher, smtplib.SMTP("127.0.0.1", catcher.port) as client:
        client.sendmail(SENDER, [UNIT], raw)
        path = _only_file(catcher)
    assert path.parent == mailbox
    assert SAFE_NAME.fullmatch(path.name), path.name
    assert len(path.name) < 120
    assert path.read_bytes() == raw
    everything = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert everything == ["a", "a/mailbox", f"a/mailbox/{path.name}",
                          f"a/mailbox/{path.name.removesuffix('.eml')}.envelope.json"]


@pytest.mark.parametrize("host", ["0.0.0.0", "", "192.0.2.10", "::"])
def test_non_loopback_host_is_refused_unless_allowed(tmp_path: Path, host: str) -> None:
    with pytest.raises(MailCatcherError, match="refusing"):
        MailCatcher(tmp_path, host=host)


def test_localhost_is_loopback(tmp_path: Path) -> None:
    with MailCatcher(tmp_path, host="localhost") as catcher, smtplib.SMTP(catcher.host, catcher.port) as client:
        client.send_message(_letter())
        assert len(catcher.paths()) == 1


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with MailCatcher(tmp_path) as first, pytest.raises(MailCatcherError, match="cannot listen"):
        MailCatcher(tmp_path, port=first.port).start()


def test_default_mailbox_follows_the_output_dir(tmp_path: Path) -> None:
    assert default_mailbox(Settings(output_dir=tmp_path / "out")) == tmp_path / "out" / "mailbox"


def test_serve_forever_runs_until_stopped(tmp_path: Path) -> None:
    ready: list[MailCatcher] = []
    started, stop = threading.Event(), threading.Event()

    def on_ready(catcher: MailCatcher) -> None:
        ready.append(catcher)
        started.set()

    thread = threading.Thread(target=serve_forever, args=(tmp_path / "mailbox", "127.0.0.1", 0),
                              kwargs={"on_ready": on_ready, "stop": stop}, daemon=True)
    thread.start()
    assert started.wait(10)
    [catcher] = ready
    with smtplib.SMTP("127.0.0.1", catcher.port) as client:
        client.send_message(_letter())
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert not catcher.running
    assert len(list((tmp_path / "mailbox").glob("*.eml"))) == 1


def test_serve_forever_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from congvan.mailcatcher import serve_forever; "
            "serve_forever(Path(sys.argv[1]), '127.0.0.1', 0, on_ready=lambda c: print(c.port, flush=True))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "mailbox")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(_letter())
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == "" and "Traceback" not in err
    assert len(list((tmp_path / "mailbox").glob("*.eml"))) == 1


def test_storage_failure_is_a_temporary_error(tmp_path: Path) -> None:
    mailbox = tmp_path / "mailbox"
    with MailCatcher(mailbox) as catcher, smtplib.SMTP("127.0.0.1", catcher.port) as client:
        mailbox.rmdir()  # the folder disappears while the server runs
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.send_message(_letter())
        assert info.value.smtp_code == 451
        assert catcher.paths() == []
