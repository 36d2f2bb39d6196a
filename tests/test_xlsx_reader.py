"""congvan/xlsx_reader.py against openpyxl as the oracle: every sheet of each workbook gives the values
``load_workbook(read_only=True, data_only=True)`` and ``iter_rows(values_only=True)`` give (after
``reset_dimensions()``, as congvan read them), on workbooks written by openpyxl, converted by LibreOffice
(formulas with their cached values, shared strings, date styles; from .csv and through .ods), and built by hand
(inline strings, cells and rows without ``r``, the 1904 date system, absolute paths, rich text, odd rows).
Where the reader is meant to differ (``_xHHHH_`` escapes, the strict namespace) the test says so."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import subprocess
import warnings
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from congvan.errors import SourceDataError
from congvan.xlsx_reader import XlsxBook

Rows = dict[str, list[tuple[object, ...]]]
NAMES = ["Sở Tài nguyên & Môi trường", "Ea H'leo", "Krông Pắc", "UBND huyện M'Đrắk", "  hai  khoảng trắng ",
         "dòng một\ndòng hai", "Nguyễn Văn A", "", "=không phải công thức", "'dấu nháy"]


def oracle(data: bytes) -> Rows:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Workbook contains no default style", dates out of range
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        read: Rows = {}
        for ws in book.worksheets:
            ws.reset_dimensions()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                read[ws.title] = [tuple(row) for row in ws.iter_rows(values_only=True)]  # a missing row is []
        return read
    finally:
        book.close()


def ours(data: bytes) -> Rows:
    with XlsxBook(data, "book.xlsx") as book:
        return {sheet.title: list(book.rows(sheet)) for sheet in book.sheets}


def assert_same(data: bytes) -> Rows:
    expected = oracle(data)
    got = ours(data)
    assert list(got) == list(expected)
    for title in expected:
        assert len(got[title]) == len(expected[title]), title
        for number, (mine, theirs) in enumerate(zip(got[title], expected[title], strict=True), start=1):
            assert (mine, [type(v) for v in mine]) == (theirs, [type(v) for v in theirs]), f"{title}, row {number}"
    return got


def saved(book: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def written_by_openpyxl(epoch: dt.datetime | None = None) -> openpyxl.Workbook:
    book = openpyxl.Workbook()
    if epoch is not None:
        book.epoch = epoch
    ws = book.active
    ws.title = "Danh sách"
    ws.append(["Mã cán bộ", "Họ và tên", "Đơn vị", "Số", "Tỉ lệ", "Ngày", "Lúc", "Giờ", "Đã trả lời", "Thời lượng"])
    for i, name in enumerate(NAMES):
        ws.append([f"TN-{i:02}", name, 1023 + i, -i, i / 7, dt.date(2023, 2, 1 + i),
                   dt.datetime(2023, 2, 20, 8, i, 30, 250_000), dt.time(7, 30 + i), i % 2 == 0,
                   dt.timedelta(hours=30 + i, minutes=5)])
    ws.append([])  # an empty row between
    ws.append([None, None, "xa", None])  # leading gaps
    ws["B20"] = "một ô xa"  # missing rows before it
    ws["F20"].number_format = "dd/mm/yyyy"  # a styled empty cell: the row is as wide as it
    ws["A21"] = "=SUM(C2:C5)"  # openpyxl stores no cached value
    ws["B21"] = '=IF(C2>0,"có","không")'
    ws["C21"] = "=1/0"
    ws["D21"] = "=C2>1000"
    ws["E21"] = "=DATE(2023,2,24)"
    ws["E21"].number_format = "yyyy-mm-dd"
    ws["F21"] = 45000.5
    ws["F21"].number_format = '[$-42A]dd/mm/yyyy hh:mm;@'
    ws["G21"] = 45000
    ws["G21"].number_format = '#,##0 "đồng"'
    ws["H21"] = 1e-7
    ws["I21"] = 1.5e20
    ws["J21"] = 12345678901234567890
    hidden = book.create_sheet("Ẩn", 0)  # a hidden sheet first: it stays the first worksheet
    hidden.sheet_state = "hidden"
    hidden.append(["ẩn", 1])
    book.create_sheet("Trống")
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=3, min_row=1, max_row=5), titles_from_data=True)
    book.create_chartsheet("Biểu đồ").add_chart(chart)
    book.create_sheet("Sau biểu đồ").append(["sau"])
    return book


def test_a_workbook_openpyxl_wrote() -> None:
    got = assert_same(saved(written_by_openpyxl()))
    assert list(got) == ["Ẩn", "Danh sách", "Trống", "Sau biểu đồ"]  # the chartsheet is no worksheet
    rows = got["Danh sách"]
    assert rows[1][:4] == ("TN-00", "Sở Tài nguyên & Môi trường", 1023, 0)
    assert rows[1][5:] == (dt.datetime(2023, 2, 1), dt.datetime(2023, 2, 20, 8, 0, 30, 250_000), dt.time(7, 30),
                           True, dt.timedelta(hours=30, minutes=5))
    assert rows[11] == () and rows[12] == (None, None, "xa") and rows[13:19] == [()] * 6
    assert rows[19] == (None, "một ô xa", None, None, None, None)
    assert rows[20][:5] == (None,) * 5  # formulas without a stored value


def test_a_workbook_in_the_1904_date_system() -> None:
    got = assert_same(saved(written_by_openpyxl(CALENDAR_MAC_1904)))
    assert got["Danh sách"][1][5] == dt.datetime(2023, 2, 1)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Workbooks LibreOffice saved: the openpyxl one (its formulas now with values), a .csv, and the openpyxl one
    through .ods; one soffice run per step, with a profile of its own."""
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    folder = tmp_path_factory.mktemp("libreoffice")
    (folder / "from-openpyxl.xlsx").write_bytes(saved(written_by_openpyxl()))
    with (folder / "from-csv.csv").open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([
            ("Mã cán bộ", "Họ và tên", "Đơn vị", "Thời gian hoàn thành", "Điểm", "Đúng"),
            *((f"KP-{i:03}", NAMES[i % len(NAMES)], "KPAC", f"2023-02-{10 + i % 15} 08:{i % 60:02}:05", i * 0.25,
               "TRUE" if i % 3 else "FALSE") for i in range(60)),
            (), ("00123", "=1+1", "#N/A", "2023-02-20", "1.5E3", "")])
    profile = f"-env:UserInstallation=file://{folder / 'profile'}"

    def convert(to: str, *names: str, options: tuple[str, ...] = ()) -> None:
        subprocess.run(["soffice", profile, "--headless", *options, "--convert-to", to, "--outdir",
                        str(folder / to), *(str(folder / n) for n in names)], check=True, capture_output=True,
                       timeout=180)

    convert("xlsx", "from-openpyxl.xlsx")
    # comma, '"', UTF-8, from line 1, standard cells, English (US), quoted fields not text, dates detected
    convert("xlsx", "from-csv.csv", options=("--infilter=CSV:44,34,76,1,,1033,false,true",))
    convert("ods", "from-openpyxl.xlsx")
    (folder / "through-ods.ods").write_bytes((folder / "ods" / "from-openpyxl.ods").read_bytes())
    convert("xlsx", "through-ods.ods")
    return {p.stem: p.read_bytes() for p in (folder / "xlsx").glob("*.xlsx")}


def test_libreoffice_stores_the_formulas_values(converted: dict[str, bytes]) -> None:
    with zipfile.ZipFile(io.BytesIO(converted["from-openpyxl"])) as z:
        assert "xl/sharedStrings.xml" in z.namelist()
    rows = assert_same(converted["from-openpyxl"])["Danh sách"]
    assert rows[20][:5] == (4098, "có", "#DIV/0!", True, dt.datetime(2023, 2, 24))


def test_a_csv_libreoffice_saved_as_xlsx(converted: dict[str, bytes]) -> None:
    rows = assert_same(converted["from-csv"])["from-csv"]
    assert rows[0][0] == "Mã cán bộ" and len(rows) == 63
    assert rows[1][3:] == (dt.datetime(2023, 2, 10, 8, 0, 5), 0, False) and rows[6][1] == "dòng một\ndòng hai"
    assert rows[-1] == (123, 2, "#N/A", dt.datetime(2023, 2, 20), 1500)  # as Calc took them: numbers, a formula


def test_a_workbook_through_ods(converted: dict[str, bytes]) -> None:
    assert assert_same(converted["through-ods"])["Danh sách"][1][1] == "Sở Tài nguyên & Môi trường"


def test_the_sample_roster() -> None:
    rows = assert_same((Path(__file__).resolve().parent.parent / "config" / "rosters" / "par-index-2022.xlsx")
                       .read_bytes())
    assert len(next(iter(rows.values()))) == 541


# --- hand-built workbooks -----------------------------------------------------------------------------------

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT = "http://purl.oclc.org/ooxml/spreadsheetml/main"
DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STRICT_REL = "http://purl.oclc.org/ooxml/officeDocument/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
STYLES = ('<numFmts count="2"><numFmt numFmtId="164" formatCode="dd/mm/yyyy\\ hh:mm"/>'
          '<numFmt numFmtId="165" formatCode="[h]:mm:ss"/></numFmts><cellXfs count="5"><xf numFmtId="0"/>'
          '<xf numFmtId="14"/><xf numFmtId="164"/><xf numFmtId="165"/><xf numFmtId="4"/></cellXfs>')
STRINGS = ('<si><t>Krông Pắc</t></si><si><r><rPr><b/></rPr><t>Ea </t></r><r><t xml:space="preserve">H\'leo </t></r>'
           '<rPh sb="0" eb="2"><t>エア</t></rPh></si><si><t xml:space="preserve">  dấu cách  </t></si><si><t/></si>'
           '<si><t>dòng_x000D_\nhai _x005F_x0041_ _x41_</t></si>')
SHEET = ('<row r="2"><c r="A2" t="s"><v>0</v></c><c r="C2" t="s"><v>1</v></c><c r="D2" t="s"><v>2</v></c>'
         '<c r="E2" t="s"><v>3</v></c></row>'
         '<row><c t="inlineStr"><is><t>không r</t></is></c><c s="1"><v>44977</v></c><c s="2"><v>44977.75</v></c>'
         '<c s="3"><v>1.25</v></c><c s="4"><v>1023</v></c><c><v>7.0</v></c><c><v>1E3</v></c></row>'
         '<row r="6"><c r="A6" t="b"><v>1</v></c><c r="B6" t="e"><v>#N/A</v></c><c r="C6" t="str"><v>có</v></c>'
         '<c r="D6" t="d"><v>2023-02-20T08:15:00</v></c><c r="E6" t="inlineStr"><is><r><t>giàu </t></r><r><t>chữ'
         '</t></r></is></c><c r="F6" t="inlineStr"/><c r="G6"><v></v></c><c r="H6" s="2"><v>0.5</v></c></row>'
         '<row r="7"/><row r="5"><c r="A5"><v>1</v></c></row>'
         '<row r="9"><c r="C9"><v>3</v></c><c r="A9"><v>1</v></c><c r="E9"><v>5</v></c><c r="B9"><v>2</v></c></row>'
         '<row r="10" spans="1:3"><c r="b10" s="2"><v>1e20</v></c><c r="C10" s="1"><v>59</v></c>'
         '<c r="D10" s="1"><v>61</v></c></row>')


def package(sheet: str = SHEET, *, ns: str = MAIN, rel_ns: str = DOC_REL, workbook_pr: str = "",
            absolute: bool = False, swap: tuple[str, str] = ("", "")) -> bytes:
    """A workbook written part by part, as a test needs each: two sheets, the second hidden."""
    target = "/xl/worksheets/" if absolute else "worksheets/"
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{CT}.sheet.main+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{CT}.sharedStrings+xml"/></Types>'),
        "_rels/.rels": (f'<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" Type="{rel_ns}/officeDocument" '
                        'Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (f'<workbook xmlns="{ns}" xmlns:r="{rel_ns}">{workbook_pr}<sheets>'
                            '<sheet name="Danh sách" sheetId="1" r:id="rId1"/>'
                            '<sheet name="Ẩn" sheetId="2" state="hidden" r:id="rId2"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{PKG_REL}">'
            f'<Relationship Id="rId1" Type="{rel_ns}/worksheet" Target="{target}sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel_ns}/worksheet" Target="{target}sheet2.xml"/>'
            f'<Relationship Id="rId3" Type="{rel_ns}/styles" Target="styles.xml"/></Relationships>'),
        "xl/styles.xml": f'<styleSheet xmlns="{ns}">{STYLES}</styleSheet>',
        "xl/sharedStrings.xml": f'<sst xmlns="{ns}">{STRINGS}</sst>',
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{ns}"><sheetData>{sheet}</sheetData></worksheet>',
        "xl/worksheets/sheet2.xml": f'<worksheet xmlns="{ns}"><sheetData><row><c><v>2</v></c></row></sheetData>'
                                    '</worksheet>',
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            text = text.replace(*swap) if swap[0] else text
            z.writestr(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + text)
    return buffer.getvalue()


@pytest.mark.parametrize(("workbook_pr", "absolute", "epoch"), [
    ("", False, dt.datetime(1899, 12, 30)), ('<workbookPr date1904="1"/>', True, dt.datetime(1904, 1, 1)),
    ('<workbookPr date1904="false"/>', False, dt.datetime(1899, 12, 30))])
def test_a_hand_built_workbook(workbook_pr: str, absolute: bool, epoch: dt.datetime) -> None:
    got = assert_same(package(workbook_pr=workbook_pr, absolute=absolute))
    rows = got["Danh sách"]
    assert rows[0] == ()
    assert rows[1] == ("Krông Pắc", None, "Ea H'leo ", "  dấu cách  ", "")  # no phonetic guide
    assert rows[2] == ("không r", epoch + dt.timedelta(days=44977), epoch + dt.timedelta(days=44977.75),
                       dt.timedelta(days=1, hours=6), 1023, 7.0, 1000.0)
    assert rows[3:5] == [(), ()]  # row 5 comes after row 7: skipped there, as openpyxl does
    assert rows[5] == (True, "#N/A", "có", dt.datetime(2023, 2, 20, 8, 15), "giàu chữ", None, None, dt.time(12))
    assert rows[6:8] == [(), ()]
    assert rows[8] == (1, 2)  # as wide as its last cell (B9): C9 and E9 before it are dropped, as openpyxl does
    assert rows[9][1] == "#VALUE!"  # a date style on a number no date can be, as openpyxl says it
    assert got["Ẩn"] == [(2,)]


def test_escapes_are_undone_where_openpyxl_leaves_them() -> None:
    data = package('<row><c t="s"><v>4</v></c><c t="inlineStr"><is><t>a_x0009_b</t></is></c>'
                   '<c t="str"><v>_x0000_</v></c></row>')
    assert oracle(data)["Danh sách"] == [("dòng_x000D_\nhai _x0041_ _x41_", "a_x0009_b", "_x0000_")]
    assert ours(data)["Danh sách"] == [("dòng\r\nhai _x0041_ _x41_", "a\tb", "\x00")]


def test_the_strict_namespace_reads_as_the_transitional_one() -> None:
    """Excel's "Strict Open XML Spreadsheet": openpyxl finds no worksheet in it; the reader reads it."""
    strict = package(ns=STRICT, rel_ns=STRICT_REL)
    assert oracle(strict) == {}
    assert ours(strict) == ours(package())


@pytest.mark.parametrize(("data", "reason"), [
    (b"Ma can bo,Ho va ten\n", "not an .xlsx workbook (save it as an Excel Workbook .xlsx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "not an .xlsx workbook (save it as an Excel Workbook .xlsx)"),
    (package().replace(b"[Content_Types].xml", b"[Content_Typez].xml"),
     "not a readable .xlsx workbook (no part [Content_Types].xml in the zip)"),
    (package(swap=("sheet.main+xml", "document.main+xml")),
     "not a readable .xlsx workbook (it names no workbook part)"),
    (package('<row><c t="s"><v>99</v></c></row>'), "not a readable .xlsx workbook (list index out of range)"),
    (package('<row><c r="1A"><v>1</v></c></row>'), "not a readable .xlsx workbook ('1A' is not a cell reference)"),
    (package('<row r="x"><c><v>1</v></c></row>'), "not a readable .xlsx workbook (could not convert string to float: "
                                                  "'x')"),
    (package("<row><c><v>1</v></c>"), "not a readable .xlsx workbook (mismatched tag: line 2, column "),
    (package('<row><c><v>&lol;</v></c></row>'), "not a readable .xlsx workbook (undefined entity: line 2, "),
], ids=["text", "ole", "no content types", "no workbook", "no such string", "bad reference", "bad row",
        "broken xml", "undefined entity"])
def test_an_unreadable_workbook_is_one_line(data: bytes, reason: str) -> None:
    with pytest.raises(SourceDataError) as caught:
        ours(data)
    assert str(caught.value).startswith(f"book.xlsx: {reason}")
    assert "\n" not in str(caught.value)
