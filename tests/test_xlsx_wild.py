"""congvan/xlsx_reader.py on workbooks real producers wrote (Excel, Excel for Mac, Excel's Strict ISO format,
Apache POI; tests/data/xlsx-wild/README.md): what openpyxl reads of them, and where openpyxl cannot or differs on
purpose, what the files themselves say."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest

from congvan.xlsx_reader import XlsxBook
from tests.test_xlsx_reader import assert_same, oracle, ours

WILD = Path(__file__).parent / "data" / "xlsx-wild"
AS_OPENPYXL = ["apachepoi_52348.xlsx", "merged_cells.xlsx", "sample.xlsx", "sharedstrings_alt_location.xlsx",
               "test_comments_excel.xlsx", "test_comments_excel_sheet2.xlsx", "test_lower_case_cellnames.xlsx",
               "text_bar.xlsx", "xlsxsample.xlsx"]


def test_the_workbooks_read_as_openpyxl_reads_them_hold_values() -> None:
    values = [v for name in AS_OPENPYXL for rows in ours((WILD / name).read_bytes()).values() for row in rows
              for v in row if v is not None]
    assert len(values) > 70 and {type(v) for v in values} >= {str, int, float}


@pytest.mark.parametrize("name", AS_OPENPYXL)
def test_a_workbook_from_the_wild_reads_as_openpyxl_reads_it(name: str) -> None:
    got = assert_same((WILD / name).read_bytes())
    assert got  # its worksheets found (some hold only comments or formats, no value)


def test_excels_escapes_are_the_characters_excel_wrote() -> None:
    """A sheet Excel wrote with the character of code n in row n (as text, twice): the control characters XML cannot
    hold come as ``_x0001_``…, which openpyxl leaves as they are; everything else reads as openpyxl reads it."""
    data = (WILD / "reveng1.xlsx").read_bytes()
    got, theirs = ours(data), oracle(data)
    assert got["ControlChars"] == [(n, chr(n), chr(n)) for n in range(1, 33)]
    assert theirs["ControlChars"][0] == (1, "_x0001_", "_x0001_")
    escaped = {number for number, row in enumerate(theirs["ZZZfirstsheet"], start=1)
               if any(isinstance(v, str) and "_x" in v for v in row)}
    assert escaped and all(got["ZZZfirstsheet"][n - 1] == theirs["ZZZfirstsheet"][n - 1]
                           for n in range(1, len(theirs["ZZZfirstsheet"]) + 1) if n not in escaped)
    # "_x005F_" is an underscore that would otherwise start an escape.
    assert got["ZZZfirstsheet"][45] == ("more underscores", "_x000F__x000f_", "_x000F__x000f_")
    assert got["AAA2ndsheet"] == theirs["AAA2ndsheet"]


def _serial(value: object, epoch: dt.datetime) -> float:
    if isinstance(value, dt.datetime):
        return (value - epoch).total_seconds() / 86400
    if isinstance(value, dt.date):
        return (dt.datetime.combine(value, dt.time()) - epoch).total_seconds() / 86400
    assert isinstance(value, dt.time), value
    return (value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6) / 86400


@pytest.mark.parametrize(("name", "epoch"), [("strict_date_1900.xlsx", dt.datetime(1899, 12, 30)),
                                             ("strict_date_1904.xlsx", dt.datetime(1904, 1, 1))])
def test_strict_iso_dates_are_the_moments_beside_them(name: str, epoch: dt.datetime) -> None:
    """Excel's Strict format (which openpyxl finds no sheet in): each row holds a serial number, then the same moment
    as an ISO date (the file's own check, from xlrd's tests)."""
    with XlsxBook((WILD / name).read_bytes(), name) as book:
        assert [s.title for s in book.sheets] == ["Sheet1"]
        rows = list(book.rows(book.sheets[0]))
    assert len(rows) == 19
    for number, moment in rows:
        assert isinstance(number, int | float)
        assert abs(_serial(moment, epoch) - number) * 86400 < 0.002, (number, moment)


def test_a_workbook_openpyxl_refuses_is_read() -> None:
    """A producer's lower-case ``xl/sharedstrings.xml`` and a cell style openpyxl cannot build (``builtinId``)."""
    with XlsxBook((WILD / "self_evaluation_report_2014-05-19.xlsx").read_bytes(), "report.xlsx") as book:
        assert [(s.title, list(book.rows(s))) for s in book.sheets] == [("test1", [("one", "two")]),
                                                                         ("test2", [("three", "four")])]


def test_part_names_in_another_case_are_found() -> None:
    """1C:Enterprise's export names its shared strings xl/SharedStrings.xml, its content types
    /xl/sharedStrings.xml (parts compare in any case; openpyxl finds no such part)."""
    with XlsxBook((WILD / "elin.xlsx").read_bytes(), "elin.xlsx") as book:
        assert [s.title for s in book.sheets] == ["TDSheet"]
        rows = list(book.rows(book.sheets[0]))
    assert rows == [(None, "Прайс-лист"), (None,) * 8]  # the second row: error cells without a value


def test_a_zip_with_backslashes_and_lower_case_names_reads_as_the_original() -> None:
    """What .NET before 4.6.1 wrote (folders separated by "\\"), and names in lower case."""
    original = (WILD / "apachepoi_52348.xlsx").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
        for info in source.infolist():
            copy.writestr(info.filename.replace("/", "\\").lower(), source.read(info))
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as check:
        assert "xl\\workbook.xml" in check.namelist() and "[content_types].xml" in check.namelist()
    assert ours(out.getvalue()) == ours(original) == oracle(original)
