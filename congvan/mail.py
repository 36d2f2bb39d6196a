"""Mail (docs/design.md §5): compose each message exactly, send it over one yagmail connection per batch.

Composition is ours, with the standard ``email`` package, because yagmail's own builder loses what a
Vietnamese official mail needs: its dict form of To/Cc drops the address from the header, its text
part is a copy of the HTML, and any body string that happens to name an existing file becomes an
attachment. yagmail owns the connection (SSL, STARTTLS, reconnect); ``sendmail`` on it reports
refusals per recipient, which the ledger needs, and one ``Client.send`` per message would log in
again for every message.

Header values that would end a header line are rejected, never folded away; subjects and display
names go out as RFC 2047 encoded words, attachment names as RFC 2231 parameters, all NFC.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import re
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import MIMEPart
from email.utils import format_datetime, formataddr
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import yagmail
from pydantic import SecretStr

from congvan.errors import HeaderError, MailServerError
from congvan.mail_labels import MailLabels
from congvan.settings import Settings
from congvan.text import has_header_break, nfc

# The MIME parts are written by the email package: 76 keeps quoted-printable lines within RFC 2045.
# The top-level headers are not: CPython's folding of encoded words drops the space between words
# ("hànhchính", "–Sở" seen on 3.11), so ``encode_words`` encodes and folds them and ``compose``
# writes them as they are.
WIRE_POLICY = policy.SMTP.clone(max_line_length=76)
# RFC 2047: an encoded word is at most 75 characters; 42 bytes of UTF-8 make a 68-character word,
# so "Subject: " and one word fit the recommended 78-character line.
_WORD_BYTES = 42
# A display name gets words of 45 bytes (72 characters, so "To: " and "," still fit in 78): most unit names
# then fit in one word, which also suits parsers that mishandle several (CPython's phrase parser
# keeps the folding space between two encoded words, against RFC 2047 §6.2).
_NAME_WORD_BYTES = 45

Security = Literal["none", "ssl", "starttls"]
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
DEFAULT_CATCHER_PORT = 1025  # `congvan mailcatcher` listens here unless told otherwise


class SmtpFailure(Exception):
    """One message was not accepted. ``temporary`` for 4xx and dropped connections, else 5xx.

    ``unreachable``: no connection could be opened at all (refused, unknown host, no route, timed out on
    connect), as opposed to a server that answered and then dropped or deferred.
    """

    def __init__(self, reason: str, *, temporary: bool, connection_lost: bool = False,
                 unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary
        self.connection_lost = connection_lost
        self.unreachable = unreachable


# --- composition ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mailbox:
    """A display name and an address, as they appear in From/To/Cc."""

    name: str
    address: str

    def header(self) -> str:
        """``Name <address>`` for a header, the name encoded when it is not plain ASCII."""
        _check_header_value("display name", self.name)
        _check_header_value("address", self.address)
        username, _, domain = self.address.rpartition("@")
        if not username or not domain or not self.address.isascii() or any(c in self.address for c in " <>,;\"'"):
            raise HeaderError(f"{self.address!r} is not an e-mail address")
        name = nfc(self.name).strip()
        if not name:
            return self.address
        if name.isascii() and "=?" not in name:
            return formataddr((name, self.address))
        words = encode_words(name, word_bytes=_NAME_WORD_BYTES)
        last_line = words.rpartition("\n")[2]
        # Fold before "<" rather than let the line pass 78 characters (FWS is allowed there).
        gap = "\r\n " if len(last_line) + len(self.address) + 8 > 78 else " "
        return f"{words}{gap}<{self.address}>"


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    content_type: str = "application/octet-stream"

    @classmethod
    def from_file(cls, path: Path, *, filename: str | None = None) -> Attachment:
        kind = {".pdf": "application/pdf",
                ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                ".png": "image/png"}.get(path.suffix.lower(), "application/octet-stream")
        return cls(filename=filename or path.name, data=path.read_bytes(), content_type=kind)


@dataclass(frozen=True)
class Outgoing:
    """Everything one message says. ``message_id`` is fixed by the ledger before sending."""

    sender: Mailbox
    to: tuple[Mailbox, ...]
    subject: str
    text: str
    html: str
    message_id: str
    cc: tuple[Mailbox, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    receipt_to: Mailbox | None = None  # Disposition-Notification-To (RFC 8098): ask for a read receipt
    labels: MailLabels | None = None  # X-Congvan-* headers: unit, kind, number (congvan.mail_labels)
    date: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def recipients(self) -> list[str]:
        return [m.address for m in self.to + self.cc]


def new_message_id(domain: str) -> str:
    """``<cv.<32 hex>@domain>``: unique, and made only of characters every client keeps."""
    return f"<cv.{uuid.uuid4().hex}@{domain}>"


def compose(mail: Outgoing) -> bytes:
    """The message as it goes on the wire (CRLF line endings, 7-bit headers).

    multipart/mixed of the text/HTML alternative and the attachments. The email package writes each
    part; the mixed container around them is assembled here so that an attachment, identical in every
    message of a dispatch, is encoded and written once (it was most of the composing time).
    """
    if not mail.to:
        raise ValueError("a message needs at least one To address")
    for label, value in (("subject", mail.subject), ("Message-ID", mail.message_id),
                         ("In-Reply-To", mail.in_reply_to or ""), *(("References", r) for r in mail.references)):
        _check_header_value(label, value)
    head = [("From", _mailbox_header([mail.sender])), ("To", _mailbox_header(mail.to))]
    if mail.cc:
        head.append(("Cc", _mailbox_header(mail.cc)))
    head += [("Subject", encode_words(mail.subject)), ("Date", format_datetime(mail.date)),
             ("Message-ID", _msg_id(mail.message_id))]
    if mail.in_reply_to:
        head.append(("In-Reply-To", _msg_id(mail.in_reply_to)))
    if mail.references:
        head.append(("References", "\r\n ".join(_msg_id(r) for r in mail.references)))
    if mail.receipt_to is not None:
        head.append(("Disposition-Notification-To", mail.receipt_to.header()))
    for name, value in mail.labels.headers() if mail.labels is not None else ():
        _check_header_value(name, value)
        head.append((name, encode_words(value)))
    head.append(("MIME-Version", "1.0"))
    body = MIMEPart(policy=WIRE_POLICY)
    body.set_content(nfc(mail.text), subtype="plain", charset="utf-8", cte="quoted-printable")
    body.add_alternative(nfc(mail.html), subtype="html", charset="utf-8", cte="quoted-printable")
    if not mail.attachments:
        return _header_block(head) + body.as_bytes(policy=WIRE_POLICY)
    # "=_" cannot occur in base64 or quoted-printable text, so no part can contain the boundary.
    boundary = f"=_cv_{uuid.uuid4().hex}"
    head.append(("Content-Type", f'multipart/mixed; boundary="{boundary}"'))
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    parts = [body.as_bytes(policy=WIRE_POLICY), *(_attachment_bytes(att) for att in mail.attachments)]
    return (_header_block(head) + b"\r\n" + delimiter[2:] + delimiter.join(parts)
            + f"\r\n--{boundary}--\r\n".encode("ascii"))


def _header_block(headers: list[tuple[str, str]]) -> bytes:
    """Header lines exactly as given (every value here is ASCII, encoded and folded already)."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers).encode("ascii")


@lru_cache(maxsize=32)
def _attachment_bytes(att: Attachment) -> bytes:
    """The attachment as a MIME part on the wire: base64, its name as an RFC 2231 parameter."""
    _check_header_value("attachment name", att.filename)
    maintype, _, subtype = att.content_type.partition("/")
    part = MIMEPart(policy=WIRE_POLICY)
    part.set_content(att.data, maintype=maintype, subtype=subtype, disposition="attachment",
                     filename=nfc(att.filename))
    return part.as_bytes(policy=WIRE_POLICY).rstrip(b"\r\n")


def encode_words(text: str, *, word_bytes: int = _WORD_BYTES) -> str:
    """``text`` as RFC 2047 base64 encoded words of at most 75 characters, folded one per line.

    Decoders drop the whitespace between encoded words, so every space travels inside a word and a
    word never splits a character. ASCII text without ``=?`` stays as it is.
    """
    text = nfc(text)
    if text.isascii() and "=?" not in text:
        return text
    words: list[str] = []
    chunk = ""
    for char in text:
        if len((chunk + char).encode("utf-8")) > word_bytes:
            words.append(chunk)
            chunk = ""
        chunk += char
    if chunk:
        words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?=" for w in words)


def _mailbox_header(boxes: Sequence[Mailbox]) -> str:
    return ",\r\n ".join(box.header() for box in boxes)


_MSG_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII without "<", ">" or spaces


def _msg_id(value: str) -> str:
    if not _MSG_ID.fullmatch(value):
        raise HeaderError(f"{value!r} is not a Message-ID (expected <left@right>)")
    return value


def _check_header_value(label: str, value: str) -> None:
    if has_header_break(value):
        raise HeaderError(f"the {label} {value!r} contains a line break, which would forge mail headers")


# --- transport -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: Security = "none"
    user: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    allow_plain_auth: bool = False
    timeout: float = 30.0
    rate: float = 0.0  # messages per second; 0 = unlimited

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        return cls(host=settings.smtp_host, port=settings.smtp_port, security=settings.smtp_security,
                   user=settings.smtp_user or None, password=settings.smtp_password,
                   ca_file=settings.smtp_ca_file, allow_plain_auth=settings.smtp_allow_plain_auth,
                   timeout=settings.smtp_timeout, rate=settings.smtp_rate)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port} ({self.security})"

    def check(self) -> None:
        """Refuse a configuration that would leak credentials or mail the world unencrypted."""
        if (self.user is None) != (self.password is None):
            raise MailServerError("set both CONGVAN_SMTP_USER and CONGVAN_SMTP_PASSWORD, or neither")
        if self.security == "none" and self.user is not None and not self.allow_plain_auth:
            raise MailServerError(f"refusing to send the SMTP password over an unencrypted link to {self.where}: "
                                  "set CONGVAN_SMTP_SECURITY=starttls or ssl")
        if self.security == "none" and self.host not in LOOPBACK_HOSTS and not self.allow_plain_auth:
            raise MailServerError(f"CONGVAN_SMTP_SECURITY=none is for a server on this machine, not {self.host}: "
                                  "use starttls or ssl")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise MailServerError(f"CONGVAN_SMTP_CA_FILE: {self.ca_file}: no such file")
        for value in (self.user, self.password.get_secret_value() if self.password else None):
            if value is not None and not value.isascii():
                raise MailServerError("the SMTP user and password must be ASCII (SMTP AUTH PLAIN/LOGIN via smtplib)")

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        return context


class _Client(yagmail.Client):  # type: ignore[misc]
    """yagmail's connection with our login: yagmail would append "@gmail.com" to a user without "@".

    The one place congvan leans on yagmail's private API: ``Client._login(password)``, read in yagmail 0.15.293
    and 0.16.0 (``sender.py``): it opens the connection, does STARTTLS, and logs in unless
    ``smtp_skip_login``. We let it connect with the login skipped, then log in ourselves.
    ``tests/test_mail.py::test_the_private_yagmail_login_we_override_is_still_there`` fails if that changes;
    pyproject pins ``yagmail<0.17`` until it is read again.
    """

    def __init__(self, config: SmtpConfig, envelope_sender: str) -> None:
        tls: dict[str, Any] = {"context": config.tls_context()} if config.security != "none" else {}
        super().__init__(
            user=envelope_sender, password=None, host=config.host, port=config.port,
            smtp_ssl=config.security == "ssl",
            smtp_starttls=tls if config.security == "starttls" else False,
            smtp_skip_login=True, soft_email_validation=False, timeout=config.timeout,
            **(tls if config.security == "ssl" else {}),
        )
        self.set_logging(None)
        self._config = config

    def _login(self, password: Any) -> None:
        super()._login(None)
        config = self._config
        if config.user is not None and config.password is not None:
            self.smtp.login(config.user, config.password.get_secret_value())


class SmtpSession:
    """One connection, opened on first use and reopened after a drop; paced to ``config.rate``."""

    def __init__(self, config: SmtpConfig, envelope_sender: str) -> None:
        config.check()
        self.config = config
        self.envelope_sender = envelope_sender
        self._client: _Client | None = None
        self._next_slot = 0.0
        self.connections = 0

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        """Connect (TLS, login) now. ``MailServerError`` if the server cannot be used at all;
        ``SmtpFailure(temporary=True)`` if it is merely down or busy."""
        if self._client is not None:
            return
        client = _Client(self.config, self.envelope_sender)
        try:
            client.login()
        except (smtplib.SMTPException, OSError) as exc:
            _quietly_close(client)
            raise self._login_failure(exc) from None
        self._client = client
        self.connections += 1

    def _login_failure(self, exc: BaseException) -> Exception:
        """What a failed connect means: ``MailServerError`` when the configuration must change (login,
        TLS), ``SmtpFailure`` when the server is down or busy and a later try may work."""
        where = self.config.where
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return MailServerError(f"the mail server {where} refused the login of "
                                   f"{self.config.user!r}: {_reply(exc.smtp_code, exc.smtp_error)}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return MailServerError(f"the mail server {where} does not support it: {exc}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return MailServerError(f"the mail server {where} has a certificate we do not trust "
                                   f"({exc.verify_message}); set CONGVAN_SMTP_CA_FILE to its CA")
        if isinstance(exc, ssl.SSLError):
            return MailServerError(f"TLS with the mail server {where} failed: {exc.reason}")
        if isinstance(exc, smtplib.SMTPResponseException):
            return SmtpFailure(_reply(exc.smtp_code, exc.smtp_error), temporary=not 500 <= exc.smtp_code < 600,
                               connection_lost=True)
        return SmtpFailure(f"cannot reach the mail server {where}: {_os_reason(exc)}", temporary=True,
                           connection_lost=True, unreachable=_no_connection(exc))

    def send(self, recipients: Sequence[str], raw: bytes, *, envid: str | None = None) -> dict[str, tuple[int, str]]:
        """Send one message; return the recipients the server refused, with code and reply.

        Where the server offers DSN (RFC 3461), ask for reports that can be matched: ``ENVID`` (the
        message's own id, ``envid``), ``RET=HDRS`` (headers only come back) and ``NOTIFY=FAILURE,DELAY``.
        Raises ``SmtpFailure`` when the message as a whole was not accepted.
        """
        self.connect()
        assert self._client is not None
        self._pace()
        mail_options: list[str] = []
        rcpt_options: list[str] = []
        if envid is not None and self._client.smtp.has_extn("dsn"):
            mail_options = ["RET=HDRS", f"ENVID={xtext(envid)}"]
            rcpt_options = ["NOTIFY=FAILURE,DELAY"]
        try:
            refused = self._client.smtp.sendmail(self.envelope_sender, list(recipients), raw, mail_options,
                                                 rcpt_options)
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset()
            return {rcpt: (code, _text(reply)) for rcpt, (code, reply) in exc.recipients.items()}
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            self._reset()
            raise SmtpFailure(_reply(exc.smtp_code, exc.smtp_error), temporary=exc.smtp_code < 500) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise SmtpFailure(f"the connection to {self.config.where} was lost: {_os_reason(exc)}",
                              temporary=True, connection_lost=True) from None
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise SmtpFailure(_reply(exc.smtp_code, exc.smtp_error), temporary=exc.smtp_code < 500,
                              connection_lost=True) from None
        return {rcpt: (code, _text(reply)) for rcpt, (code, reply) in refused.items()}

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _pace(self) -> None:
        if self.config.rate <= 0:
            return
        now = time.monotonic()
        if now < self._next_slot:
            time.sleep(self._next_slot - now)
            now = self._next_slot
        self._next_slot = now + 1.0 / self.config.rate

    def _reset(self) -> None:
        # After a refused transaction the server may keep state; RSET is cheap and a failed RSET means a drop.
        assert self._client is not None
        try:
            self._client.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _quietly_close(client)


def xtext(value: str) -> str:
    """RFC 3461 xtext: printable ASCII as is, except "+", "=" and anything else as "+HH"."""
    return "".join(c if "!" <= c <= "~" and c not in "+=" else f"+{ord(c):02X}" for c in value)


def envelope_id(message_id: str) -> str:
    """The ENVID we send for a message: its Message-ID without the angle brackets."""
    return message_id.strip().strip("<>")


def _quietly_close(client: _Client) -> None:
    client.is_closed = True
    with contextlib.suppress(AttributeError, OSError):
        client.smtp.close()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _reply(code: int, reply: bytes | str) -> str:
    return f"{code} {' '.join(_text(reply).split())}"


# The socket could not be opened at all: nothing listens, the name does not resolve, no route, no answer.
_NO_CONNECTION_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL,
                                   errno.EHOSTDOWN, errno.ENETDOWN})


def _no_connection(exc: BaseException) -> bool:
    """Whether a failed connect means no connection was made (rather than one dropped or refused later)."""
    if isinstance(exc, smtplib.SMTPException):  # the server answered (or hung up after connecting)
        return False
    if isinstance(exc, (socket.gaierror, TimeoutError, ConnectionRefusedError)):
        return True
    return isinstance(exc, OSError) and exc.errno in _NO_CONNECTION_ERRNOS


def unreachable_error(config: SmtpConfig, reason: str) -> MailServerError:
    """The one line for a mail server that cannot be reached at all, with what to do about it."""
    if config.host in LOOPBACK_HOSTS:
        port = "" if config.port == DEFAULT_CATCHER_PORT else f" --port {config.port}"
        hint = (f"if it is congvan's mail catcher, start it with `congvan mailcatcher{port}` in another terminal; "
                "else set CONGVAN_SMTP_HOST and CONGVAN_SMTP_PORT")
    else:
        hint = "check CONGVAN_SMTP_HOST, CONGVAN_SMTP_PORT and the network"
    return MailServerError(f"{reason}; nothing numbered or sent: {hint}")


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
