"""A local SMTP server that keeps every message it accepts as an .eml file (``congvan mailcatcher``,
docs/design.md §5.3, §7).

It is a real SMTP server (aiosmtpd over TCP), so the code under test speaks to it exactly as it
would speak to the province's mail server. It binds to loopback unless told otherwise.

Storage, one message = two files in the mailbox folder (default ``$CONGVAN_OUTPUT_DIR/mailbox``):

``<name>.eml``
    the message bytes exactly as received after DATA (CRLF line endings, dot-unstuffed), nothing
    added: no ``Received`` or envelope header, so its sha256 equals that of what the sender
    produced and RFC 2047 subjects / RFC 2231 file names are kept byte for byte.
``<name>.envelope.json``
    the SMTP envelope, which the message itself may not show (Bcc): ``mail_from``, ``rcpt_tos``,
    ``peer``, ``received_at`` (UTC, ISO 8601), ``smtputf8``, ``size`` and ``sha256`` of the .eml.

The sidecar is written first, then the .eml; each is written under a hidden temporary name and
moved into place with ``os.replace``, so a reader that globs ``*.eml`` never sees half a message.

``<name>`` says what the message is, from the ``X-Congvan-*`` headers congvan puts on its mail
(``congvan.mail_labels``): ``<date>_<unit>_<kind>[_<number>]``, e.g.
``2023-02-10_KPAC_cong-van_01-UBND-KSTTHC`` or ``2023-02-27_KPAC_don-doc_05-UBND-KSTTHC``; the date is the
document's (else the day it arrived, Vietnam time), the unit its code (else the first recipient's
mailbox name). A name already taken gets ``_2``, ``_3``…: the name is claimed by creating its sidecar
exclusively, so two messages never share one, even from two processes. Mail without the headers keeps
``<UTC timestamp>-<counter>-<random>[-<hint>]``, the hint a fragment of the Message-ID. Every value is
slugged to ``[A-Za-z0-9-]`` (a name is made only of ``[A-Za-z0-9._-]``, never a path, never hidden).
A report of a returned message (``returned/``) is named after the message it returns, its kind
prefixed with ``bao-loi-``.

Options (``CatcherOptions``) simulate what real servers do, for the delivery tests: temporary (451)
and permanent (550) refusal of chosen recipients, a connection dropped after N messages, AUTH
(PLAIN/LOGIN) with one user and password, STARTTLS or implicit TLS, and a delay per message.
``auth_require_tls=False`` lets AUTH run over plain TCP: that exists for tests only, production
mail never sends credentials over an unencrypted link (docs/design.md §5.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import itertools
import json
import os
import re
import socket
import ssl
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from congvan.errors import MailCatcherError
from congvan.i18n import _, os_words
from congvan.mail_labels import MailLabels, read_labels, slug
from congvan.settings import Settings
from congvan.vndate import VIETNAM

__all__ = [
    "CatcherOptions",
    "MailCatcher",
    "MailCatcherError",
    "StoredMessage",
    "default_mailbox",
    "delivery_report",
    "returned_labels",
    "serve_forever",
    "store_message",
]

ACCEPTED = "250 Message accepted for delivery"
EML_SUFFIX = ".eml"
ENVELOPE_SUFFIX = ".envelope.json"
RETURNED_DIR = "returned"  # the reports of bounced recipients (CatcherOptions.bounce_rcpts)
RETURNED_KIND = "bao-loi-"  # prefixed to the kind of the message a stored report returns

_SAFE_HINT = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9._-]{0,200}")
_counter = itertools.count(1)


def default_mailbox(settings: Settings | None = None) -> Path:
    """The mailbox folder: ``Settings().output_dir / "mailbox"``."""
    return (settings or Settings()).output_dir / "mailbox"


@dataclass(frozen=True)
class CatcherOptions:
    """How the catcher behaves. The defaults accept everything, like a plain relay.

    Addresses are compared case-insensitively. ``drop_after`` counts messages accepted on one
    connection: the next MAIL FROM on that connection is answered by closing it (the client sees
    ``SMTPServerDisconnected``); a new connection starts again from zero.
    """

    temp_fail_rcpts: frozenset[str] = frozenset()  # answered 451 at RCPT TO
    perm_fail_rcpts: frozenset[str] = frozenset()  # answered 550 at RCPT TO
    # Accepted (250), then returned as a relay does: an RFC 3464 report to the envelope sender, stored
    # in ``returned/`` beside the mailbox (what ``congvan bounces import`` reads).
    bounce_rcpts: frozenset[str] = frozenset()
    drop_after: int | None = None
    auth_user: str | None = None  # set both to require AUTH
    auth_password: str | None = None
    auth_require_tls: bool = True  # False only in tests: never AUTH in clear text for real
    starttls_context: ssl.SSLContext | None = None  # offer STARTTLS (587-style)
    require_starttls: bool = False
    implicit_tls_context: ssl.SSLContext | None = None  # TLS from the first byte (465-style)
    delay_seconds: float = 0.0  # before answering DATA
    data_size_limit: int = 32 * 1024 * 1024
    server_hostname: str = "congvan-mailcatcher.localhost"

    def __post_init__(self) -> None:
        object.__setattr__(self, "temp_fail_rcpts", frozenset(a.lower() for a in self.temp_fail_rcpts))
        object.__setattr__(self, "perm_fail_rcpts", frozenset(a.lower() for a in self.perm_fail_rcpts))
        object.__setattr__(self, "bounce_rcpts", frozenset(a.lower() for a in self.bounce_rcpts))
        if (self.auth_user is None) != (self.auth_password is None):
            raise MailCatcherError(_("mail catcher: give both auth_user and auth_password, or neither"))
        if self.drop_after is not None and self.drop_after < 0:
            raise MailCatcherError(_("mail catcher: drop_after must be 0 or more"))
        if self.delay_seconds < 0:
            raise MailCatcherError(_("mail catcher: delay_seconds must be 0 or more"))
        if self.require_starttls and self.starttls_context is None:
            raise MailCatcherError(_("mail catcher: require_starttls needs starttls_context"))

    @property
    def requires_auth(self) -> bool:
        return self.auth_user is not None


@dataclass(frozen=True)
class StoredMessage:
    """One message in the mailbox: its file, envelope and exact bytes."""

    path: Path
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes = field(repr=False)

    def message(self) -> EmailMessage:
        return _parse(self.raw)

    @property
    def labels(self) -> MailLabels | None:
        """What the message says it is (unit, kind, number), from its X-Congvan-* headers; None without them."""
        return _labels(self.raw)


def _parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)  # policy.default always builds EmailMessage
    return msg


def _headers(raw: bytes) -> EmailMessage | None:
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    except Exception:  # a malformed header block must not lose the message
        return None
    return headers if isinstance(headers, EmailMessage) else None


def _labels(raw: bytes) -> MailLabels | None:
    headers = _headers(raw)
    try:
        return read_labels(headers) if headers is not None else None
    except Exception:  # a header the parser chokes on only costs the message its readable name
        return None


def _message_id_hint(raw: bytes) -> str:
    """A short, filesystem-safe fragment of the Message-ID, or "" (never trusted as a path)."""
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        value = str(headers.get("Message-ID", ""))
    except Exception:  # a malformed header block must not lose the message
        return ""
    local = value.strip().strip("<>").split("@", 1)[0]
    hint = _SAFE_HINT.sub("_", local).strip("._-")[:40]
    return hint.rstrip("._-")


def _timestamp_name(raw: bytes, now: datetime) -> str:
    """The name of a message without labels: sortable by arrival, unique by construction."""
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    parts = [stamp, f"{next(_counter):06d}", uuid.uuid4().hex[:8]]
    hint = _message_id_hint(raw)
    if hint:
        parts.append(hint)
    return "-".join(parts)


def _labelled_name(labels: MailLabels, rcpt_tos: list[str], now: datetime) -> str:
    """``<date>_<unit>_<kind>[_<number>]``, every part slugged (the values are the sender's text)."""
    day = labels.day or now.astimezone(VIETNAM).date()
    mailbox = rcpt_tos[0].rpartition("@")[0] if rcpt_tos else ""
    unit = slug(labels.unit or "", 32) or slug(mailbox, 32) or "ALL"
    parts = [day.isoformat(), unit, slug(labels.kind, 48) or "thu"]
    number = slug(labels.number or "", 48)
    if number:
        parts.append(number)
    return "_".join(parts)


def _claim(mailbox: Path, base: str) -> str:
    """The first of ``base``, ``base_2``, ``base_3``… that no message has: its sidecar is created
    exclusively (O_EXCL) here as the claim, so a name is never given twice, even across processes."""
    for n in itertools.count(1):
        name = base if n == 1 else f"{base}_{n}"
        if (mailbox / f"{name}{EML_SUFFIX}").exists():
            continue  # a stray .eml without its sidecar still owns its name
        try:
            os.close(os.open(mailbox / f"{name}{ENVELOPE_SUFFIX}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            continue
        return name
    raise AssertionError("unreachable")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def store_message(mailbox: Path, raw: bytes, *, mail_from: str, rcpt_tos: Iterable[str],
                  peer: str = "", smtputf8: bool = False, labels: MailLabels | None = None) -> Path:
    """Store one message (exact bytes) and its envelope in ``mailbox``; return the .eml path.

    The name comes from ``labels``, else from the message's own X-Congvan-* headers, else the time."""
    now = datetime.now(UTC)
    rcpt_tos = list(rcpt_tos)
    labels = labels or _labels(raw)
    base = _labelled_name(labels, rcpt_tos, now) if labels is not None else _timestamp_name(raw, now)
    if not _SAFE_NAME.fullmatch(base) or (mailbox / base).parent != mailbox:  # defence in depth
        raise MailCatcherError(_("mail catcher: refusing unsafe file name {name!r}").format(name=base))
    name = _claim(mailbox, base)
    envelope = {
        "mail_from": mail_from,
        "rcpt_tos": rcpt_tos,
        "peer": peer,
        "received_at": now.isoformat(),
        "smtputf8": smtputf8,
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    sidecar = json.dumps(envelope, ensure_ascii=False, indent=2).encode("utf-8")
    try:
        _write_atomic(mailbox / f"{name}{ENVELOPE_SUFFIX}", sidecar)
        _write_atomic(mailbox / f"{name}{EML_SUFFIX}", raw)
    except BaseException:
        with contextlib.suppress(OSError):  # give the claimed name back
            (mailbox / f"{name}{ENVELOPE_SUFFIX}").unlink()
        raise
    return mailbox / f"{name}{EML_SUFFIX}"


def returned_labels(original: bytes, failed: Sequence[str]) -> MailLabels | None:
    """The labels of a report returning ``original`` from ``failed``: the original's, its kind prefixed
    with ``bao-loi-``, and without a unit the returned mailbox's name (not the sender's, who gets the report)."""
    labels = _labels(original)
    if labels is None:
        return None
    unit = labels.unit or (failed[0].rpartition("@")[0] if failed else None)
    return MailLabels(RETURNED_KIND + labels.kind, unit=unit, number=labels.number, day=labels.day)


class _Handler:
    """aiosmtpd hooks. Runs on the catcher's event-loop thread."""

    def __init__(self, mailbox: Path, options: CatcherOptions) -> None:
        self.mailbox = mailbox
        self.options = options
        self._accepted: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        limit = self.options.drop_after
        if limit is not None and self._accepted.get(session, 0) >= limit:
            server.transport.abort()  # no reply at all: the client sees the link drop
            return "421 4.4.2 Connection dropped"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        key = address.lower()
        if key in self.options.temp_fail_rcpts:
            return "451 4.3.0 Temporary failure, try again later"
        if key in self.options.perm_fail_rcpts:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.options.delay_seconds:
            await asyncio.sleep(self.options.delay_seconds)
        raw = envelope.original_content
        if not isinstance(raw, bytes):
            raw = bytes(envelope.content or b"")
        peer = session.peer
        returned = [r for r in envelope.rcpt_tos if r.lower() in self.options.bounce_rcpts]
        kept = [r for r in envelope.rcpt_tos if r.lower() not in self.options.bounce_rcpts]
        try:
            if kept:
                store_message(self.mailbox, raw, mail_from=str(envelope.mail_from), rcpt_tos=kept,
                              peer=":".join(str(p) for p in peer) if isinstance(peer, tuple) else str(peer or ""),
                              smtputf8=bool(envelope.smtp_utf8))
            if returned and envelope.mail_from:
                folder = self.mailbox / RETURNED_DIR
                folder.mkdir(parents=True, exist_ok=True)
                store_message(folder, delivery_report(raw, str(envelope.mail_from), returned,
                                                      self.options.server_hostname),
                              mail_from="", rcpt_tos=[str(envelope.mail_from)], labels=returned_labels(raw, returned))
        except OSError:  # disk full, mailbox removed: temporary, so the sender retries instead of giving up
            return "451 4.3.0 Could not store the message"
        self._accepted[session] = self._accepted.get(session, 0) + 1
        return ACCEPTED

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        user, password = self.options.auth_user, self.options.auth_password
        ok = (
            isinstance(auth_data, LoginPassword)
            and user is not None
            and password is not None
            and hmac.compare_digest(auth_data.login, user.encode("utf-8"))
            and hmac.compare_digest(auth_data.password, password.encode("utf-8"))
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 235 or 535


def delivery_report(original: bytes, sender: str, failed: Iterable[str], host: str) -> bytes:
    """The RFC 3464 report a relay sends back for ``failed`` recipients: a text part, the
    message/delivery-status fields, and the original's headers (as with RET=HDRS)."""
    headers = original.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    boundary = f"=_report_{uuid.uuid4().hex}"
    now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    per_recipient = "".join(
        f"\r\nFinal-Recipient: rfc822; {r}\r\nOriginal-Recipient: rfc822; {r}\r\nAction: failed\r\n"
        f"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <{r}>: mailbox unavailable\r\n" for r in failed)
    text = "\r\n".join(f"<{r}>: mailbox unavailable" for r in failed)
    report = (
        f"From: Mail Delivery System <MAILER-DAEMON@{host}>\r\nTo: {sender}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nDate: {now}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@{host}>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"Your message could not be delivered to one or more recipients.\r\n\r\n{text}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; {host}\r\nArrival-Date: {now}\r\n{per_recipient}\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n").encode("ascii")
    return report + headers + f"\r\n\r\n--{boundary}--\r\n".encode("ascii")


class _Controller(Controller):
    """A Controller that may bind port 0: it learns the real port before its self-test connection."""

    def _trigger_server(self) -> None:
        server = self.server
        if self.port == 0 and isinstance(server, asyncio.Server):
            self.port = int(server.sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


def _resolve_host(host: str, *, allow_remote: bool) -> str:
    """One IP literal to bind; loopback only unless ``allow_remote``."""
    if host in ("", "0.0.0.0", "::"):
        if not allow_remote:
            raise MailCatcherError(_("mail catcher: refusing to listen on all interfaces ({host}); use a loopback "
                                     "address or allow_remote=True").format(host=host or "0.0.0.0"))
        return host or "0.0.0.0"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise MailCatcherError(_("mail catcher: cannot resolve host {host!r}: {error}").format(
                host=host, error=exc)) from exc
        candidates = [ipaddress.ip_address(info[4][0]) for info in infos]
        loopback = [a for a in candidates if a.is_loopback]
        address = (loopback or candidates)[0]
        if host == "localhost" and loopback:
            address = next((a for a in loopback if a.version == 4), loopback[0])
    if not address.is_loopback and not allow_remote:
        raise MailCatcherError(_("mail catcher: refusing to listen on non-loopback address {host}; pass "
                                 "allow_remote=True to expose it to the network").format(host=host))
    return str(address)


class MailCatcher:
    """A running SMTP server storing messages in ``mailbox``; use it as a context manager.

    ``with MailCatcher(tmp_path) as catcher: send(port=catcher.port); catcher.messages()``
    """

    def __init__(self, mailbox: Path | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 options: CatcherOptions | None = None, allow_remote: bool = False) -> None:
        if not 0 <= port <= 65535:
            raise MailCatcherError(_("mail catcher: port {port} is out of range").format(port=port))
        self.mailbox = Path(mailbox) if mailbox is not None else default_mailbox()
        self.options = options or CatcherOptions()
        self.host = _resolve_host(host, allow_remote=allow_remote)
        self._requested_port = port
        self._handler = _Handler(self.mailbox, self.options)
        self._controller: Any = None

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("the mail catcher is not running")
        return int(self._controller.port)

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> MailCatcher:
        if self._controller is not None:
            raise RuntimeError("the mail catcher is already running")
        self.mailbox.mkdir(parents=True, exist_ok=True)
        opts = self.options
        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": self._requested_port,
            "server_hostname": opts.server_hostname,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "data_size_limit": opts.data_size_limit,
            "ssl_context": opts.implicit_tls_context,
            "tls_context": opts.starttls_context,
            "require_starttls": opts.require_starttls,
            "auth_require_tls": opts.auth_require_tls,
        }
        if opts.requires_auth:
            kwargs.update(auth_required=True, authenticator=self._handler.authenticate)
        controller = _Controller(self._handler, **kwargs)
        try:
            controller.start()
        except OSError as exc:
            with contextlib.suppress(Exception):
                controller.stop(no_assert=True)
            raise MailCatcherError(_("mail catcher: cannot listen on {host}:{port}: {reason}").format(
                host=self.host, port=self._requested_port, reason=os_words(str(exc.strerror or exc)))) from exc
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def paths(self) -> list[Path]:
        """The .eml files in the mailbox, oldest first (by the arrival time their envelopes record)."""
        return [path for path, _ in self._entries()]

    def stored(self) -> list[StoredMessage]:
        """Every message in the mailbox (also those from earlier runs), oldest first, with its envelope."""
        return [StoredMessage(path=path, mail_from=str(envelope.get("mail_from", "")),
                              rcpt_tos=tuple(envelope.get("rcpt_tos", ())), raw=path.read_bytes())
                for path, envelope in self._entries()]

    def messages(self) -> list[EmailMessage]:
        """Every message in the mailbox, oldest first, parsed with ``email.policy.default``."""
        return [_parse(path.read_bytes()) for path in self.paths()]

    def _entries(self) -> list[tuple[Path, dict[str, Any]]]:
        """Each .eml with its envelope, in order of arrival: the names sort by date and unit, not by time."""
        if not self.mailbox.is_dir():
            return []
        entries = []
        for path in self.mailbox.iterdir():
            if not path.name.endswith(EML_SUFFIX) or path.name.startswith("."):
                continue
            sidecar = path.with_name(path.name[: -len(EML_SUFFIX)] + ENVELOPE_SUFFIX)
            try:
                envelope = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                envelope = {}
            entries.append((_arrival(path, envelope), path, envelope if isinstance(envelope, dict) else {}))
        entries.sort(key=lambda e: (e[0], e[1].name))
        return [(path, envelope) for _, path, envelope in entries]


def _arrival(path: Path, envelope: Any) -> datetime:
    """When a message arrived: its envelope's ``received_at``, else the file's time."""
    try:
        at = datetime.fromisoformat(str(envelope["received_at"]))
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    except (KeyError, TypeError, ValueError):
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def serve_forever(mailbox: Path | None = None, host: str = "127.0.0.1", port: int = 1025, *,
                  options: CatcherOptions | None = None, allow_remote: bool = False,
                  on_ready: Callable[[MailCatcher], None] | None = None,
                  stop: threading.Event | None = None) -> None:
    """Run the catcher until Ctrl-C (or until ``stop`` is set), then shut it down and return.

    Prints nothing: ``on_ready`` receives the running catcher (e.g. to print its port).
    Raises ``MailCatcherError`` when it cannot start.
    """
    stop = stop or threading.Event()
    with MailCatcher(mailbox, host=host, port=port, options=options, allow_remote=allow_remote) as catcher:
        if on_ready is not None:
            on_ready(catcher)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
