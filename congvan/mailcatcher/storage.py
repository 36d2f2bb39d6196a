"""The mail catcher's mailbox on disk: how each message is stored, named and read back (docs/design.md §5.3).

One message = two files in the mailbox folder (default ``$CONGVAN_OUTPUT_DIR/mailbox``):

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
prefixed with ``bao-loi-``. The names sort by date and unit; ``read_mailbox`` lists by arrival.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import Any

from congvan.errors import MailCatcherError
from congvan.i18n import _
from congvan.mail_labels import MailLabels, read_labels, slug
from congvan.settings import Settings
from congvan.vndate import VIETNAM

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
class StoredMessage:
    """One message in the mailbox: its file, envelope and exact bytes."""

    path: Path
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes = field(repr=False)

    def message(self) -> EmailMessage:
        return parse_message(self.raw)

    @property
    def labels(self) -> MailLabels | None:
        """What the message says it is (unit, kind, number), from its X-Congvan-* headers; None without them."""
        return _labels(self.raw)


def parse_message(raw: bytes) -> EmailMessage:
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


def read_mailbox(mailbox: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Each .eml in ``mailbox`` with its envelope ({} when unreadable), in order of arrival: the names
    sort by date and unit, not by time."""
    if not mailbox.is_dir():
        return []
    entries = []
    for path in mailbox.iterdir():
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
