"""The compliance report: a Decree-30 báo cáo (.docx with table and chart), its .xlsx and its chart PNG.

The compliance figures are built by hand (real UnitCompliance objects): this is a rendering test, the
counting is tested with the store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import io
import re
import sys
import unicodedata
import warnings
import zipfile
from pathlib import Path
from typing import Any

import docx
import numpy as np
import openpyxl
import pytest
from docx.oxml.ns import qn
from matplotlib import font_manager
from PIL import Image
from support import ROOT, all_paragraphs, effective, open_docx

from congvan.compliance import Compliance, Official, UnitCompliance
from congvan.config import FollowUp, LadderStep, LoadedCampaign, NamedAddress, load_campaign
from congvan.errors import ConfigError, TemplateError
from congvan.nd30 import check, format_violation
from congvan.register import Allocation
from congvan.report import (
    CHART_FONTS,
    CHART_MARKER,
    COLOUR_LATE,
    COLOUR_OK,
    ReportFiles,
    chart_font,
    insert_chart,
    percent_number,
    report_context,
    report_symbol,
    threshold_text,
    write_chart,
    write_report,
)

TEMPLATES = ROOT / "templates"
AS_OF = dt.date(2023, 2, 24)
DISPATCH = Allocation(number=1, year=2023, register="UBND", symbol="UBND-KSTTHC", issued_on=dt.date(2023, 2, 10),
                      key="par-index-2022/dispatch", document_id=1, created=True)
ISSUED = Allocation(number=7, year=2023, register="UBND", symbol="BC-UBND", issued_on=dt.date(2023, 2, 25),
                    key="par-index-2022/report/2023-02-24", document_id=9, created=True)
TNMT = "Sở Tài nguyên & Môi trường"
EA_HLEO = "UBND huyện Ea H'leo"
KRONG_PAC = "Krông Pắc"


def unit(code: str, name: str, required: int, responded: int, threshold: float = 0.8) -> UnitCompliance:
    missing = tuple(Official(f"{code}-{i:02d}", f"Nguyễn Thị Mỹ {code}{i}", "Chuyên viên", code)
                    for i in range(required - responded))
    return UnitCompliance(code=code, name=name, required=required, responded=responded, missing=missing,
                          threshold=threshold)


# units.yaml order, deliberately not the report's order; Krông Pắc arrives decomposed (NFD), as some
# spreadsheets store it, and must come out precomposed.
UNITS = (
    unit("SNV", "Sở Nội vụ", 8, 8),
    unit("STNMT", TNMT, 20, 15),
    unit("VPUB", "Văn phòng UBND tỉnh", 0, 0),
    unit("KRP", unicodedata.normalize("NFD", KRONG_PAC), 12, 6),
    unit("STP", "Sở Tư pháp", 9, 8),
    unit("EAH", EA_HLEO, 10, 4),
)
COMPLIANCE = Compliance(campaign="par-index-2022", as_of=AS_OF, units=UNITS)
# STT, Đơn vị, Số phải trả lời, Đã trả lời, Tỷ lệ (%), Chưa trả lời: worst first, the 0/0 unit last.
EXPECTED_ROWS = [
    ["1", EA_HLEO, "10", "4", "40,0", "6"],
    ["2", KRONG_PAC, "12", "6", "50,0", "6"],
    ["3", TNMT, "20", "15", "75,0", "5"],
    ["4", "Sở Tư pháp", "9", "8", "88,9", "1"],
    ["5", "Sở Nội vụ", "8", "8", "100,0", "0"],
    ["6", "Văn phòng UBND tỉnh", "0", "0", "-", "0"],
]


@pytest.fixture(scope="module")
def sample() -> LoadedCampaign:
    return load_campaign(ROOT / "config", "par-index-2022")


@pytest.fixture(scope="module")
def lc(sample: LoadedCampaign) -> LoadedCampaign:
    """The sample campaign without its follow-up section, so the expected text does not depend on it."""
    return dataclasses.replace(sample, campaign=sample.campaign.model_copy(update={"follow_up": None}))


@pytest.fixture(scope="module")
def issued(lc: LoadedCampaign, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return write_report(lc, COMPLIANCE, templates_dir=TEMPLATES, out_dir=tmp_path_factory.mktemp("issued"),
                        allocation=ISSUED, dispatch=DISPATCH)


@pytest.fixture(scope="module")
def draft(lc: LoadedCampaign, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return write_report(lc, COMPLIANCE, templates_dir=TEMPLATES, out_dir=tmp_path_factory.mktemp("draft"),
                        dispatch=DISPATCH)


def texts(path: Path) -> list[str]:
    return [p.text for p in all_paragraphs(open_docx(path)) if p.text.strip()]


def compliance_table(path: Path) -> Any:
    _header, table, _sign = open_docx(path).tables
    return table


def cells(row: Any) -> list[str]:
    return [c.text for c in row.cells]


# --- the .docx --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["issued", "draft"])
def test_report_passes_the_decree_30_checker(which: str, request: pytest.FixtureRequest) -> None:
    files: ReportFiles = request.getfixturevalue(which)
    assert [format_violation(v) for v in check(files.docx, kind="bao_cao")] == []


def test_sample_campaign_as_configured_renders_clean(sample: LoadedCampaign, tmp_path: Path) -> None:
    files = write_report(sample, COMPLIANCE, templates_dir=TEMPLATES, out_dir=tmp_path, dispatch=DISPATCH)
    assert [format_violation(v) for v in check(files.docx, kind="bao_cao")] == []


def test_the_cong_van_rules_do_not_fit_a_report(issued: ReportFiles) -> None:
    """Checked as a công văn, the report lacks V/v and Kính gửi, and its title and summary read as body."""
    rules = {v.rule for v in check(issued.docx)}
    assert {"H14", "R1", "B1"} <= rules


def _broken(src: Path, tmp_path: Path, edit: Any) -> Path:
    document = docx.Document(str(src))
    edit(document)
    out = tmp_path / "broken.docx"
    document.save(str(out))
    return out


def _paragraph(document: Any, text: str) -> Any:
    return next(p for p in document.paragraphs if p.text.startswith(text))


def _set_bold(paragraph: Any, bold: bool) -> None:
    for run in paragraph.runs:
        run.bold = bold


@pytest.mark.parametrize(("name", "edit", "rules"), [
    ("summary not bold", lambda d: _set_bold(_paragraph(d, "Kết quả thực hiện"), False), {"H16"}),
    ("summary as V/v", lambda d: _paragraph(d, "Kết quả thực hiện").runs[0].__setattr__("text", "V/v kết quả"),
     {"H16"}),
    ("type name lower case", lambda d: _paragraph(d, "BÁO CÁO").runs[0].__setattr__("text", "Báo cáo"), {"H16"}),
    ("type name missing", lambda d: _paragraph(d, "BÁO CÁO")._p.getparent().remove(_paragraph(d, "BÁO CÁO")._p),
     {"H16", "B1", "B2"}),  # the summary then reads as body text
])
def test_broken_report_trips_the_named_document_rules(issued: ReportFiles, tmp_path: Path, name: str, edit: Any,
                                                      rules: set[str]) -> None:
    violations = check(_broken(issued.docx, tmp_path, edit), kind="bao_cao")
    assert {v.rule for v in violations} == rules, [format_violation(v) for v in violations]


def test_report_symbol_must_carry_the_type_code(lc: LoadedCampaign, tmp_path: Path) -> None:
    wrong = dataclasses.replace(ISSUED, symbol="UBND-KSTTHC")
    files = write_report(lc, COMPLIANCE, templates_dir=TEMPLATES, out_dir=tmp_path, allocation=wrong)
    assert [v.rule for v in check(files.docx, kind="bao_cao")] == ["H9"]
    assert report_symbol(lc) == "BC-UBND"


def test_unknown_document_kind_is_refused(issued: ReportFiles) -> None:
    with pytest.raises(ValueError, match="unknown document kind 'quyet_dinh'"):
        check(issued.docx, kind="quyet_dinh")  # type: ignore[arg-type]


def test_table_rows_are_the_data_worst_first(issued: ReportFiles) -> None:
    table = compliance_table(issued.docx)
    rows = [cells(r) for r in table.rows]
    assert rows[0] == ["STT", "Đơn vị", "Số phải trả lời", "Đã trả lời", "Tỷ lệ (%)", "Chưa trả lời"]
    assert rows[1:-1] == EXPECTED_ROWS
    assert rows[-1] == ["Tổng cộng", "Tổng cộng", "59", "41", "69,5", "18"]  # STT and Đơn vị merged


def test_table_header_is_bold_and_repeats_on_each_page(issued: ReportFiles) -> None:
    document = open_docx(issued.docx)
    table = document.tables[1]
    header = table.rows[0]._tr
    assert header.trPr is not None and header.trPr.find(qn("w:tblHeader")) is not None
    assert all(r._tr.trPr.find(qn("w:tblHeader")) is None for r in table.rows[1:])
    for cell in table.rows[0].cells:
        assert effective(cell.paragraphs[0], 0, document).bold, cell.text
    assert not effective(table.rows[1].cells[1].paragraphs[0], 0, document).bold


def test_layout_of_the_title_block(issued: ReportFiles) -> None:
    document = open_docx(issued.docx)
    paragraphs = [p for p in document.paragraphs if p.text.strip()]
    title, summary = paragraphs[0], paragraphs[1]
    assert title.text == "BÁO CÁO"
    assert summary.text == ("Kết quả thực hiện việc tham gia điều tra xã hội học phục vụ xác định Chỉ số cải "
                            "cách hành chính năm 2022")
    for p in (title, summary):
        fmt = effective(p, 0, document)
        assert (fmt.size, fmt.bold, fmt.italic, fmt.align) == (14, True, False, "center")
    assert not any(t.startswith(("V/v", "Kính gửi")) for t in texts(issued.docx))


def test_issued_report_carries_its_number_date_and_the_dispatch(issued: ReportFiles) -> None:
    header = open_docx(issued.docx).tables[0]
    assert header.cell(1, 0).paragraphs[0].text == "Số: 07/BC-UBND"
    assert header.cell(1, 1).paragraphs[0].text == "Đắk Lắk, ngày 25 tháng 02 năm 2023"
    body = texts(issued.docx)
    assert ("Thực hiện Công văn số 01/UBND-KSTTHC ngày 10/02/2023 của Ủy ban nhân dân tỉnh Đắk Lắk về việc tham "
            "gia điều tra xã hội học phục vụ xác định Chỉ số cải cách hành chính năm 2022, tính đến hết ngày "
            "24/02/2023, có 41/59 cán bộ, công chức thuộc 6 đơn vị đã trả lời phiếu (đạt 69,5%); 3/6 đơn vị chưa "
            "hoàn thành (tỷ lệ trả lời dưới 80%).") in body
    assert f"Các đơn vị chưa hoàn thành gồm: {EA_HLEO} (40,0%), {KRONG_PAC} (50,0%) và {TNMT} (75,0%)." in body
    assert body[-2:] == ["CHỦ TỊCH", "Phạm Ngọc Nghị"]


def test_draft_leaves_the_number_and_day_blank(draft: ReportFiles) -> None:
    header = open_docx(draft.docx).tables[0]
    assert re.fullmatch(r"Số: {3,}/BC-UBND", header.cell(1, 0).paragraphs[0].text)
    assert re.fullmatch(r"Đắk Lắk, ngày {3,}tháng 02 năm 2023", header.cell(1, 1).paragraphs[0].text)
    assert draft.docx.name == "par-index-2022_bao-cao_2023-02-24_du-thao.docx"
    assert {draft.xlsx.suffix, draft.chart.suffix} == {".xlsx", ".png"}
    assert draft.xlsx.stem == draft.chart.stem == draft.docx.stem


def test_ampersand_apostrophe_and_nfc_survive_in_the_docx(issued: ReportFiles) -> None:
    body = "\n".join(texts(issued.docx))
    for name in (TNMT, EA_HLEO, KRONG_PAC):
        assert name in body
    assert unicodedata.normalize("NFD", KRONG_PAC) not in body
    with zipfile.ZipFile(issued.docx) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    assert "Tài nguyên &amp; Môi trường" in xml and "&amp;amp;" not in xml


def test_chart_is_a_png_picture_inside_the_docx(issued: ReportFiles) -> None:
    with zipfile.ZipFile(issued.docx) as z:
        media = [n for n in z.namelist() if n.startswith("word/media/")]
        assert len(media) == 1 and media[0].endswith(".png")
        data = z.read(media[0])
        rels = z.read("word/_rels/document.xml.rels").decode("utf-8")
    assert data == issued.chart.read_bytes()
    assert media[0].removeprefix("word/") in rels
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert 900 <= image.width <= 1600 and 400 <= image.height <= 1800
    document = open_docx(issued.docx)
    (shape,) = document.inline_shapes
    assert abs(shape.width.mm - 150) < 0.5 and 60 < shape.height.mm < 230
    assert CHART_MARKER not in "\n".join(texts(issued.docx))
    # between the table and the closing paragraphs
    blocks = [child.tag.split("}")[1] + ("*" if child.findall(f".//{qn('w:drawing')}") else "")
              for child in document.element.body]
    assert blocks.index("p*") == blocks.index("tbl", blocks.index("tbl") + 1) + 1


def test_template_has_one_chart_marker_and_a_missing_one_is_an_error(issued: ReportFiles, tmp_path: Path) -> None:
    template = docx.Document(str(TEMPLATES / "bao_cao.docx"))
    assert [p.text for p in template.paragraphs].count(CHART_MARKER) == 1
    rendered = issued.docx.read_bytes()  # the marker is already gone
    with pytest.raises(TemplateError, match=r"expected one paragraph '\[BIỂU ĐỒ\]' for the chart, found 0"):
        insert_chart(rendered, issued.chart, template=TEMPLATES / "bao_cao.docx")


def test_template_is_what_its_script_builds(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_bao_cao", TEMPLATES / "make_bao_cao.py")
    assert spec is not None and spec.loader is not None
    sys.path.insert(0, str(TEMPLATES))  # make_bao_cao imports make_cong_van's helpers
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.build(tmp_path / "bao_cao.docx")
    finally:
        sys.path.remove(str(TEMPLATES))
    with zipfile.ZipFile(tmp_path / "bao_cao.docx") as built, zipfile.ZipFile(TEMPLATES / "bao_cao.docx") as shipped:
        for part in ("word/document.xml", "word/styles.xml", "word/header1.xml"):
            assert built.read(part) == shipped.read(part), f"{part}: run python templates/make_bao_cao.py"
    assert module.CHART_MARKER == CHART_MARKER


def test_signer_can_be_another_of_the_authority(lc: LoadedCampaign) -> None:
    ctx = report_context(lc, COMPLIANCE, signer="pho-chu-tich")
    assert (ctx["tham_quyen"], ctx["nguoi_ky"]) == (["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"], "Trần Minh Đức")
    with pytest.raises(ConfigError, match="unknown signer 'giam-doc' of ubnd-daklak"):
        report_context(lc, COMPLIANCE, signer="giam-doc")


# --- the text for other situations (context only, no rendering) ------------------------------------


def test_all_compliant_units(lc: LoadedCampaign) -> None:
    done = Compliance("par-index-2022", AS_OF, (unit("A", "Sở Nội vụ", 5, 5), unit("B", "Sở Tư pháp", 5, 4)))
    ctx = report_context(lc, done, dispatch=DISPATCH)
    assert ctx["noi_dung"][0].endswith("(đạt 90,0%); tất cả các đơn vị đã hoàn thành (tỷ lệ trả lời từ 80% trở lên).")
    assert len(ctx["noi_dung"]) == 1
    assert ctx["ket_luan"][0].startswith("Danh sách 1 cán bộ, công chức chưa trả lời phiếu")
    everyone = Compliance("par-index-2022", AS_OF, (unit("A", "Sở Nội vụ", 5, 5),))
    assert [s[:9] for s in report_context(lc, everyone)["ket_luan"]] == ["Trên đây "]  # no list to attach


def test_many_late_units_are_summarised(lc: LoadedCampaign) -> None:
    late = Compliance("par-index-2022", AS_OF, tuple(unit(f"U{i}", f"Đơn vị {i:02d}", 20, i) for i in range(12)))
    second = report_context(lc, late)["noi_dung"][1]
    assert second.startswith("Các đơn vị có tỷ lệ trả lời thấp nhất: Đơn vị 00 (0,0%), Đơn vị 01 (5,0%),")
    assert second.endswith("Đơn vị 09 (45,0%) và 2 đơn vị khác (chi tiết tại bảng dưới đây).")
    assert "Đơn vị 10" not in second


def test_without_a_dispatch_number_the_citation_has_none(lc: LoadedCampaign) -> None:
    ctx = report_context(lc, COMPLIANCE)
    assert ctx["noi_dung"][0].startswith("Thực hiện Công văn của Ủy ban nhân dân tỉnh Đắk Lắk về việc tham gia")
    assert ctx["so"].strip() == "" and ctx["ky_hieu"] == "BC-UBND"


def test_follow_up_names_the_deadline_and_leadership(lc: LoadedCampaign) -> None:
    follow_up = FollowUp(deadline=dt.date(2023, 2, 20), threshold=0.8, roster="roster.xlsx",
                         ladder=[LadderStep(name="bao-cao", offset=3, kind="report", to="leadership",
                                            template="bao_cao.docx")],
                         leadership=[NamedAddress(name="Chủ tịch UBND tỉnh", email="ct@daklak.example"),
                                     NamedAddress(name="Giám đốc Sở Nội vụ", email="gd.snv@daklak.example")])
    with_follow_up = dataclasses.replace(lc, campaign=lc.campaign.model_copy(update={"follow_up": follow_up}))
    ctx = report_context(with_follow_up, COMPLIANCE, dispatch=DISPATCH)
    assert "năm 2022 (thời hạn hoàn thành: ngày 20/02/2023), tính đến hết ngày 24/02/2023" in ctx["noi_dung"][0]
    assert ctx["noi_nhan"] == ["Chủ tịch UBND tỉnh", "Giám đốc Sở Nội vụ"]
    # without leadership: the dispatch's list, minus "Như trên" (a report has no Kính gửi to point at)
    assert report_context(lc, COMPLIANCE)["noi_nhan"] == [n for n in lc.campaign.noi_nhan if n != "Như trên"]


@pytest.mark.parametrize(("rate", "text"), [(0.0, "0,0"), (0.4, "40,0"), (8 / 9, "88,9"), (2 / 3, "66,7"),
                                            (1.0, "100,0")])
def test_percent_number(rate: float, text: str) -> None:
    assert percent_number(rate) == text


@pytest.mark.parametrize(("threshold", "text"), [(0.8, "80%"), (1.0, "100%"), (0.855, "85,5%"), (0.07, "7%")])
def test_threshold_text(threshold: float, text: str) -> None:
    assert threshold_text(threshold) == text


# --- the chart --------------------------------------------------------------------------------------


def _pixels_near(image: Image.Image, hex_colour: str, tolerance: int = 12) -> int:
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    rgb = np.asarray(image.convert("RGB")).astype(int)
    return int((np.abs(rgb - target) <= tolerance).all(axis=2).sum())


def test_chart_png_has_both_colours_at_print_resolution(issued: ReportFiles) -> None:
    with Image.open(issued.chart) as image:
        assert image.format == "PNG"
        dpi = image.info.get("dpi", (0, 0))[0]
        assert 150 <= round(dpi) <= 200
        assert image.width / dpi >= 5.5  # about the printed width (150 mm = 5.9 in)
        late, ok = _pixels_near(image, COLOUR_LATE), _pixels_near(image, COLOUR_OK)
    assert late > 2000 and ok > 2000  # three late units and two compliant ones, each a bar of thousands of pixels


def test_chart_draws_vietnamese_without_missing_glyphs(tmp_path: Path) -> None:
    installed = {f.name for f in font_manager.fontManager.ttflist}
    assert chart_font() == ("Liberation Serif" if "Liberation Serif" in installed else chart_font())
    assert chart_font() in CHART_FONTS and chart_font() in installed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)"
        out = write_chart((*UNITS, unit("X", "Sở Giáo dục và Đào tạo – Ủy ban Dân tộc ỹ ữ ự", 3, 1)),
                          tmp_path / "c.png", as_of=AS_OF)
    assert out.stat().st_size > 10_000


def test_chart_without_data_still_draws(tmp_path: Path) -> None:
    empty = write_chart((unit("VPUB", "Văn phòng UBND tỉnh", 0, 0),), tmp_path / "empty.png", as_of=AS_OF)
    with Image.open(empty) as image:
        assert image.format == "PNG" and _pixels_near(image, COLOUR_LATE) < 1000  # the legend's patch only


# --- the workbook -----------------------------------------------------------------------------------


def test_summary_sheet(issued: ReportFiles) -> None:
    wb = openpyxl.load_workbook(issued.xlsx)
    assert wb.sheetnames == ["Tổng hợp", "Chưa trả lời"]
    ws = wb["Tổng hợp"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["STT", "Đơn vị", "Số phải trả lời", "Đã trả lời", "Tỷ lệ (%)", "Chưa trả lời"]
    assert all(c.font.bold for c in ws[1])
    assert [[*row[:4], row[5]] for row in rows[1:-1]] == [
        [int(r[0]), r[1], int(r[2]), int(r[3]), int(r[5])] for r in EXPECTED_ROWS]
    rates = [row[4] for row in rows[1:-1]]
    assert rates[:5] == pytest.approx([0.4, 0.5, 0.75, 8 / 9, 1.0]) and rates[5] is None
    assert all(ws.cell(row=r, column=5).number_format == "0.0%" for r in range(2, ws.max_row + 1))
    assert rows[-1][1:] == ["Tổng cộng", 59, 41, pytest.approx(41 / 59), 18]
    assert all(c.font.bold for c in ws[ws.max_row][1:])
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["B"].width >= 40 and ws.column_dimensions["A"].width < 10


def test_missing_sheet_lists_every_non_respondent(issued: ReportFiles) -> None:
    ws = openpyxl.load_workbook(issued.xlsx)["Chưa trả lời"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["Đơn vị", "Mã cán bộ", "Họ và tên", "Chức vụ"]
    by_code = {u.code: u for u in UNITS}
    expected = [[unicodedata.normalize("NFC", by_code[code].name), p.staff_id, p.name, p.position]
                for code in ("EAH", "KRP", "STNMT", "STP") for p in by_code[code].missing]
    assert rows[1:] == expected
    assert len(rows) - 1 == 18 == COMPLIANCE.required - COMPLIANCE.responded
    assert ws.freeze_panes == "A2" and all(c.font.bold for c in ws[1])


def test_workbook_keeps_names_as_text(lc: LoadedCampaign, tmp_path: Path) -> None:
    """& and ' survive; a roster name starting with "=" is text, never a formula that Excel would run."""
    sneaky = UnitCompliance("X", "Sở Tài nguyên & Môi trường", 2, 1,
                            (Official("X-1", '=HYPERLINK("http://x.example","Bấm")', "Chuyên viên", "X"),), 0.8)
    files = write_report(lc, Compliance("c", AS_OF, (sneaky,)), templates_dir=TEMPLATES, out_dir=tmp_path)
    with zipfile.ZipFile(files.xlsx) as z:
        sheets = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in sheets
    ws = openpyxl.load_workbook(files.xlsx)["Chưa trả lời"]
    assert [c.value for c in ws[2]] == ["Sở Tài nguyên & Môi trường", "X-1", '=HYPERLINK("http://x.example","Bấm")',
                                       "Chuyên viên"]
    assert ws.cell(row=2, column=3).data_type == "s"
