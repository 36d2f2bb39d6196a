"""The compliance report (báo cáo) to leadership: a Decree-30 .docx with the table and a chart, plus an .xlsx.

    files = write_report(lc, compliance, templates_dir=..., out_dir=..., allocation=None, dispatch=dispatch)
    files.docx, files.xlsx, files.chart

Units are listed worst first (lowest response rate, then most people missing). A unit with nobody on
its roster shows "-" as its rate and is left out of the chart: it has nothing to chase.

The chart is a PNG drawn with matplotlib's Agg canvas (no pyplot, no GUI backend). congvan.render
compiles templates itself and has no image support, so the rendered .docx is reopened with python-docx
and the picture replaces the template's CHART_MARKER paragraph: python-docx then writes the media part,
its relationship and content type, and a unique drawing id, which are the fiddly parts.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import textwrap
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import matplotlib
from docx.shared import Emu, Mm
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from congvan.compliance import Compliance, UnitCompliance
from congvan.config import LoadedCampaign, Signer
from congvan.documents import heading
from congvan.errors import ConfigError, Problem, TemplateError
from congvan.i18n import _
from congvan.register import Allocation
from congvan.render import load_template, write_atomically
from congvan.text import clean
from congvan.vndate import short_date

REPORT_TEMPLATE = "bao_cao.docx"
CHART_MARKER = "[BIỂU ĐỒ]"  # the paragraph of bao_cao.docx the chart replaces (templates/make_bao_cao.py)
TYPE_CODE = "BC"  # Báo cáo, Decree 30 Appendix III

HEADERS = ("STT", "Đơn vị", "Số phải trả lời", "Đã trả lời", "Tỷ lệ (%)", "Chưa trả lời")
MISSING_HEADERS = ("Đơn vị", "Mã cán bộ", "Họ và tên", "Chức vụ")
RECEIPT_HEADER = "Nhận công văn"
# The dispatch's delivery status per unit (congvan.bounces.UnitDelivery) as the report says it.
RECEIPT_TEXT = {"pending": "Chưa gửi", "sent": "Đã gửi", "delayed": "Đang chuyển (chậm)", "displayed": "Đã đọc",
                "bounced": "Bị trả lại", "failed_permanent": "Không gửi được"}
SUMMARY_SHEET, MISSING_SHEET = "Tổng hợp", "Chưa trả lời"
PERCENT_FORMAT = "0.0%"

# Chart: drawn at the width it is printed (150 mm of the 165 mm text width), so 9 pt is 9 pt on paper.
CHART_WIDTH = Mm(150)
CHART_MAX_HEIGHT = Mm(225)  # a long chart gets a page to itself (the text height is 257 mm), never more
CHART_DPI = 180
CHART_FONTS = ("Liberation Serif", "Times New Roman", "DejaVu Serif")  # DejaVu ships with matplotlib
COLOUR_OK, COLOUR_LATE = "#4f81bd", "#c0392b"
LISTED_LATE = 10  # the body names at most this many late units; the table has them all
HATCH_LATE = "///"  # tells the bars apart on a black-and-white printout too
_CHART_LOCK = threading.Lock()  # rc_context changes process-wide settings; Prefect runs tasks in threads


@dataclass(frozen=True)
class ReportFiles:
    docx: Path
    xlsx: Path
    chart: Path


# --- numbers as Vietnamese text --------------------------------------------------------------------


def percent_number(rate: float) -> str:
    """0.857 -> "85,7" (Vietnamese decimal comma, one decimal)."""
    return f"{rate * 100:.1f}".replace(".", ",")


def threshold_text(threshold: float) -> str:
    """0.8 -> "80%", 0.855 -> "85,5%"."""
    value = threshold * 100
    return f"{value:.0f}%" if abs(value - round(value)) < 1e-9 else f"{value:.1f}%".replace(".", ",")


def _join_vi(items: Sequence[str]) -> str:
    """"A", "A và B", "A, B và C"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " và " + items[-1]


# --- the data ---------------------------------------------------------------------------------------


def worst_first(units: Sequence[UnitCompliance]) -> list[UnitCompliance]:
    """Lowest response rate first, then the most people missing; ties keep units.yaml order."""
    return sorted(units, key=lambda u: (u.rate, -(u.required - u.responded)))


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


# --- chart ------------------------------------------------------------------------------------------


def chart_font() -> str:
    """The first installed of CHART_FONTS: all have Vietnamese glyphs; Liberation Serif matches Times."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CHART_FONTS if name in installed), CHART_FONTS[-1])


def write_chart(units: Sequence[UnitCompliance], out: Path, *, as_of: dt.date) -> Path:
    """A horizontal bar chart of the response rate per unit, worst at the top, threshold dashed."""
    rows = [u for u in worst_first(units) if u.required]
    threshold = units[0].threshold if units else 1.0
    n = max(len(rows), 1)
    height = min(max(1.7 + 0.3 * n, 3.0), 9.8)  # inches, capped at a page (36 units still get 0.22 in a bar)
    small = 9.0 if n <= 25 else 8.0
    wrap = 34 if n <= 15 else 80  # two-line names only while the bars are tall enough for them
    font = chart_font()
    buf = io.BytesIO()
    with _CHART_LOCK, matplotlib.rc_context({"font.family": "serif", "font.serif": [font, "DejaVu Serif"],
                                             "font.size": small, "axes.unicode_minus": False}):
        fig = Figure(figsize=(CHART_WIDTH.inches, height), dpi=CHART_DPI)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.set_title(f"Tỷ lệ cán bộ, công chức đã trả lời phiếu theo đơn vị\n"
                     f"(tính đến hết ngày {short_date(as_of)})", fontsize=11, fontweight="bold")
        if rows:
            y = list(range(len(rows)))
            values = [u.rate * 100 for u in rows]
            bars = ax.barh(y, values, height=0.65, linewidth=0,
                           color=[COLOUR_OK if u.compliant else COLOUR_LATE for u in rows])
            for bar, u in zip(bars, rows, strict=True):
                if not u.compliant:
                    bar.set_hatch(HATCH_LATE)
                    bar.set_edgecolor("white")
                ax.text(bar.get_width() + 1.2, bar.get_y() + bar.get_height() / 2,
                        f"{percent_number(u.rate)}% ({u.responded}/{u.required})", va="center", fontsize=small,
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6})  # legible over the line
            ax.set_yticks(y, labels=[textwrap.fill(clean(u.name), wrap) for u in rows])
            ax.set_ylim(len(rows) - 0.5, -0.5)  # inverted: the worst unit on top, as in the table; no blank band
        else:
            ax.set_yticks([])
            ax.text(50, 0.5, "Chưa có đơn vị nào có cán bộ, công chức phải trả lời phiếu", ha="center")
        ax.axvline(threshold * 100, color="black", linestyle="--", linewidth=1.1)
        ax.set_xlim(0, 125)  # room for the labels right of a full bar
        ax.set_xticks(range(0, 101, 20))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}%"))
        ax.set_xlabel("Tỷ lệ đã trả lời phiếu")
        ax.grid(axis="x", color="#d0d0d0", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.spines["bottom"].set_bounds(0, 100)
        ax.legend(handles=[Patch(facecolor=COLOUR_OK, label="Đạt yêu cầu"),
                           Patch(facecolor=COLOUR_LATE, hatch=HATCH_LATE, edgecolor="white", label="Chưa đạt"),
                           Line2D([], [], color="black", linestyle="--",
                                  label=f"Ngưỡng yêu cầu ({threshold_text(threshold)})")],
                  loc="upper center", bbox_to_anchor=(0.5, -0.14 if n <= 6 else -0.06), ncol=3, frameon=False)
        fig.savefig(buf, format="png", dpi=CHART_DPI, bbox_inches="tight", pad_inches=0.08,
                    metadata={"Software": None})
    write_atomically(out, buf.getvalue())
    return out


# --- workbook ---------------------------------------------------------------------------------------


def _put(ws: Worksheet, row: int, col: int, value: object, *, bold: bool = False,
         number_format: str | None = None) -> None:
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        cell.value = clean(value)
        cell.data_type = "s"  # a name starting with "=" stays text, never a formula
    else:
        cell.value = value
    if bold:
        cell.font = Font(bold=True)
    if number_format is not None:
        cell.number_format = number_format


def _header(ws: Worksheet, titles: Sequence[str], widths: Sequence[float]) -> None:
    for col, (title, width) in enumerate(zip(titles, widths, strict=True), start=1):
        _put(ws, 1, col, title, bold=True)
        ws.cell(row=1, column=col).alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = width
    ws.freeze_panes = "A2"


def write_workbook(lc: LoadedCampaign, compliance: Compliance, out: Path,
                   receipts: Mapping[str, str] | None = None) -> Path:
    """Sheet "Tổng hợp": the report's table (rates as numbers formatted 0.0%, a total row) and, given
    ``receipts`` (unit code → delivery status of the dispatch, congvan.bounces), whether the unit received
    the dispatch; sheet "Chưa trả lời": every official who has not answered, unit by unit in the same order."""
    rows = worst_first(compliance.units)
    wb = Workbook()
    ws = wb.active
    ws.title = SUMMARY_SHEET
    if receipts is not None:
        _header(ws, (*HEADERS, RECEIPT_HEADER), (6, 45, 14, 12, 11, 13, 24))
    else:
        _header(ws, HEADERS, (6, 45, 14, 12, 11, 13))
    for r, u in enumerate(rows, start=2):
        for c, value in enumerate((r - 1, u.name, u.required, u.responded), start=1):
            _put(ws, r, c, value)
        _put(ws, r, 5, u.rate if u.required else None, number_format=PERCENT_FORMAT)
        _put(ws, r, 6, u.required - u.responded)
        if receipts is not None:
            status = receipts.get(u.code, "pending")
            _put(ws, r, 7, RECEIPT_TEXT.get(status, status))
    last = len(rows) + 1
    if rows:
        ws.auto_filter.ref = f"A1:F{last}"
    total = last + 1
    _put(ws, total, 2, "Tổng cộng", bold=True)
    _put(ws, total, 3, compliance.required, bold=True)
    _put(ws, total, 4, compliance.responded, bold=True)
    _put(ws, total, 5, compliance.responded / compliance.required if compliance.required else None,
         bold=True, number_format=PERCENT_FORMAT)
    _put(ws, total, 6, compliance.required - compliance.responded, bold=True)

    missing = wb.create_sheet(MISSING_SHEET)
    _header(missing, MISSING_HEADERS, (45, 14, 30, 30))
    r = 1
    for u in rows:
        for person in u.missing:
            r += 1
            for c, value in enumerate((u.name, person.staff_id, person.name, person.position), start=1):
                _put(missing, r, c, value)
    if r > 1:
        missing.auto_filter.ref = f"A1:D{r}"

    wb.properties.title = clean(f"Kết quả trả lời phiếu đến hết ngày {short_date(compliance.as_of)}")
    wb.properties.creator = clean(lc.authority.name)
    buf = io.BytesIO()
    wb.save(buf)
    write_atomically(out, buf.getvalue())
    return out


# --- the report -------------------------------------------------------------------------------------


def insert_chart(docx_bytes: bytes, chart: Path, *, template: Path, description: str = "") -> bytes:
    """The rendered report with the picture in place of the CHART_MARKER paragraph's text."""
    document = docx.Document(io.BytesIO(docx_bytes))
    targets = [p for p in document.paragraphs if p.text.strip() == CHART_MARKER]
    if len(targets) != 1:
        raise TemplateError(_("expected one paragraph {marker!r} for the chart, found {count}").format(
            marker=CHART_MARKER, count=len(targets)), template=template)
    paragraph = targets[0]
    for run in list(paragraph.runs):
        paragraph._p.remove(run._r)
    shape = paragraph.add_run().add_picture(str(chart), width=CHART_WIDTH)
    if shape.height > CHART_MAX_HEIGHT:  # keep the aspect ratio, shrink to fit the page
        shape.width, shape.height = Emu(shape.width * CHART_MAX_HEIGHT // shape.height), CHART_MAX_HEIGHT
    shape._inline.docPr.set("descr", description)  # alt text for screen readers
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


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
