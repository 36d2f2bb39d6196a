"""The outgoing register as the office keeps it (sổ văn bản đi, docs/design.md §3).

Which book a document is numbered in (one per authority, or one per kind of document where the office
keeps công văn and báo cáo apart: ``books`` in authorities.yaml), what its register entry says (trích yếu,
người ký, bản lưu: recorded with the number), starting a book at the office's current number, and the
rows of the printed register.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan.config import LoadedCampaign, load_authorities, load_campaign
from congvan.errors import CongVanError, RegisterError, StoreError
from congvan.i18n import _
from congvan.register import Entry, format_number
from congvan.store.db import transaction
from congvan.store.models import Delivery, DeliveryStatus, Document, RegisterCounter
from congvan.vndate import VIETNAM

Book = Literal["cong_van", "bao_cao"]
# The kinds of document congvan numbers, their book and the name of their type (tên loại).
BOOK_OF_KIND: dict[str, Book] = {"dispatch": "cong_van", "letter": "cong_van", "report": "bao_cao"}
TYPE_NAME: dict[Book, str] = {"cong_van": "Công văn", "bao_cao": "Báo cáo"}
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_NAMES = 12  # recipients named in a row of the printed register; the rest are counted


def register_name(lc: LoadedCampaign, kind: str) -> str:
    """The book a document of ``kind`` of this campaign is numbered in."""
    return lc.authority.books.get(BOOK_OF_KIND[kind], lc.authority_key)


def known_registers(config_dir: Path) -> dict[str, str]:
    """Every register the configured authorities number in, with the authority's name."""
    known: dict[str, str] = {}
    for key, authority in load_authorities(config_dir).items():
        known[key] = authority.name
        for book, name in authority.books.items():
            known[name] = f"{authority.name} ({TYPE_NAME[book].lower()})"
    return known


def entry_for(lc: LoadedCampaign, kind: str, level: int = 0) -> Entry:
    """The entry of the campaign's dispatch (``level`` 0), its follow-up letter or its report at ``level``
    (the step's 1-based place in the ladder), as the letter itself prints them."""
    camp = lc.campaign
    if kind == "dispatch":
        return Entry("V/v " + " ".join(camp.summary), lc.signer.name, camp.luu)
    follow_up = camp.follow_up
    if follow_up is None or not 1 <= level <= len(follow_up.ladder):
        raise RegisterError(_("campaign {campaign} has no follow-up step at level {level}").format(campaign=lc.name,
                                                                                                  level=level))
    step = follow_up.ladder[level - 1]
    signer = lc.authority.signers.get(step.signer or camp.signer, lc.signer)
    if kind == "report":
        return Entry(f"kết quả thực hiện việc {' '.join(camp.summary)}", signer.name, camp.luu)
    from congvan.letters import step_summary  # letters imports the renderer: only needed here

    return Entry("V/v " + " ".join(step_summary(lc, step)), signer.name, f"VT, {lc.drafting_unit}")


# --- starting a book at the office's number ------------------------------------------------------------


@dataclass(frozen=True)
class NextNumber:
    register: str
    year: int
    next_number: int
    previous_next: int
    highest_issued: int | None


def set_next(engine: Engine, register: str, year: int, number: int) -> NextNumber:
    """Make ``number`` the next number congvan gives in ``register`` for ``year``: an office adopting
    congvan in May has already issued numbers by hand. Refused at or below a number congvan issued there."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise RegisterError(_("year {year} is not a plausible year ({low}–{high})").format(year=year, low=MIN_YEAR,
                                                                                           high=MAX_YEAR))
    if number < 1:
        raise RegisterError(_("register numbers start at 1, not {number}").format(number=number))
    with transaction(engine) as session:
        counter = session.get(RegisterCounter, (register, year), with_for_update=True)
        if counter is None:
            counter = RegisterCounter(register=register, year=year, last_number=0)
            session.add(counter)
        highest = session.scalar(sa.select(sa.func.max(Document.number))
                                 .where(Document.register == register, Document.year == year))
        if highest is not None and number <= highest:
            raise RegisterError(_("register {register} {year} has already issued number {highest} in congvan: the "
                                  "next number must be above it, not {number} (nothing was changed)").format(
                register=register, year=year, highest=format_number(highest), number=format_number(number)))
        previous = counter.last_number + 1
        counter.last_number = number - 1
        counter.first_number = number if highest is None else counter.first_number
        counter.updated_at = dt.datetime.now(dt.UTC)
        return NextNumber(register, year, number, previous, highest)


# --- the rows of the printed register -----------------------------------------------------------------


@dataclass(frozen=True)
class RegisterRow:
    """One issued document as Decree 30's register of outgoing documents lists it."""

    register: str
    so_ky_hieu: str
    ngay: dt.date
    ten_loai_trich_yeu: str
    nguoi_ky: str
    noi_nhan: str
    ban_luu: str
    so_luong_ban: int
    ngay_chuyen: dt.date | None
    ghi_chu: str


def register_rows(engine: Engine, *, config_dir: Path, year: int | None = None) -> list[RegisterRow]:
    """Every numbered document of ``year`` (default: all years), book by book, in number order.
    Entries recorded before the register kept them (revision 0002) are completed from the campaign."""
    query = sa.select(Document).where(Document.number.is_not(None))
    if year is not None:
        query = query.where(Document.year == year)
    query = query.order_by(Document.register, Document.year, Document.number)
    with transaction(engine) as session:
        documents = list(session.scalars(query))
        deliveries: dict[int, list[Delivery]] = {}
        ids = [d.id for d in documents]
        for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
            for delivery in session.scalars(sa.select(Delivery).where(Delivery.document_id.in_(chunk))
                                            .order_by(Delivery.id)):
                deliveries.setdefault(delivery.document_id, []).append(delivery)
    campaigns: dict[str, LoadedCampaign | None] = {}
    return [_row(d, deliveries.get(d.id, []), _campaign(campaigns, config_dir, d.campaign)) for d in documents]


def _campaign(cache: dict[str, LoadedCampaign | None], config_dir: Path, name: str) -> LoadedCampaign | None:
    if name not in cache:
        try:
            cache[name] = load_campaign(config_dir, name)
        except CongVanError:
            cache[name] = None
    return cache[name]


def _row(document: Document, deliveries: list[Delivery], lc: LoadedCampaign | None) -> RegisterRow:
    if document.number is None or document.symbol is None or document.register is None:
        raise StoreError(_("document {key!r} has no number in the register").format(key=document.key))
    notes: list[str] = []
    entry = Entry(document.summary or "", document.signer or "", document.archive or "")
    if document.summary is None:  # numbered before entries were recorded: the campaign says what it was
        with contextlib.suppress(RegisterError):
            entry = entry_for(lc, document.kind, document.level) if lc is not None else entry
        if lc is None:
            notes.append(f"cấu hình chiến dịch {document.campaign} không còn")
    book = BOOK_OF_KIND.get(document.kind, "cong_van")
    names = list(dict.fromkeys(d.display_name for d in deliveries))
    if document.kind == "dispatch" and lc is not None:  # as the letter's "Kính gửi" says, not 1,000 names
        names = list(lc.kinh_gui) + [n for n in names if n not in {a.unit.name for a in lc.addressees}]
    if len(names) > MAX_NAMES:
        names = [*names[:MAX_NAMES], f"và {len(names) - MAX_NAMES} nơi nhận khác"]
    sent = [d for d in deliveries if d.status is DeliveryStatus.SENT and d.sent_at is not None]
    unsent = len(deliveries) - len(sent)
    if deliveries:
        notes.insert(0, "gửi qua thư điện tử")
    if unsent:
        notes.append(f"{unsent} địa chỉ chưa gửi được")
    first_sent = min((d.sent_at for d in sent if d.sent_at is not None), default=None)
    return RegisterRow(
        register=document.register,
        so_ky_hieu=f"{format_number(document.number)}/{document.symbol}",
        ngay=document.issued_on,
        ten_loai_trich_yeu=f"{TYPE_NAME[book]} {entry.summary}".strip(),
        nguoi_ky=entry.signer,
        noi_nhan="; ".join(names),
        ban_luu=entry.archive,
        so_luong_ban=len(deliveries),
        ngay_chuyen=_local_day(first_sent) if first_sent is not None else None,
        ghi_chu="; ".join(notes),
    )


def _local_day(moment: dt.datetime) -> dt.date:
    if moment.tzinfo is None:  # SQLite returns naive datetimes: they were stored in UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(VIETNAM).date()
