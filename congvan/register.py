"""The outgoing register (sổ văn bản đi): a number for every issued document.

Numbers run per register and per year of the issue date: they start at 1 on 1 January, are unique,
never skipped and never reused (docs/design.md §3). A document key (campaign/step/unit) makes allocation
idempotent: allocating a key again returns the number it already has, so a rerun after a crash
reuses its numbers instead of leaving holes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from congvan.errors import NotIssuedError, StoreError
from congvan.i18n import _
from congvan.store.db import insert_ignoring_duplicates, transaction
from congvan.store.models import Document, RegisterCounter


def format_number(n: int) -> str:
    """The number as written on the letter: two digits at least (Decree 30), so 5 -> "05", 123 -> "123"."""
    if n < 1:
        raise ValueError(f"register numbers start at 1, got {n}")
    return f"{n:02d}"


@dataclass(frozen=True)
class Entry:
    """What the register says of a document besides its number: trích yếu, người ký, bản lưu."""

    summary: str
    signer: str
    archive: str


@dataclass(frozen=True)
class Allocation:
    """A document's place in the register. ``created`` is False when the key already had it."""

    number: int
    year: int
    register: str
    symbol: str
    issued_on: date
    key: str
    document_id: int
    created: bool

    @property
    def number_text(self) -> str:
        """``"05"``: the number as printed after "Số:"."""
        return format_number(self.number)

    @property
    def so_ky_hieu(self) -> str:
        """Số và ký hiệu: ``"05/UBND-KSTTHC"``."""
        return f"{self.number_text}/{self.symbol}"


def allocate(
    engine: Engine,
    *,
    key: str,
    register: str,
    symbol: str,
    issued_on: date,
    campaign: str,
    kind: str,
    unit: str | None = None,
    level: int = 0,
    entry: Entry | None = None,
) -> Allocation:
    """Give document ``key`` the next number of ``register`` for the year of ``issued_on``, recording its
    register ``entry`` with it.

    Idempotent per key: if the key is already in the register, its allocation is returned
    unchanged (``created=False``), whatever the other arguments say; but a key numbered in a
    different register raises ``StoreError``. Safe when several processes allocate at once.
    """
    for name, value in (("key", key), ("register", register), ("symbol", symbol)):
        if not value.strip():
            raise ValueError(f"{name} must not be empty")
    try:
        with transaction(engine) as session:
            return _allocate(session, key=key, register=register, symbol=symbol, issued_on=issued_on,
                             campaign=campaign, kind=kind, unit=unit, level=level, entry=entry)
    except sa_exc.IntegrityError as exc:
        # Backstop: another transaction committed the same key under a different counter (another
        # register or year), so the counter lock did not order the two. Its allocation stands.
        existing = lookup(engine, key)
        if existing is None:
            reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "constraint violated"
            raise StoreError(_("cannot record document {key!r} in register {register!r} {year}: {reason}").format(
                key=key, register=register, year=issued_on.year, reason=reason)) from exc
        _check_same_register(existing, register)
        return existing


def lookup(engine: Engine, key: str) -> Allocation | None:
    """The allocation of document ``key``, or None if it has no number yet."""
    with transaction(engine) as session:
        document = session.scalars(sa.select(Document).where(Document.key == key)).one_or_none()
        return None if document is None else _allocation(document, created=False)


def issued(engine: Engine, key: str) -> Allocation:
    """The allocation of document ``key``; ``NotIssuedError`` if it has none."""
    allocation = lookup(engine, key)
    if allocation is None:
        raise NotIssuedError(_("document {key!r} has not been issued yet: no number in the register").format(key=key))
    return allocation


def _allocate(
    session: Session,
    *,
    key: str,
    register: str,
    symbol: str,
    issued_on: date,
    campaign: str,
    kind: str,
    unit: str | None,
    level: int,
    entry: Entry | None,
) -> Allocation:
    year = issued_on.year
    _ensure_counter(session, register, year)
    # Lock the counter first, then look for the key: a concurrent allocation of the same key
    # in this register and year has committed by the time we hold the lock, so we see it.
    counter = session.scalars(
        sa.select(RegisterCounter)
        .where(RegisterCounter.register == register, RegisterCounter.year == year)
        .with_for_update()
    ).one()
    existing = session.scalars(sa.select(Document).where(Document.key == key)).one_or_none()
    if existing is not None:
        allocation = _allocation(existing, created=False)
        _check_same_register(allocation, register)
        return allocation
    counter.last_number += 1
    document = Document(key=key, campaign=campaign, kind=kind, unit=unit, level=level, register=register,
                        year=year, number=counter.last_number, symbol=symbol, issued_on=issued_on,
                        summary=entry.summary if entry else None, signer=entry.signer if entry else None,
                        archive=entry.archive if entry else None)
    session.add(document)
    session.flush()
    return _allocation(document, created=True)


def _ensure_counter(session: Session, register: str, year: int) -> None:
    values = {"register": register, "year": year, "last_number": 0}
    session.execute(insert_ignoring_duplicates(session, RegisterCounter).values(values))


def _check_same_register(allocation: Allocation, register: str) -> None:
    if allocation.register != register:
        raise StoreError(_("document {key!r} is already numbered {number} in register {register!r}; it cannot also "
                           "be numbered in {other!r}").format(key=allocation.key, number=allocation.so_ky_hieu,
                                                               register=allocation.register, other=register))


def _allocation(document: Document, *, created: bool) -> Allocation:
    if document.number is None or document.year is None or document.register is None or document.symbol is None:
        raise StoreError(_("document {key!r} is a plain mail, recorded without a number in the register").format(
            key=document.key))
    return Allocation(number=document.number, year=document.year, register=document.register,
                      symbol=document.symbol, issued_on=document.issued_on, key=document.key,
                      document_id=document.id, created=created)


@dataclass(frozen=True)
class Recorded:
    """An unnumbered item (a reminder mail) in the documents table. ``created`` is False on a rerun."""

    document_id: int
    key: str
    issued_on: date
    created: bool


def record_unnumbered(engine: Engine, *, key: str, campaign: str, kind: str, unit: str | None, level: int,
                      issued_on: date) -> Recorded:
    """Record a plain mail (no place in the register) under ``key``; idempotent like ``allocate``."""
    values = {"key": key, "campaign": campaign, "kind": kind, "unit": unit, "level": level, "issued_on": issued_on}
    with transaction(engine) as session:
        insert = insert_ignoring_duplicates(session, Document)
        inserted = session.execute(insert.values(values).returning(Document.id)).first()
        if inserted is not None:
            return Recorded(document_id=inserted[0], key=key, issued_on=issued_on, created=True)
        existing = session.scalars(sa.select(Document).where(Document.key == key)).one()
        if existing.number is not None:
            raise StoreError(_("document {key!r} is numbered in the register; it cannot be recorded as a plain mail")
                             .format(key=key))
        return Recorded(document_id=existing.id, key=key, issued_on=existing.issued_on, created=False)
