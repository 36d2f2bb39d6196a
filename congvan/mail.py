"""Mail in one import (docs/design.md §5): composing a message exactly (``congvan.mail_compose``) and the SMTP
connection that sends it (``congvan.mail_transport``).

congvan's own modules import from those two; this keeps ``from congvan.mail import …`` working for the rest.
Importing it loads yagmail (the transport): a module that only composes imports ``congvan.mail_compose``.
"""

from __future__ import annotations

from congvan.mail_compose import WIRE_POLICY, Attachment, Mailbox, Outgoing, compose, encode_words, new_message_id
from congvan.mail_transport import (
    DEFAULT_CATCHER_PORT,
    LOOPBACK_HOSTS,
    Security,
    SmtpConfig,
    SmtpFailure,
    SmtpSession,
    envelope_id,
    unreachable_error,
    xtext,
)

__all__ = [
    "DEFAULT_CATCHER_PORT",
    "LOOPBACK_HOSTS",
    "WIRE_POLICY",
    "Attachment",
    "Mailbox",
    "Outgoing",
    "Security",
    "SmtpConfig",
    "SmtpFailure",
    "SmtpSession",
    "compose",
    "encode_words",
    "envelope_id",
    "new_message_id",
    "unreachable_error",
    "xtext",
]
