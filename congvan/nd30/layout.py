"""The components of a công văn or báo cáo found in its model, by text and position (docs/design.md §4.2).

The header block is the table holding the Quốc hiệu, read column by column (one cell per block, or a grid
with one row per line pair, read the same); the signature block is the table holding "Nơi nhận:".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from congvan.nd30.model import DocumentModel, ParaFormat

QUOC_HIEU = re.compile(r"^CỘNG H(ÒA|OÀ) XÃ HỘI CHỦ NGHĨA VIỆT NAM$")
MOTTO = re.compile(r"^Độc lập - Tự do - Hạnh phúc$")
SO_LINE = re.compile(
    r"^Số: ?(?P<n>0[1-9]|[1-9]\d+|\s*)/(?P<sym>(?:QyĐ|CTr|TTr|TrS|[A-ZĐ][A-ZĐ0-9]*)(?:-[A-ZĐ][A-ZĐ0-9]*)+)$"
)
PLACE_DATE = re.compile(
    r"^(?P<place>[^,]+), ngày (?:(?P<d>\d{1,2})|\s*) tháng (?P<m>\d{1,2}) năm (?P<y>\d{4})$"
)
LUU = re.compile(r"^- ?Lưu: VT(, [^.]+)?\.$")
AUTHORITY_PREFIXES = ("TM.", "KT.", "TL.", "TUQ.", "Q.")

DocumentKind = Literal["cong_van", "bao_cao"]
# Named documents: the printed type name (5a) and its code in the symbol (Appendix III).
TYPE_NAMES: dict[str, tuple[str, str]] = {"bao_cao": ("BÁO CÁO", "BC")}


@dataclass(frozen=True)
class Layout:
    """The công văn's components, found by text and position."""

    model: DocumentModel
    quoc_hieu: ParaFormat | None
    motto: ParaFormat | None
    issuer: tuple[ParaFormat, ...]
    so: ParaFormat | None
    vv: ParaFormat | None
    place_date: ParaFormat | None
    kinh_gui: ParaFormat | None
    recipients: tuple[ParaFormat, ...]
    body: tuple[ParaFormat, ...]
    noi_nhan: ParaFormat | None
    noi_nhan_items: tuple[ParaFormat, ...]
    signature: tuple[ParaFormat, ...]
    kind: DocumentKind = "cong_van"
    type_name: ParaFormat | None = None  # named documents: "BÁO CÁO" under the header
    summary: tuple[ParaFormat, ...] = ()  # named documents: the centred lines under the type name


def _inked(paras: Iterable[ParaFormat]) -> list[ParaFormat]:
    return [p for p in paras if p.flat]


def locate(model: DocumentModel, kind: DocumentKind = "cong_van") -> Layout:
    paras = model.paragraphs
    qh = next((p for p in paras if QUOC_HIEU.match(p.flat)), None)
    head_table = qh.location.table if qh is not None else None
    if qh is None:  # fall back on the first table holding a Số line
        so_any = next((p for p in paras if p.location.table is not None and p.flat.startswith("Số")), None)
        head_table = so_any.location.table if so_any else None

    def cell(table: int | None, row: int, col: int) -> list[ParaFormat]:
        return _inked(p for p in paras if table is not None and p.location.table == table
                      and p.location.row == row and p.location.col == col)

    def column(table: int | None, col: int) -> list[ParaFormat]:
        """A header column read top to bottom across its rows (a grid with one row per line pair reads
        the same as one cell per block)."""
        return _inked(p for p in paras if table is not None and p.location.table == table
                      and p.location.col == col)

    head = [p for p in paras if head_table is not None and p.location.table == head_table]
    so = next((p for p in head if p.flat.startswith("Số")), None)
    motto = None
    issuer: list[ParaFormat] = []
    if qh is not None:
        after = [p for p in column(qh.location.table, qh.location.col) if p.index > qh.index]
        motto = after[0] if after else None
        top_row = max(qh.location.row, motto.location.row if motto is not None else 0)
        if so is not None and so.location.table == head_table:
            top_row = min(top_row, so.location.row)
        other = 1 - qh.location.col if qh.location.col < 2 else 0
        issuer = [p for p in column(head_table, other) if p.location.row <= top_row]
    if so is not None and so in issuer:
        issuer = issuer[: issuer.index(so)]
    # issuer lines: drop a leading non-bold parent line when a bold line follows
    if len(issuer) > 1 and not issuer[0].all_bold and any(p.all_bold for p in issuer[1:]):
        issuer = issuer[1:]
    vv = None
    if so is not None:
        rest = [p for p in column(so.location.table, so.location.col) if p.index > so.index]
        vv = next((p for p in rest if p.flat.upper().startswith("V/V")), None)
    place_date = next((p for p in head if re.search(r"\bngày\b.*\btháng\b", p.flat)), None)

    after_head = [p for p in paras if p.location.table is None and
                  (not head or p.index > head[-1].index)]
    kg = next((p for p in after_head if p.flat.upper().startswith("KÍNH GỬI")), None)
    recipients: list[ParaFormat] = []
    body_start = head[-1].index if head else -1
    type_name: ParaFormat | None = None
    summary: list[ParaFormat] = []
    if kind in TYPE_NAMES:  # the type name is the first line after the header; the summary lines follow, centred
        first_line = next((p for p in after_head if p.flat), None)
        if first_line is not None and first_line.flat.upper() == TYPE_NAMES[kind][0]:
            type_name = first_line
            for p in _inked(q for q in after_head if q.index > first_line.index):
                if not p.centred:
                    break
                summary.append(p)
            body_start = (summary[-1] if summary else type_name).index
    if kg is not None:
        body_start = kg.index
        several = kg.flat.endswith(":")  # one recipient sits on the "Kính gửi:" line itself
        for p in after_head:
            if p.index <= kg.index or not p.flat:
                continue
            if not several or not p.flat.startswith("-"):
                break
            recipients.append(p)
            body_start = p.index

    nn = next((p for p in paras if p.location.table is not None and
               p.flat.rstrip(":").strip().lower() == "nơi nhận"), None)
    nn_items: list[ParaFormat] = []
    signature: list[ParaFormat] = []
    sign_table = nn.location.table if nn is not None else None
    if nn is not None:
        nn_items = [p for p in cell(sign_table, nn.location.row, nn.location.col) if p.index > nn.index]
        signature = cell(sign_table, nn.location.row, nn.location.col + 1)
    sign_start = min((p.index for p in paras if sign_table is not None and p.location.table == sign_table),
                     default=len(paras))
    body = [p for p in paras if p.location.table is None and body_start < p.index < sign_start and p.flat
            and p.location.part == "body"]
    return Layout(model=model, quoc_hieu=qh, motto=motto, issuer=tuple(issuer), so=so, vv=vv,
                  place_date=place_date, kinh_gui=kg, recipients=tuple(recipients), body=tuple(body),
                  noi_nhan=nn, noi_nhan_items=tuple(nn_items), signature=tuple(signature),
                  kind=kind, type_name=type_name, summary=tuple(summary))
