"""A local SMTP server that keeps every message it accepts as an .eml file (``congvan mailcatcher``,
docs/design.md §5.3, §7): ``server.py`` the SMTP server and the real servers' behaviours it simulates,
``storage.py`` the mailbox folder (exact bytes, envelope sidecar, file names by date, unit and kind).
"""

from __future__ import annotations

from congvan.errors import MailCatcherError
from congvan.mailcatcher.server import ACCEPTED, CatcherOptions, MailCatcher, delivery_report, serve_forever
from congvan.mailcatcher.storage import (
    EML_SUFFIX,
    ENVELOPE_SUFFIX,
    RETURNED_DIR,
    StoredMessage,
    default_mailbox,
    read_mailbox,
    returned_labels,
    store_message,
)

__all__ = [
    "ACCEPTED",
    "EML_SUFFIX",
    "ENVELOPE_SUFFIX",
    "RETURNED_DIR",
    "CatcherOptions",
    "MailCatcher",
    "MailCatcherError",
    "StoredMessage",
    "default_mailbox",
    "delivery_report",
    "read_mailbox",
    "returned_labels",
    "serve_forever",
    "store_message",
]
