"""Reading delivery reports (RFC 3464) and read receipts (RFC 8098) with the standard library.

A report is untrusted mail: anyone can write one. ``parse`` only says what a message claims, per
recipient: which of our messages it is about (the envelope id we sent as ``ENVID``, the Message-ID of
the returned headers, the ``Original-Message-ID`` of a receipt) and what happened to which address.
Whether the claim fits a ledger row is for ``congvan.bounces`` to decide. Whatever cannot be read
safely (too big, nested too deep, malformed MIME, HTML only) is ``UnreadableReport`` with one line saying why.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import Message
from typing import Literal

from congvan.errors import UnreadableReport
from congvan.i18n import _

# A DSN asked for with RET=HDRS is a few kB; a foreign bounce may carry the whole message back
# (our letters are a few hundred kB). Anything larger is not read.
MAX_REPORT_BYTES = 10 * 1024 * 1024
MAX_PARTS = 200  # MIME parts in one report
MAX_DEPTH = 8  # nesting of multiparts and attached messages

Kind = Literal["bounced", "delayed", "displayed", "delivered", "other"]
_MSG_ID = re.compile(r"<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}")
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster")


@dataclass(frozen=True)
class Claim:
    """What a report says about one recipient of one of our messages."""

    address: str  # lower-cased; the Original-Recipient when given, else the Final-Recipient
    also: str | None  # the Final-Recipient when it differs from ``address``
    kind: Kind
    code: str | None  # "5.1.1"; None for a read receipt
    detail: str  # the diagnostic, or the disposition, on one line


@dataclass(frozen=True)
class Report:
    """A parsed report: ``standard`` for RFC 3464/8098, else a bounce in free text."""

    report_id: str  # its own Message-ID, or "" when it has none
    standard: bool
    message_ids: tuple[str, ...]  # the ids of ours it names (ENVID as <…>, returned Message-ID), in order
    claims: tuple[Claim, ...]
    sender: str  # its From address, lower-cased


def parse(raw: bytes) -> Report | None:
    """The report ``raw`` carries; None when it is not a report at all (an ordinary reply).
    ``UnreadableReport`` when it cannot be read safely."""
    if len(raw) > MAX_REPORT_BYTES:
        raise UnreadableReport(_("{size} MB is larger than any delivery report ({most} MB at most): not read").format(
            size=len(raw) // (1024 * 1024), most=MAX_REPORT_BYTES // (1024 * 1024)))
    if raw.lower().count(b"content-type:") > MAX_PARTS:
        raise UnreadableReport(_("more than {count} MIME parts: not read").format(count=MAX_PARTS))
    try:
        msg = email.message_from_bytes(raw, policy=policy.compat32)
        parts = list(_walk(msg, 0))
    except RecursionError:
        raise UnreadableReport(_("MIME nested more than {depth} levels deep: not read").format(depth=MAX_DEPTH)) \
            from None
    except (ValueError, TypeError, LookupError, AttributeError) as exc:
        raise UnreadableReport(_("malformed MIME ({error}): not read").format(error=type(exc).__name__)) from None
    report_id = _header(msg, "Message-ID")
    sender = _first_address(_header(msg, "From"))
    types = [p.get_content_type() for p, _ in parts]
    if "message/delivery-status" in types or "message/disposition-notification" in types:
        return _standard(msg, parts, report_id, sender)
    if not any(t == "text/plain" for t in types):
        if any(t == "text/html" for t in types):
            raise UnreadableReport(_("HTML only, no delivery-status part and no plain text: not read as a report"))
        return None
    return _free_text(msg, parts, report_id, sender)


def _walk(part: Message, depth: int) -> Iterator[tuple[Message, int]]:
    """Every part with its depth, without descending into the field blocks of a report."""
    if depth > MAX_DEPTH:
        raise RecursionError
    yield part, depth
    kind = part.get_content_type()
    if kind in ("message/delivery-status", "message/disposition-notification"):
        return
    payload = part.get_payload()
    if part.is_multipart() and isinstance(payload, list):
        for sub in payload:
            if not isinstance(sub, Message):
                raise ValueError("a multipart with a part that is not a message")
            yield from _walk(sub, depth + 1)


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    return " ".join(str(value).split())[:1000]


def _first_address(value: str) -> str:
    found = _ADDRESS.search(value)
    return found.group(0).lower() if found else ""


def _typed_address(value: str) -> str | None:
    """``rfc822; a@b`` → ``a@b``; other address types are not ours to match."""
    kind, sep, address = value.partition(";")
    if not sep or kind.strip().lower() != "rfc822":
        return None
    address = address.strip().strip("<>").strip().lower()
    return address if _ADDRESS.fullmatch(address) else None


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if not isinstance(payload, list):
        raise UnreadableReport(_("a {kind} part that cannot be read as fields: not read").format(
            kind=part.get_content_type()))
    blocks = [b for b in payload if isinstance(b, Message)]
    if len(blocks) != len(payload):
        raise UnreadableReport(_("a {kind} part that cannot be read as fields: not read").format(
            kind=part.get_content_type()))
    return blocks


def _returned_ids(parts: list[tuple[Message, int]]) -> list[str]:
    """The Message-ID of the message a report returns (text/rfc822-headers or message/rfc822)."""
    found: list[str] = []
    for part, _depth in parts:
        kind = part.get_content_type()
        if kind == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else ""
            headers = email.message_from_string(text.split("\n\n", 1)[0] + "\n\n", policy=policy.compat32)
            value = _header(headers, "Message-ID")
        elif kind == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            value = _header(first, "Message-ID") if isinstance(first, Message) else ""
        else:
            continue
        match = _MSG_ID.search(value)
        if match and match.group(0) not in found:
            found.append(match.group(0))
    return found


def _standard(msg: Message, parts: list[tuple[Message, int]], report_id: str, sender: str) -> Report:
    ids: list[str] = []
    claims: list[Claim] = []
    for part, _depth in parts:
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            blocks = _blocks(part)
            if not blocks:
                raise UnreadableReport(_("an empty message/delivery-status part: not read"))
            envid = _header(blocks[0], "Original-Envelope-Id")
            if envid:
                candidate = f"<{envid.strip('<>')}>"
                if _MSG_ID.fullmatch(candidate) and candidate not in ids:
                    ids.append(candidate)
            claims += [c for c in (_dsn_claim(b) for b in blocks[1:]) if c is not None]
        elif kind == "message/disposition-notification":
            for block in _blocks(part)[:1]:
                original = _MSG_ID.search(_header(block, "Original-Message-ID"))
                if original and original.group(0) not in ids:
                    ids.append(original.group(0))
                claim = _mdn_claim(block)
                if claim is not None:
                    claims.append(claim)
    ids += [i for i in _returned_ids(parts) if i not in ids]
    return Report(report_id=report_id, standard=True, message_ids=tuple(ids), claims=tuple(claims), sender=sender)


def _dsn_claim(block: Message) -> Claim | None:
    final = _typed_address(_header(block, "Final-Recipient"))
    original = _typed_address(_header(block, "Original-Recipient"))
    address = original or final
    if address is None:
        return None
    action = _header(block, "Action").lower()
    status = _STATUS.search(_header(block, "Status"))
    code = status.group(0) if status else None
    kind: Kind
    if action == "failed":
        kind = "bounced" if code is None or code.startswith("5") else "delayed"
    elif action == "delayed":
        kind = "delayed"
    elif action in ("delivered", "relayed", "expanded"):
        kind = "delivered"
    else:
        kind = "other"
    detail = _header(block, "Diagnostic-Code") or _header(block, "Status") or action
    return Claim(address=address, also=final if final and final != address else None, kind=kind, code=code,
                 detail=detail[:500])


def _mdn_claim(block: Message) -> Claim | None:
    final = _typed_address(_header(block, "Final-Recipient"))
    original = _typed_address(_header(block, "Original-Recipient"))
    address = original or final
    if address is None:
        return None
    disposition = _header(block, "Disposition")
    shown = disposition.rpartition(";")[2].strip().lower()
    kind: Kind = "displayed" if shown.split("/")[0] == "displayed" else "other"
    return Claim(address=address, also=final if final and final != address else None, kind=kind, code=None,
                 detail=disposition[:500])


def _free_text(msg: Message, parts: list[tuple[Message, int]], report_id: str, sender: str) -> Report | None:
    """A bounce without a delivery-status part (an old or odd server). Only a message from a mailer
    daemon or postmaster counts, and only the addresses and Message-IDs its text names: ``bounces``
    then requires both to be ours."""
    local = sender.partition("@")[0]
    if local not in _BOUNCE_SENDERS:
        return None
    text = ""
    for part, _depth in parts:
        if part.get_content_type() in ("text/plain", "text/rfc822-headers"):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                text += data.decode("utf-8", "replace") + "\n"
    text = text[:200_000]
    ids = list(dict.fromkeys(_MSG_ID.findall(text)))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    claims: list[Claim] = []
    seen: set[str] = set()
    for line in lines:
        status = _STATUS.search(line)
        if not (status and status.group(0).startswith("5")) and not re.search(r"\b5\d\d\b", line):
            continue
        for address in _ADDRESS.findall(line):
            key = address.lower().strip(".")
            if key in seen or key == sender:
                continue
            seen.add(key)
            claims.append(Claim(address=key, also=None, kind="bounced",
                                code=status.group(0) if status else "5.0.0", detail=line[:500]))
    return Report(report_id=report_id, standard=False, message_ids=tuple(ids), claims=tuple(claims), sender=sender)
