"""The SMTP connection (docs/design.md §5.2): one yagmail connection per batch, refusals per recipient.

yagmail owns the connection (SSL, STARTTLS, reconnect); ``sendmail`` on it reports refusals per
recipient, which the ledger needs, and one ``Client.send`` per message would log in again for every
message. The message bytes come from ``congvan.mail_compose``. Failures are sorted into what a retry may
cure (``SmtpFailure``, temporary or not) and what the configuration must change (``MailServerError``).
"""

from __future__ import annotations

import contextlib
import errno
import smtplib
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import yagmail
from pydantic import SecretStr

from congvan.errors import MailServerError
from congvan.i18n import _, os_words
from congvan.settings import Settings

Security = Literal["none", "ssl", "starttls"]
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
DEFAULT_CATCHER_PORT = 1025  # `congvan mailcatcher` listens here unless told otherwise


class SmtpFailure(Exception):
    """One message was not accepted. ``temporary`` for 4xx and dropped connections, else 5xx.

    ``unreachable``: no connection could be opened at all (refused, unknown host, no route, timed out on
    connect), as opposed to a server that answered and then dropped or deferred.

    ``reason`` is English: the ledger keeps it (``last_error``). ``cause``, for a connection that could not be
    made: the system's words alone ("Connection refused"), which ``unreachable_error`` shows translated.
    """

    def __init__(self, reason: str, *, temporary: bool, connection_lost: bool = False,
                 unreachable: bool = False, cause: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary
        self.connection_lost = connection_lost
        self.unreachable = unreachable
        self.cause = cause



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
            raise MailServerError(_("set both CONGVAN_SMTP_USER and CONGVAN_SMTP_PASSWORD, or neither"))
        if self.security == "none" and self.user is not None and not self.allow_plain_auth:
            raise MailServerError(_("refusing to send the SMTP password over an unencrypted link to {where}: set "
                                    "CONGVAN_SMTP_SECURITY=starttls or ssl").format(where=self.where))
        if self.security == "none" and self.host not in LOOPBACK_HOSTS and not self.allow_plain_auth:
            raise MailServerError(_("CONGVAN_SMTP_SECURITY=none is for a server on this machine, not {host}: use "
                                    "starttls or ssl").format(host=self.host))
        if self.ca_file is not None and not self.ca_file.is_file():
            raise MailServerError(_("CONGVAN_SMTP_CA_FILE: {path}: no such file").format(path=self.ca_file))
        for value in (self.user, self.password.get_secret_value() if self.password else None):
            if value is not None and not value.isascii():
                raise MailServerError(_("the SMTP user and password must be ASCII (SMTP AUTH PLAIN/LOGIN via "
                                        "smtplib)"))

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
            return MailServerError(_("the mail server {where} refused the login of {user!r}: {reply}").format(
                where=where, user=self.config.user, reply=_reply(exc.smtp_code, exc.smtp_error)))
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return MailServerError(_("the mail server {where} does not support it: {reason}").format(
                where=where, reason=os_words(str(exc))))
        if isinstance(exc, ssl.SSLCertVerificationError):
            return MailServerError(_("the mail server {where} has a certificate we do not trust ({reason}); set "
                                     "CONGVAN_SMTP_CA_FILE to its CA").format(where=where, reason=exc.verify_message))
        if isinstance(exc, ssl.SSLError):
            return MailServerError(_("TLS with the mail server {where} failed: {reason}").format(
                where=where, reason=exc.reason))
        if isinstance(exc, smtplib.SMTPResponseException):
            return SmtpFailure(_reply(exc.smtp_code, exc.smtp_error), temporary=not 500 <= exc.smtp_code < 600,
                               connection_lost=True)
        cause = _os_reason(exc)
        return SmtpFailure(f"cannot reach the mail server {where}: {cause}", temporary=True,
                           connection_lost=True, unreachable=_no_connection(exc), cause=cause)

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


def unreachable_error(config: SmtpConfig, reason: str, *, cause: str | None = None) -> MailServerError:
    """The one line for a mail server that cannot be reached at all, with what to do about it. ``cause`` (the
    system's words, ``SmtpFailure.cause``): the line says it in the user's language, instead of ``reason``."""
    if cause is not None:
        reason = _("cannot reach the mail server {where}: {reason}").format(where=config.where,
                                                                           reason=os_words(cause))
    if config.host in LOOPBACK_HOSTS:
        port = "" if config.port == DEFAULT_CATCHER_PORT else f" --port {config.port}"
        hint = _("if it is congvan's mail catcher, start it with `congvan mailcatcher{port}` in another terminal; "
                 "else set CONGVAN_SMTP_HOST and CONGVAN_SMTP_PORT").format(port=port)
    else:
        hint = _("check CONGVAN_SMTP_HOST, CONGVAN_SMTP_PORT and the network")
    return MailServerError(_("{reason}; nothing numbered or sent: {hint}").format(reason=reason, hint=hint))


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
