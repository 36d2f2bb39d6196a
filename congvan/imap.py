"""Reading the reply mailbox over IMAP (``CONGVAN_IMAP_*``), the only module where imaplib appears.

Each message of the folder not yet read by congvan is fetched (its size first: a message larger than
any report is not downloaded), handed to ``read``, and then flagged with the keyword ``$CongvanRead``
so it is read once; a report is also marked \\Seen. Ordinary replies stay unread for the people who
work the mailbox. TLS unless the server is on this machine, as for SMTP; the password is never
printed or logged (imaplib's debug output is off, and no message repeats it).
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

from congvan.errors import MailboxError
from congvan.i18n import N_, _
from congvan.mail_transport import LOOPBACK_HOSTS
from congvan.reports import MAX_REPORT_BYTES
from congvan.settings import Settings

KEYWORD = "$CongvanRead"
MAX_PER_RUN = 2000  # messages read per run; the rest wait for the next run
Security = Literal["none", "ssl", "starttls"]


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: SecretStr
    security: Security = "ssl"
    folder: str = "INBOX"
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ImapConfig:
        if not settings.imap_host:
            raise MailboxError(_("CONGVAN_IMAP_HOST is not set: there is no reply mailbox to read "
                                 "(congvan bounces import reads saved reports instead)"))
        if not settings.imap_user or settings.imap_password is None:
            raise MailboxError(_("set CONGVAN_IMAP_USER and CONGVAN_IMAP_PASSWORD for the reply mailbox"))
        port = settings.imap_port or (993 if settings.imap_security == "ssl" else 143)
        return cls(host=settings.imap_host, port=port, user=settings.imap_user, password=settings.imap_password,
                   security=settings.imap_security, folder=settings.imap_folder or "INBOX",
                   timeout=settings.smtp_timeout)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port} ({self.security})"

    def check(self) -> None:
        if self.security == "none" and self.host not in LOOPBACK_HOSTS:
            raise MailboxError(_("CONGVAN_IMAP_SECURITY=none is for a server on this machine, not {host}: use ssl or "
                                 "starttls").format(host=self.host))
        if not (self.user.isascii() and self.password.get_secret_value().isascii()):
            raise MailboxError(_("the IMAP user and password must be ASCII (IMAP LOGIN via imaplib)"))
        if any(c in self.folder for c in "\r\n\"\\"):
            raise MailboxError(_("CONGVAN_IMAP_FOLDER {folder!r} is not a folder name").format(folder=self.folder))


@dataclass(frozen=True)
class Fetched:
    uid: str
    size: int
    raw: bytes | None  # None: too large, not downloaded


# What the caller does with each message: True if it was a report (marked \Seen as well).
Reader = Callable[[Fetched], bool]


def read_new(config: ImapConfig, read: Reader) -> int:
    """Read every message of the folder not yet flagged ``$CongvanRead``; flag each after ``read``.
    Returns how many were read. ``MailboxError`` if the mailbox cannot be used."""
    config.check()
    count = 0
    with _session(config) as imap:
        uids = _ok(imap.uid("SEARCH", "UNKEYWORD", KEYWORD), config, "search")
        first = uids[0] if uids else b""
        found = first.split() if isinstance(first, bytes) else []
        for uid_bytes in found[:MAX_PER_RUN]:
            uid = uid_bytes.decode("ascii")
            size = _size(_ok(imap.uid("FETCH", uid, "(RFC822.SIZE)"), config, "fetch"))
            raw = None
            if size <= MAX_REPORT_BYTES:
                raw = _body(_ok(imap.uid("FETCH", uid, "(BODY.PEEK[])"), config, "fetch"))
            was_report = read(Fetched(uid, size, raw))
            flags = f"({KEYWORD} \\Seen)" if was_report else f"({KEYWORD})"
            _ok(imap.uid("STORE", uid, "+FLAGS", flags), config, "flag")
            count += 1
    return count


@contextlib.contextmanager
def _session(config: ImapConfig) -> Iterator[imaplib.IMAP4]:
    imap: imaplib.IMAP4
    try:
        if config.security == "ssl":
            imap = imaplib.IMAP4_SSL(config.host, config.port, ssl_context=ssl.create_default_context(),
                                     timeout=config.timeout)
        else:
            imap = imaplib.IMAP4(config.host, config.port, timeout=config.timeout)
            if config.security == "starttls":
                imap.starttls(ssl.create_default_context())
    except ssl.SSLCertVerificationError as exc:
        raise MailboxError(_("the mailbox server {where} has a certificate we do not trust ({reason})").format(
            where=config.where, reason=exc.verify_message)) from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(_("cannot reach the mailbox server {where}: {reason}").format(
            where=config.where, reason=_reason(exc))) from None
    try:
        try:
            imap.login(config.user, config.password.get_secret_value())
        except imaplib.IMAP4.error as exc:
            raise MailboxError(_("the mailbox server {where} refused the login of {user!r}: {reply}").format(
                where=config.where, user=config.user, reply=_safe(exc, config))) from None
        try:
            typ, data = imap.select(f'"{config.folder}"')
        except imaplib.IMAP4.error as exc:
            raise MailboxError(_("cannot open the folder {folder!r} on {where}: {reply}").format(
                folder=config.folder, where=config.where, reply=_safe(exc, config))) from None
        if typ != "OK":
            raise MailboxError(_("cannot open the folder {folder!r} on {where}: {reply}").format(
                folder=config.folder, where=config.where, reply=_text(data)))
        yield imap
    except (OSError, imaplib.IMAP4.abort) as exc:
        raise MailboxError(_("the connection to the mailbox server {where} was lost: {reason}").format(
            where=config.where, reason=_reason(exc))) from None
    finally:
        with contextlib.suppress(Exception):
            imap.logout()


def _ok(response: tuple[str, Sequence[object]], config: ImapConfig, what: str) -> Sequence[object]:
    typ, data = response
    if typ != "OK":
        text = _(_REFUSED[what]) if what in _REFUSED else "the mailbox server {where} refused to " + what + ": {reply}"
        raise MailboxError(text.format(where=config.where, reply=_text(data)))
    return data


_REFUSED = {"search": N_("the mailbox server {where} refused to search: {reply}"),
            "fetch": N_("the mailbox server {where} refused to fetch: {reply}"),
            "flag": N_("the mailbox server {where} refused to flag: {reply}")}


def _size(data: Sequence[object]) -> int:
    for item in data:
        text = item.decode("ascii", "replace") if isinstance(item, bytes) else str(item)
        match = re.search(r"RFC822\.SIZE (\d+)", text)
        if match:
            return int(match.group(1))
    return 0


def _body(data: Sequence[object]) -> bytes:
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return b""


def _text(data: Sequence[object]) -> str:
    parts = [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data if d is not None]
    return " ".join(" ".join(parts).split())[:300]


def _safe(exc: BaseException, config: ImapConfig) -> str:
    """The server's words, never the password (some servers echo what they were sent)."""
    text = " ".join(str(exc).split())[:300]
    secret = config.password.get_secret_value()
    return text.replace(secret, "***") if secret else text


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())[:300] or type(exc).__name__
