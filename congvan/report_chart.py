"""The báo cáo's chart: response rate per unit, drawn with matplotlib's Agg canvas (no pyplot, no GUI backend),
and put into the rendered .docx in place of the template's CHART_MARKER paragraph (python-docx writes the media
part, its relationship, content type and drawing id: the fiddly parts)."""

from __future__ import annotations

import datetime as dt
import io
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path

import docx
import matplotlib
from docx.shared import Emu, Mm
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from congvan.compliance import UnitCompliance
from congvan.errors import TemplateError
from congvan.i18n import _
from congvan.render import write_atomically
from congvan.report_rows import percent_number, threshold_text, worst_first
from congvan.text import clean
from congvan.vndate import short_date

CHART_MARKER = "[BIỂU ĐỒ]"  # the paragraph of bao_cao.docx the chart replaces (templates/make_bao_cao.py)
# Chart: drawn at the width it is printed (150 mm of the 165 mm text width), so 9 pt is 9 pt on paper.
CHART_WIDTH = Mm(150)
CHART_MAX_HEIGHT = Mm(225)  # a long chart gets a page to itself (the text height is 257 mm), never more
CHART_DPI = 180
CHART_FONTS = ("Liberation Serif", "Times New Roman", "DejaVu Serif")  # DejaVu ships with matplotlib
COLOUR_OK, COLOUR_LATE = "#4f81bd", "#c0392b"
HATCH_LATE = "///"  # tells the bars apart on a black-and-white printout too
_CHART_LOCK = threading.Lock()  # rc_context changes process-wide settings; Prefect runs tasks in threads


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
