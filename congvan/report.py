"""The compliance report (báo cáo) to leadership: a Decree-30 .docx with the table and a chart, plus an .xlsx.

    files = write_report(lc, compliance, templates_dir=..., out_dir=..., allocation=None, dispatch=dispatch)
    files.docx, files.xlsx, files.chart

Units are listed worst first (lowest response rate, then most people missing). A unit with nobody on
its roster shows "-" as its rate and is left out of the chart: it has nothing to chase.

The chart (congvan.report_chart) is a PNG put in place of the template's CHART_MARKER paragraph; the .xlsx
is congvan.report_workbook; the order and the numbers as Vietnamese text, congvan.report_rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from congvan.compliance import Compliance, UnitCompliance
from congvan.config import LoadedCampaign, Signer
from congvan.documents import heading
from congvan.errors import ConfigError, Problem, TemplateError
from congvan.i18n import _
from congvan.register import Allocation
from congvan.render import load_template, write_atomically
from congvan.report_chart import (  # noqa: F401  (re-exported: the report's chart)
    CHART_FONTS,
    CHART_MARKER,
    COLOUR_LATE,
    COLOUR_OK,
    chart_font,
    insert_chart,
    write_chart,
)
from congvan.report_rows import percent_number, threshold_text, worst_first
from congvan.report_workbook import write_workbook
from congvan.vndate import short_date

REPORT_TEMPLATE = "bao_cao.docx"
TYPE_CODE = "BC"  # Báo cáo, Decree 30 Appendix III
LISTED_LATE = 10  # the body names at most this many late units; the table has them all


@dataclass(frozen=True)
class ReportFiles:
    docx: Path
    xlsx: Path
    chart: Path


def _join_vi(items: Sequence[str]) -> str:
    """"A", "A và B", "A, B và C"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " và " + items[-1]


# --- the data ---------------------------------------------------------------------------------------


def _threshold(lc: LoadedCampaign, compliance: Compliance) -> float:
    if compliance.units:
        return compliance.units[0].threshold
    return lc.campaign.follow_up.threshold if lc.campaign.follow_up else 1.0


def report_symbol(lc: LoadedCampaign) -> str:
    """The ký hiệu of the campaign authority's báo cáo, e.g. "BC-UBND" (for ``register.allocate``)."""
    return f"{TYPE_CODE}-{lc.authority.abbreviation}"


def report_stem(lc: LoadedCampaign, compliance: Compliance, allocation: Allocation | None) -> str:
    """The file name shared by the .docx, .xlsx and .png (as documents.dispatch_filename names letters)."""
    if allocation is None:
        return f"{lc.name}_bao-cao_{compliance.as_of.isoformat()}_du-thao"
    safe_symbol = re.sub(r"[^A-Za-z0-9-]", "_", allocation.symbol)
    return f"{lc.name}_bao-cao_{allocation.number_text}-{safe_symbol}_{allocation.year}"


def _signer(lc: LoadedCampaign, key: str | None) -> Signer:
    if key is None:
        return lc.signer
    try:
        return lc.authority.signers[key]
    except KeyError:
        known = ", ".join(sorted(lc.authority.signers))
        raise ConfigError([Problem(str(lc.path), "follow_up.ladder.signer",
                                   _("unknown signer {signer!r} of {authority} (known: {known})").format(
                                       signer=key, authority=lc.authority_key, known=known))]) from None


def _dispatch_ref(lc: LoadedCampaign, dispatch: Allocation | None) -> str:
    """The dispatch as first cited (Decree 30 B8): type, number, date, issuer."""
    if dispatch is None:
        return f"Công văn của {lc.authority.name}"
    return f"Công văn số {dispatch.so_ky_hieu} ngày {short_date(dispatch.issued_on)} của {lc.authority.name}"


def _body(lc: LoadedCampaign, compliance: Compliance, rows: Sequence[UnitCompliance],
          dispatch: Allocation | None) -> list[str]:
    camp = lc.campaign
    day = short_date(compliance.as_of)
    threshold = threshold_text(_threshold(lc, compliance))
    deadline = f" (thời hạn hoàn thành: ngày {short_date(camp.follow_up.deadline)})" if camp.follow_up else ""
    opening = (f"Thực hiện {_dispatch_ref(lc, dispatch)} về việc {' '.join(camp.summary)}{deadline}, "
               f"tính đến hết ngày {day}")
    late = [u for u in rows if not u.compliant]
    n = len(rows)
    if compliance.required == 0:
        return [f"{opening}, chưa có cán bộ, công chức nào thuộc diện phải trả lời phiếu."]
    overall = percent_number(compliance.responded / compliance.required)
    first = (f"{opening}, có {compliance.responded}/{compliance.required} cán bộ, công chức thuộc {n} đơn vị "
             f"đã trả lời phiếu (đạt {overall}%); ")
    if late:
        first += f"{len(late)}/{n} đơn vị chưa hoàn thành (tỷ lệ trả lời dưới {threshold})."
        names = [f"{u.name} ({percent_number(u.rate)}%)" for u in late[:LISTED_LATE]]
        if len(late) > LISTED_LATE:
            names.append(f"{len(late) - LISTED_LATE} đơn vị khác (chi tiết tại bảng dưới đây)")
            return [first, f"Các đơn vị có tỷ lệ trả lời thấp nhất: {_join_vi(names)}."]
        return [first, f"Các đơn vị chưa hoàn thành gồm: {_join_vi(names)}."]
    return [first + f"tất cả các đơn vị đã hoàn thành (tỷ lệ trả lời từ {threshold} trở lên)."]


def _row(i: int, u: UnitCompliance) -> dict[str, str]:
    return {"stt": str(i), "ten": u.name, "phai": str(u.required), "da": str(u.responded),
            "ty_le": percent_number(u.rate) if u.required else "-", "chua": str(u.required - u.responded)}


def _noi_nhan(lc: LoadedCampaign) -> list[str]:
    """Leadership named in the follow-up, else the dispatch's list without "Như trên" (no Kính gửi here)."""
    follow = lc.campaign.follow_up
    if follow is not None and follow.leadership:
        return [person.name for person in follow.leadership]
    return [item for item in lc.campaign.noi_nhan if item.strip().lower() != "như trên"]


def report_context(lc: LoadedCampaign, compliance: Compliance, allocation: Allocation | None = None, *,
                   dispatch: Allocation | None = None, signer: str | None = None,
                   planned: dt.date | None = None) -> dict[str, Any]:
    """What bao_cao.docx needs. Without ``allocation`` (the report's own number) it is a draft dated
    ``planned`` (default: the as-of day). ``dispatch`` is the công văn being followed up, cited in the
    opening sentence; ``signer`` a key of the authority's signers (default: the campaign's)."""
    camp = lc.campaign
    rows = worst_first(compliance.units)
    who = _signer(lc, signer)
    summary = f"Kết quả thực hiện việc {' '.join(camp.summary)}"
    missing = compliance.required - compliance.responded
    closing = [f"Danh sách {missing} cán bộ, công chức chưa trả lời phiếu được gửi kèm theo Báo cáo này "
               "(tệp Excel)."] if missing else []
    closing.append(f"Trên đây là báo cáo kết quả trả lời phiếu của các đơn vị tính đến hết ngày "
                   f"{short_date(compliance.as_of)}./.")
    total = {"phai": str(compliance.required), "da": str(compliance.responded), "chua": str(missing),
             "ty_le": percent_number(compliance.responded / compliance.required) if compliance.required else "-"}
    return heading(lc, symbol=report_symbol(lc), allocation=allocation, planned=planned or compliance.as_of) | {
        "trich_yeu": [summary],
        "tieu_de": f"Báo cáo {summary[:1].lower()}{summary[1:]}",
        "noi_dung": _body(lc, compliance, rows, dispatch),
        "dan_bang": "Kết quả cụ thể theo từng đơn vị (xếp theo tỷ lệ trả lời từ thấp đến cao) như sau:",
        "don_vi": [_row(i, u) for i, u in enumerate(rows, start=1)],
        "tong": total,
        "ket_luan": closing,
        "noi_nhan": _noi_nhan(lc),
        "luu": camp.luu,
        "tham_quyen": list(who.lines),
        "nguoi_ky": who.name,
    }


# --- the report -------------------------------------------------------------------------------------


def _template_path(templates_dir: Path, name: str) -> Path:
    if "/" in name or "\\" in name or name.startswith(".") or not name.endswith(".docx"):
        raise TemplateError(_("must be a .docx file name inside the templates folder"), template=Path(name))
    return templates_dir / name


def write_report(lc: LoadedCampaign, compliance: Compliance, *, templates_dir: Path, out_dir: Path,
                 allocation: Allocation | None = None, dispatch: Allocation | None = None,
                 signer: str | None = None, planned: dt.date | None = None,
                 template: str = REPORT_TEMPLATE, receipts: Mapping[str, str] | None = None) -> ReportFiles:
    """Write the report (.docx), its data (.xlsx) and the chart (.png) into ``out_dir``.

    ``allocation`` is the report's number from the register (kind "report", symbol ``report_symbol(lc)``);
    without it the report is a draft with a blank number. ``dispatch`` is the công văn followed up.
    """
    compiled = load_template(_template_path(templates_dir, template))
    context = report_context(lc, compliance, allocation, dispatch=dispatch, signer=signer, planned=planned)
    stem = report_stem(lc, compliance, allocation)
    chart = write_chart(compliance.units, out_dir / f"{stem}.png", as_of=compliance.as_of)
    xlsx = write_workbook(lc, compliance, out_dir / f"{stem}.xlsx", receipts)
    rendered = compiled.render_bytes(context)
    description = f"Biểu đồ tỷ lệ trả lời phiếu theo đơn vị, tính đến hết ngày {short_date(compliance.as_of)}"
    docx_path = out_dir / f"{stem}.docx"
    write_atomically(docx_path, insert_chart(rendered, chart, template=compiled.path, description=description))
    return ReportFiles(docx=docx_path, xlsx=xlsx, chart=chart)
