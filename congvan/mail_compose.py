"""Composing a mail exactly (docs/design.md §5): the bytes that go on the wire, with the standard ``email`` package.

Composition is ours because yagmail's own builder loses what a Vietnamese official mail needs: its dict
form of To/Cc drops the address from the header, its text part is a copy of the HTML, and any body
string that happens to name an existing file becomes an attachment. Sending is ``congvan.mail_transport``.

Header values that would end a header line are rejected, never folded away; subjects and display
names go out as RFC 2047 encoded words, attachment names as RFC 2231 parameters, all NFC.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import MIMEPart
from email.utils import format_datetime, formataddr
from functools import lru_cache
from pathlib import Path

from congvan.errors import HeaderError
from congvan.i18n import N_, _
from congvan.mail_labels import MailLabels
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


@dataclass(frozen=True)
class Mailbox:
    """A display name and an address, as they appear in From/To/Cc."""

    name: str
    address: str

    def header(self) -> str:
        """``Name <address>`` for a header, the name encoded when it is not plain ASCII."""
        _check_header_value("display name", self.name)
        _check_header_value("address", self.address)
        username, _at, domain = self.address.rpartition("@")
        if not username or not domain or not self.address.isascii() or any(c in self.address for c in " <>,;\"'"):
            raise HeaderError(_("{address!r} is not an e-mail address").format(address=self.address))
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
        raise ValueError(_("a message needs at least one To address"))
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
    maintype, _slash, subtype = att.content_type.partition("/")
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
        raise HeaderError(_("{value!r} is not a Message-ID (expected <left@right>)").format(value=value))
    return value


# What a header value is called in a message (the header names themselves, "Message-ID", stay as they are).
_LABELS = (N_("display name"), N_("address"), N_("subject"), N_("attachment name"))


def _check_header_value(label: str, value: str) -> None:
    if has_header_break(value):
        raise HeaderError(_("the {label} {value!r} contains a line break, which would forge mail headers").format(
            label=_(label) if label in _LABELS else label, value=value))

