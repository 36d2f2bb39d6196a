"""The mail catcher's SMTP server (``congvan mailcatcher``, docs/design.md §5.3, §7): aiosmtpd on loopback.

It is a real SMTP server (aiosmtpd over TCP), so the code under test speaks to it exactly as it
would speak to the province's mail server. It binds to loopback unless told otherwise. What it
accepts is stored by ``congvan.mailcatcher.storage``.

Options (``CatcherOptions``) simulate what real servers do, for the delivery tests: temporary (451)
and permanent (550) refusal of chosen recipients, a connection dropped after N messages, AUTH
(PLAIN/LOGIN) with one user and password, STARTTLS or implicit TLS, a delay per message, and
recipients accepted then returned with an RFC 3464 report (``delivery_report``) in ``returned/``.
``auth_require_tls=False`` lets AUTH run over plain TCP: that exists for tests only, production
mail never sends credentials over an unencrypted link (docs/design.md §5.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import socket
import ssl
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from congvan.errors import MailCatcherError
from congvan.i18n import _, os_words
from congvan.mailcatcher.storage import (
    RETURNED_DIR,
    StoredMessage,
    default_mailbox,
    parse_message,
    read_mailbox,
    returned_labels,
    store_message,
)

ACCEPTED = "250 Message accepted for delivery"


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
        return [path for path, _ in read_mailbox(self.mailbox)]

    def stored(self) -> list[StoredMessage]:
        """Every message in the mailbox (also those from earlier runs), oldest first, with its envelope."""
        return [StoredMessage(path=path, mail_from=str(envelope.get("mail_from", "")),
                              rcpt_tos=tuple(envelope.get("rcpt_tos", ())), raw=path.read_bytes())
                for path, envelope in read_mailbox(self.mailbox)]

    def messages(self) -> list[EmailMessage]:
        """Every message in the mailbox, oldest first, parsed with ``email.policy.default``."""
        return [parse_message(path.read_bytes()) for path in self.paths()]


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
