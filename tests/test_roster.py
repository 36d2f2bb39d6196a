"""Roster and response imports: real files in tmp_path, a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import unicodedata
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from congvan import compliance, xlsx_reader
from congvan.config import FollowUp, LoadedCampaign, load_campaign
from congvan.errors import SourceDataError
from congvan.roster import (
    ImportRejected,
    check_roster,
    import_new_exports,
    import_responses,
    import_roster,
    parse_completed_at,
    read_responses,
    read_roster,
    roster_path,
    sources,
)
from congvan.simulate import simulate_responses, write_export
from congvan.store.db import insert_many
from congvan.store.models import Import, Response, Staff
from tests.support import ROOT

VN = ZoneInfo("Asia/Ho_Chi_Minh")
SAMPLE = ROOT / "config" / "rosters" / "par-index-2022.xlsx"
FOLLOW_UP = {
    "deadline": "2023-02-24",
    "roster": "rosters/par-index-2022.xlsx",
    "responses": "responses/par-index-2022",
    "ladder": [{"name": "nhac-nho", "offset": -3, "kind": "mail", "to": "mailbox", "template": "nhac_nho"}],
}
HEADERS = ("Mã cán bộ", "Họ và tên", "Chức vụ", "Đơn vị", "Email")
# A small roster: unit cells written as people do (names with '&', curly apostrophes, "UBND huyện ...").
STAFF = [
    ("TN-01", "Nguyễn Văn An", "Giám đốc", "Sở Tài nguyên & Môi trường", "an.stnmt@daklak.example"),
    ("TN-02", "Trần Thị Bình", "Phó Giám đốc", "stnmt", ""),
    ("TN-03", "Lê Hoàng Cường", "Chuyên viên", "STNMT", ""),
    ("EH-01", "H'Nga Niê", "Chủ tịch UBND", "Ea H’leo", ""),
    ("EH-02", "Y Khoa Byă", "Phó Chủ tịch UBND", "UBND huyện Ea H'leo", ""),
    ("KP-01", "Phạm Thị Dung", "Chủ tịch UBND", "Krông Pắc", ""),
    ("KP-02", "Võ Quốc Hùng", "Trưởng phòng Nội vụ", "KPAC", ""),
]


def _campaign(**columns: list[str]) -> LoadedCampaign:
    lc = load_campaign(ROOT / "config", "par-index-2022")
    follow_up = FollowUp.model_validate({**FOLLOW_UP, "columns": columns})
    return dataclasses.replace(lc, campaign=lc.campaign.model_copy(update={"follow_up": follow_up}))


@pytest.fixture(scope="module")
def lc() -> LoadedCampaign:
    return _campaign()


def write_xlsx(path: Path, rows: Sequence[Sequence[object]], sheet: str = "Danh sách") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(list(row))
    wb.save(path)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[object]], delimiter: str = ",", bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def small_roster(tmp_path: Path, name: str = "roster.xlsx") -> Path:
    return write_xlsx(tmp_path / name, [HEADERS, *STAFF])


def staff(engine: Engine) -> list[sa.Row[tuple[int, str, str, str, str, str | None, int | None]]]:
    """The staff table as plain rows (compared by value), in roster order."""
    with Session(engine) as session:
        return list(session.execute(sa.select(Staff.id, Staff.staff_id, Staff.name, Staff.position, Staff.unit,
                                              Staff.email, Staff.import_id).order_by(Staff.id)))


def completions(engine: Engine) -> dict[str, dt.datetime]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Response.staff_id, Response.completed_at))
        return {sid: at if at.tzinfo else at.replace(tzinfo=dt.UTC) for sid, at in rows}


def count(engine: Engine, table: type[Import] | type[Staff] | type[Response]) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


# --- the sample roster -----------------------------------------------------------------------------


def test_sample_roster_loads_every_unit(engine: Engine, lc: LoadedCampaign) -> None:
    report = import_roster(engine, lc, SAMPLE)

    rows = staff(engine)
    per_unit = Counter(s.unit for s in rows)
    assert set(per_unit) == {u.code for u in lc.units} and len(per_unit) == 36
    assert all(10 <= n <= 20 for n in per_unit.values()), per_unit
    assert report.added == report.rows == len(rows) and report.warnings == () and report.errors == ()
    assert all(unicodedata.is_normalized("NFC", s.name) for s in rows)
    assert all(s.email and s.email.endswith("@daklak.example") for s in rows)
    heads = {u.code: u.head.name for u in lc.units}
    assert rows[0].name == heads[rows[0].unit]  # each unit's head tops its list


def test_sample_roster_is_a_coordinator_friendly_workbook() -> None:
    wb = openpyxl.load_workbook(SAMPLE)
    ws = wb.worksheets[0]
    assert ws.title == "Danh sách"
    assert [c.value for c in ws[1]] == list(HEADERS)
    assert all(c.font.b for c in ws[1])
    assert ws.column_dimensions["B"].width >= 20 and ws.column_dimensions["C"].width >= 30
    assert ws["A2"].value.startswith("DL-") and ws.freeze_panes == "A2"


def test_check_roster_finds_no_problem_in_the_sample(lc: LoadedCampaign) -> None:
    assert roster_path(ROOT / "config", lc) == SAMPLE
    assert check_roster(lc, SAMPLE) == []


def test_check_roster_lists_every_problem_without_a_database(tmp_path: Path, lc: LoadedCampaign) -> None:
    bad = write_xlsx(tmp_path / "bad.xlsx", [HEADERS, ("A-1", "Người Một", "", "XYZ", ""),
                                             ("A-2", "", "", "SNV", "not-an-address")])
    problems = check_roster(lc, bad)
    assert problems == [
        "bad.xlsx, sheet 'Danh sách', row 2: unknown unit 'XYZ' (a code or name from units.yaml)",
        "bad.xlsx, sheet 'Danh sách', row 3: no name",
        "bad.xlsx, sheet 'Danh sách', row 3: 'not-an-address' is not a mail address (expected name@domain)",
    ]
    assert check_roster(lc, tmp_path / "missing.xlsx") == [f"{tmp_path / 'missing.xlsx'}: file not found"]


# --- reading: headers, IDs, times ------------------------------------------------------------------


def test_two_column_response_csv_is_accepted(engine: Engine, lc: LoadedCampaign, tmp_path: Path) -> None:
    import_roster(engine, lc, small_roster(tmp_path))
    export = write_csv(tmp_path / "export.csv", [("staff_id", "completed_at"), ("TN-01", "2023-02-15 08:30:00"),
                                                  ("EH-01", "16/02/2023 14:05:09")])

    report = import_responses(engine, lc, export)

    assert (report.rows, report.added, report.warnings) == (2, 2, ())
    assert completions(engine) == {"TN-01": dt.datetime(2023, 2, 15, 8, 30, tzinfo=VN),
                                   "EH-01": dt.datetime(2023, 2, 16, 14, 5, 9, tzinfo=VN)}


def test_headers_match_despite_spacing_case_nfd_and_title_rows(engine: Engine, lc: LoadedCampaign,
                                                               tmp_path: Path) -> None:
    odd = [unicodedata.normalize("NFD", h) for h in ("  MÃ   CÁN BỘ ", "họ và TÊN", "Chức\u00a0vụ", "ĐƠN VỊ")]
    rows = [("DANH SÁCH CÁN BỘ THAM GIA KHẢO SÁT",), (), odd,
            *[(unicodedata.normalize("NFD", f" {s[0]} "), unicodedata.normalize("NFD", s[1]), s[2], s[3])
              for s in STAFF]]
    path = write_csv(tmp_path / "roster.csv", rows, delimiter=";", bom=True)

    report = import_roster(engine, lc, path)

    loaded = staff(engine)
    assert report.added == len(STAFF)
    assert [(s.staff_id, s.name, s.position, s.unit) for s in loaded] == [
        (s[0], s[1], s[2], u) for s, u in zip(STAFF, ["STNMT"] * 3 + ["EAHLEO"] * 2 + ["KPAC"] * 2, strict=True)]


def test_campaign_columns_name_other_headers(tmp_path: Path) -> None:
    lc = _campaign(staff_id=["Số hiệu công chức"], unit=["Cơ quan"])
    path = write_xlsx(tmp_path / "r.xlsx", [("Số hiệu  công chức", "name", "Cơ quan"), ("X-1", "Hồ Văn Tâm", "SNV")])
    parsed = read_roster(lc, path)
    assert [(s.staff_id, s.name, s.unit) for s in parsed.staff] == [("X-1", "Hồ Văn Tâm", "SNV")]


def test_excel_numeric_ids_and_datetimes(engine: Engine, lc: LoadedCampaign, tmp_path: Path) -> None:
    roster = write_xlsx(tmp_path / "roster.xlsx", [HEADERS, (1023, "Đỗ Thị Mai", "Chuyên viên", "SNV", None),
                                                   (1024.0, "Hồ Văn Tâm", "Chuyên viên", "SNV", None)])
    export = write_xlsx(tmp_path / "export.xlsx", [("Mã cán bộ", "Thời gian hoàn thành"),
                                                   (1023.0, dt.datetime(2023, 2, 15, 9, 0)),
                                                   (1024, dt.datetime(2023, 2, 16, 10, 30))], sheet="Sheet1")
    import_roster(engine, lc, roster)
    report = import_responses(engine, lc, export)

    assert [s.staff_id for s in staff(engine)] == ["1023", "1024"]
    assert report.warnings == ()  # both matched the roster
    assert completions(engine)["1023"] == dt.datetime(2023, 2, 15, 9, 0, tzinfo=VN)


@pytest.mark.parametrize(("cell", "expected"), [
    ("15/02/2023 08:30", dt.datetime(2023, 2, 15, 8, 30, tzinfo=VN)),
    ("15/02/2023 8:30:15", dt.datetime(2023, 2, 15, 8, 30, 15, tzinfo=VN)),
    ("05/02/2023", dt.datetime(2023, 2, 5, tzinfo=VN)),  # 5 February: the day comes first
    ("15-02-2023 02:10:00 CH", dt.datetime(2023, 2, 15, 14, 10, tzinfo=VN)),
    ("2023-02-15T08:30:00+07:00", dt.datetime(2023, 2, 15, 8, 30, tzinfo=VN)),
    ("2023-02-15 01:30:00Z", dt.datetime(2023, 2, 15, 8, 30, tzinfo=VN)),
    (dt.datetime(2023, 2, 15, 8, 30), dt.datetime(2023, 2, 15, 8, 30, tzinfo=VN)),
    (44972.5, dt.datetime(2023, 2, 15, 12, 0, tzinfo=VN)),  # a date cell that lost its format
    ("  ", None),
    (None, None),
])
def test_completion_times(cell: object, expected: dt.datetime | None) -> None:
    assert parse_completed_at(cell) == expected


@pytest.mark.parametrize("cell", ["31/02/2023", "hôm qua", "15/02/23", "13:00 PM", 7])
def test_unreadable_completion_times_raise(cell: object) -> None:
    with pytest.raises(ValueError, match=r"not a|unreadable"):
        parse_completed_at(cell)


# --- rejected rosters: every problem named, nothing loaded -----------------------------------------


def test_duplicate_staff_id_rejects_the_roster_and_keeps_the_previous_one(engine: Engine, lc: LoadedCampaign,
                                                                         tmp_path: Path) -> None:
    import_roster(engine, lc, small_roster(tmp_path))
    dup = write_xlsx(tmp_path / "roster2.xlsx", [HEADERS, *STAFF[:3], (), ("TN-02", "Trần Thị Bình", "", "STNMT")])

    with pytest.raises(ImportRejected) as caught:
        import_roster(engine, lc, dup)

    assert caught.value.report.errors == (
        "roster2.xlsx, sheet 'Danh sách', row 6: duplicate staff ID 'TN-02' (first at row 3)",)
    assert str(caught.value).startswith("roster2.xlsx: nothing loaded, 1 error(s): roster2.xlsx, sheet 'Danh sách'")
    assert [s.staff_id for s in staff(engine)] == [s[0] for s in STAFF]  # the first roster stands
    assert count(engine, Import) == 1


def test_unknown_unit_rejects_the_roster(engine: Engine, lc: LoadedCampaign, tmp_path: Path) -> None:
    rows = [HEADERS, *STAFF, ("X-1", "Lý Văn Xuân", "", "XYZ"), ("X-2", "Lý Thị Yến", "", "Sở Du lịch")]
    path = write_csv(tmp_path / "roster.csv", rows)

    with pytest.raises(ImportRejected) as caught:
        import_roster(engine, lc, path)

    assert caught.value.report.errors == (
        "roster.csv, row 9: unknown unit 'XYZ' (a code or name from units.yaml)",
        "roster.csv, row 10: unknown unit 'Sở Du lịch' (a code or name from units.yaml)")
    assert count(engine, Staff) == 0 and count(engine, Import) == 0


def test_missing_column_names_the_file_the_column_and_the_headers(engine: Engine, lc: LoadedCampaign,
                                                                  tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "roster.xlsx", [("Mã cán bộ", "Họ và tên", "Chức vụ"), STAFF[0][:3]])

    with pytest.raises(SourceDataError) as caught:
        import_roster(engine, lc, path)

    assert str(caught.value) == (
        "roster.xlsx, sheet 'Danh sách', row 1: missing column 'Đơn vị' (or 'Mã đơn vị', 'unit'); "
        "headers found: 'Mã cán bộ', 'Họ và tên', 'Chức vụ'")
    assert count(engine, Staff) == 0
    with pytest.raises(SourceDataError, match=r"missing column 'Thời gian hoàn thành' \(or 'completed_at'\)"):
        import_responses(engine, lc, SAMPLE)  # a roster is no response export


def test_unreadable_files_are_one_line_errors(tmp_path: Path, lc: LoadedCampaign) -> None:
    fake = tmp_path / "roster.xlsx"
    fake.write_bytes(b"Ma can bo,Ho va ten\n")
    big = tmp_path / "huge.csv"
    with big.open("wb") as f:
        f.truncate(51 * 2**20)  # sparse: no disk used
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Mã cán bô,Ho và tên\n".encode("cp1252"))  # Excel's plain "CSV" on Windows
    no_header = write_csv(tmp_path / "noheader.csv", [("STT", "Tên"), ("1", "An")])

    messages = {}
    for path in (fake, big, latin, no_header, tmp_path / "old.xls"):
        with pytest.raises(SourceDataError) as caught:
            read_roster(lc, path)
        messages[path.name] = str(caught.value)
        assert "\n" not in str(caught.value)
    assert "not an .xlsx workbook" in messages["roster.xlsx"]
    assert "50 MB limit" in messages["huge.csv"]
    assert "not UTF-8" in messages["latin.csv"]
    assert messages["noheader.csv"] == ("noheader.csv: no header row with a staff ID column 'Mã cán bộ' (or "
                                        "'staff_id') in the first 10 rows; first row found: 'STT', 'Tên'")
    assert "save it as an Excel Workbook .xlsx" in messages["old.xls"]


# --- replacing and idempotence ---------------------------------------------------------------------


def test_same_file_twice_changes_nothing(engine: Engine, lc: LoadedCampaign, tmp_path: Path) -> None:
    roster = small_roster(tmp_path)
    export = write_csv(tmp_path / "export.csv", [("Mã cán bộ", "Thời gian hoàn thành"), ("TN-01", "15/02/2023 08:00")])
    import_roster(engine, lc, roster)
    import_responses(engine, lc, export)
    before = (staff(engine), completions(engine), count(engine, Import))

    again_roster = import_roster(engine, lc, roster)
    again_export = import_responses(engine, lc, export)

    assert again_roster.skipped_same_file and again_export.skipped_same_file
    assert (again_roster.added, again_roster.updated, again_export.added, again_export.updated) == (0, 0, 0, 0)
    assert again_roster.rows == len(STAFF) and "already imported" in again_export.summary()
    assert (staff(engine), completions(engine), count(engine, Import)) == before


def test_same_content_in_other_bytes_gives_the_same_state(engine: Engine, lc: LoadedCampaign, tmp_path: Path) -> None:
    import_roster(engine, lc, small_roster(tmp_path))
    as_xlsx = small_roster(tmp_path, "roster-copy.xlsx")
    as_csv = write_csv(tmp_path / "roster.csv", [HEADERS, *STAFF], delimiter=";")
    before = [(s.staff_id, s.name, s.position, s.unit, s.email) for s in staff(engine)]

    reports = [import_roster(engine, lc, as_csv), import_roster(engine, lc, as_xlsx)]

    assert [(r.skipped_same_file, r.added, r.updated, r.removed) for r in reports] == [(False, 0, 0, 0)] * 2
    assert [(s.staff_id, s.name, s.position, s.unit, s.email) for s in staff(engine)] == before


def test_a_roster_replaces_the_staff_even_back_to_an_earlier_file(engine: Engine, lc: LoadedCampaign,
                                                                  tmp_path: Path) -> None:
    first = small_roster(tmp_path)
    second = write_xlsx(tmp_path / "roster-v2.xlsx", [HEADERS, *STAFF[:2], ("SNV-9", "Bùi Văn Khải", "", "SNV")])
    import_roster(engine, lc, first)

    changed = import_roster(engine, lc, second)
    assert (changed.added, changed.removed) == (1, len(STAFF) - 2)
    assert [s.staff_id for s in staff(engine)] == ["TN-01", "TN-02", "SNV-9"]

    back = import_roster(engine, lc, first)  # imported before, but not what the table holds now
    assert not back.skipped_same_file and (back.added, back.removed) == (len(STAFF) - 2, 1)
    assert [s.staff_id for s in staff(engine)] == [s[0] for s in STAFF]


# --- responses -------------------------------------------------------------------------------------


def test_response_from_someone_off_the_roster_is_a_warning_and_kept(engine: Engine, lc: LoadedCampaign,
                                                                     tmp_path: Path) -> None:
    import_roster(engine, lc, small_roster(tmp_path))
    export = write_csv(tmp_path / "export.csv", [("Mã cán bộ", "Thời gian hoàn thành"), ("TN-01", "15/02/2023"),
                                                 ("ZZ-404", "15/02/2023 10:00")])

    report = import_responses(engine, lc, export)

    assert report.warnings == (
        "export.csv, row 3: staff ID 'ZZ-404' is not on the roster (kept, reported as unknown)",)
    assert set(completions(engine)) == {"TN-01", "ZZ-404"}
    assert compliance.compute(engine, lc, dt.date(2023, 2, 15)).unknown_responses == 1


def test_earliest_completion_wins(engine: Engine, lc: LoadedCampaign, tmp_path: Path) -> None:
    header = ("Mã cán bộ", "Thời gian hoàn thành")
    import_roster(engine, lc, small_roster(tmp_path))
    late = write_csv(tmp_path / "1.csv", [header, ("TN-01", "20/02/2023 09:00"), ("TN-02", "20/02/2023 09:00")])
    early = write_csv(tmp_path / "2.csv", [header, ("TN-01", "16/02/2023 09:00"), ("TN-01", "15/02/2023 07:45"),
                                           ("TN-02", "21/02/2023 09:00")])

    import_responses(engine, lc, late)
    report = import_responses(engine, lc, early)

    assert (report.added, report.updated) == (0, 1)
    assert report.warnings == ("2.csv, row 3: staff ID 'TN-01' also at row 2; the earliest time counts",)
    assert completions(engine) == {"TN-01": dt.datetime(2023, 2, 15, 7, 45, tzinfo=VN),
                                   "TN-02": dt.datetime(2023, 2, 20, 9, 0, tzinfo=VN)}


def answered_at(engine: Engine) -> dict[str, dt.datetime | None]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Staff.staff_id, Staff.answered_at))
        return {sid: at if at is None or at.tzinfo else at.replace(tzinfo=dt.UTC) for sid, at in rows}


def test_the_roster_knows_who_answered_whichever_file_comes_first(engine: Engine, lc: LoadedCampaign,
                                                                  tmp_path: Path) -> None:
    """staff.answered_at (what status counts) follows the responses: an answer imported before the roster, one
    moved earlier by a later export, and a roster imported again, each leave it equal to the response's time."""
    header = ("Mã cán bộ", "Thời gian hoàn thành")
    import_responses(engine, lc, write_csv(tmp_path / "1.csv", [header, ("TN-01", "20/02/2023 09:00")]))
    import_roster(engine, lc, small_roster(tmp_path))
    assert answered_at(engine) == {s[0]: dt.datetime(2023, 2, 20, 9, 0, tzinfo=VN) if s[0] == "TN-01" else None
                                   for s in STAFF}
    import_responses(engine, lc, write_csv(tmp_path / "2.csv", [header, ("TN-01", "16/02/2023 08:00"),
                                                                ("KP-02", "17/02/2023 10:30")]))
    expected = {**{s[0]: None for s in STAFF}, "TN-01": dt.datetime(2023, 2, 16, 8, 0, tzinfo=VN),
                "KP-02": dt.datetime(2023, 2, 17, 10, 30, tzinfo=VN)}
    assert answered_at(engine) == expected == {**{s[0]: None for s in STAFF}, **completions(engine)}
    import_roster(engine, lc, write_xlsx(tmp_path / "again.xlsx", [HEADERS, *STAFF[1:]]))  # TN-01 leaves
    assert answered_at(engine) == {k: v for k, v in expected.items() if k != "TN-01"}
    state = compliance.compute(engine, lc, dt.date(2023, 2, 17))
    assert {u.code: (u.required, u.responded) for u in state.units if u.required} == {
        "STNMT": (2, 0), "EAHLEO": (2, 0), "KPAC": (2, 1)}
    assert state.unknown_responses == 1  # TN-01's answer is kept, and names nobody on the roster now


def test_blank_rows_and_blank_times(engine: Engine, lc: LoadedCampaign, tmp_path: Path) -> None:
    import_roster(engine, lc, small_roster(tmp_path))
    export = write_xlsx(tmp_path / "export.xlsx", [("Mã cán bộ", "Thời gian hoàn thành", "Ghi chú"), ("TN-01", None),
                                                   (None, None, None), ("TN-02", "15/02/2023 08:00")])

    report = import_responses(engine, lc, export)

    assert (report.rows, report.added, report.not_completed) == (2, 1, 1)
    assert set(completions(engine)) == {"TN-02"}


def test_a_bad_time_rejects_the_whole_export(engine: Engine, lc: LoadedCampaign, tmp_path: Path) -> None:
    import_roster(engine, lc, small_roster(tmp_path))
    export = write_csv(tmp_path / "export.csv", [("Mã cán bộ", "Thời gian hoàn thành"), ("TN-01", "15/02/2023"),
                                                 ("TN-02", "30/02/2023 08:00"), ("", "15/02/2023")])

    with pytest.raises(ImportRejected) as caught:
        import_responses(engine, lc, export)

    errors = caught.value.report.errors
    assert len(errors) == 2 and errors[0].startswith("export.csv, row 3: '30/02/2023 08:00' is not a real date")
    assert errors[1] == "export.csv, row 4: a completion time without a staff ID"
    assert completions(engine) == {} and count(engine, Import) == 1  # only the roster's


def test_import_new_exports_takes_only_new_files(engine: Engine, lc: LoadedCampaign, tmp_path: Path) -> None:
    import_roster(engine, lc, small_roster(tmp_path))
    folder = tmp_path / "exports"
    folder.mkdir()
    header = ("Mã cán bộ", "Thời gian hoàn thành")
    write_csv(folder / "2023-02-15.csv", [header, ("TN-01", "15/02/2023 08:00")])
    write_csv(folder / "2023-02-16.csv", [header, ("TN-02", "16/02/2023 08:00")])
    (folder / "~$2023-02-16.xlsx").write_bytes(b"lock")  # Excel's lock file, not an export
    (folder / "notes.txt").write_text("không phải tệp xuất", encoding="utf-8")

    first = import_new_exports(engine, lc, folder)
    write_xlsx(folder / "2023-02-17.xlsx", [header, ("KP-01", dt.datetime(2023, 2, 17, 9, 0))])
    write_csv(folder / "2023-02-18.csv", [header, ("KP-02", "18/02/2023 25:00")])
    second = import_new_exports(engine, lc, folder)

    assert [(r.file, r.added) for r in first] == [("2023-02-15.csv", 1), ("2023-02-16.csv", 1)]
    assert [(r.file, r.added, r.rejected) for r in second] == [("2023-02-17.xlsx", 1, False),
                                                               ("2023-02-18.csv", 0, True)]
    assert set(completions(engine)) == {"TN-01", "TN-02", "KP-01"}
    assert [r.file for r in import_new_exports(engine, lc, folder)] == ["2023-02-18.csv"]  # tried until fixed
    with pytest.raises(SourceDataError, match="response folder not found"):
        import_new_exports(engine, lc, tmp_path / "nowhere")


def test_concurrent_imports_neither_fail_nor_double_count(engine: Engine, lc: LoadedCampaign,
                                                          tmp_path: Path) -> None:
    import_roster(engine, lc, small_roster(tmp_path))
    header = ("Mã cán bộ", "Thời gian hoàn thành")
    # Four exports naming the same people (a new row each), and the first one twice.
    paths = [write_csv(tmp_path / f"{i}.csv", [header, *((s[0], f"{15 + i}/02/2023 08:00") for s in STAFF)])
             for i in range(4)]

    with ThreadPoolExecutor(max_workers=5) as pool:
        reports = list(pool.map(lambda p: import_responses(engine, lc, p), [*paths, paths[0]]))

    assert sum(r.added for r in reports) == len(STAFF) and sum(r.skipped_same_file for r in reports) == 1
    assert set(completions(engine).values()) == {dt.datetime(2023, 2, 15, 8, 0, tzinfo=VN)}
    assert count(engine, Import) == 1 + 4


# --- compliance after imports ----------------------------------------------------------------------


def test_compliance_counts_the_imported_roster_and_responses(engine: Engine, lc: LoadedCampaign,
                                                             tmp_path: Path) -> None:
    import_roster(engine, lc, small_roster(tmp_path))
    header = ("Mã cán bộ", "Thời gian hoàn thành")
    import_responses(engine, lc, write_csv(tmp_path / "a.csv", [header, ("TN-01", "15/02/2023 16:59"),
                                                                ("TN-03", "16/02/2023 00:30"),
                                                                ("EH-02", "2023-02-17T23:30:00+07:00")]))

    day1 = compliance.compute(engine, lc, dt.date(2023, 2, 15))
    day2 = compliance.compute(engine, lc, dt.date(2023, 2, 16))
    day3 = compliance.compute(engine, lc, dt.date(2023, 2, 17))

    stnmt, eahleo, kpac = (day3.unit(code) for code in ("STNMT", "EAHLEO", "KPAC"))
    assert stnmt.name == "Sở Tài nguyên và Môi trường"
    assert (stnmt.required, stnmt.responded, [o.staff_id for o in stnmt.missing]) == (3, 2, ["TN-02"])
    assert (eahleo.required, eahleo.responded, [o.name for o in eahleo.missing]) == (2, 1, ["H'Nga Niê"])
    assert (kpac.required, kpac.responded, kpac.compliant) == (2, 0, False)
    # 00:30 on the 16th in Vietnam is still the 15th in UTC: it counts from the 16th, Vietnam's day.
    assert (day1.unit("STNMT").responded, day2.unit("STNMT").responded) == (1, 2)
    assert day2.unit("EAHLEO").responded == 0
    assert day3.required == len(STAFF) and day3.responded == 3


def test_counts_only_agrees_with_the_listed_compliance(engine: Engine, lc: LoadedCampaign, tmp_path: Path) -> None:
    """``status`` counts with one aggregate query: the same numbers as the per-person computation, to the second
    at midnight in Vietnam, with responses from off the roster counted apart."""
    import_roster(engine, lc, small_roster(tmp_path))
    header = ("Mã cán bộ", "Thời gian hoàn thành")
    import_responses(engine, lc, write_csv(tmp_path / "a.csv", [
        header, ("TN-01", "15/02/2023 23:59:59"), ("TN-03", "16/02/2023 00:00"), ("KP-02", "16/02/2023 10:00"),
        ("ZZ-99", "15/02/2023 09:00"), ("ZZ-98", "17/02/2023 09:00")]))

    for day in (dt.date(2023, 2, 14), dt.date(2023, 2, 15), dt.date(2023, 2, 16), dt.date(2023, 2, 17)):
        listed, counted = compliance.compute(engine, lc, day), compliance.compute(engine, lc, day, names=False)
        assert [(u.code, u.required, u.responded, u.compliant) for u in counted.units] == \
               [(u.code, u.required, u.responded, u.compliant) for u in listed.units]
        assert all(u.required - u.responded == len(u.missing) for u in listed.units)
        assert counted.unknown_responses == listed.unknown_responses
        assert not any(u.missing for u in counted.units)
    on_15 = compliance.compute(engine, lc, dt.date(2023, 2, 15), names=False)
    assert (on_15.unit("STNMT").responded, on_15.unit("KPAC").responded, on_15.unknown_responses) == (1, 0, 1)
    on_17 = compliance.compute(engine, lc, dt.date(2023, 2, 17), names=False)
    assert (on_17.unit("STNMT").responded, on_17.unit("KPAC").responded, on_17.unknown_responses) == (2, 1, 2)


def test_a_unit_code_stored_in_another_case_is_listed_under_the_units_code(engine: Engine, lc: LoadedCampaign,
                                                                           tmp_path: Path) -> None:
    """Codes compare in any case: a roster row stored as ``stnmt`` (by hand, or before units.yaml changed case)
    counts for STNMT and is listed there, in roster order, with the code as units.yaml spells it."""
    import_roster(engine, lc, small_roster(tmp_path))
    with engine.begin() as conn:
        conn.execute(sa.update(Staff).where(Staff.staff_id == "TN-02").values(unit="stnmt"))

    listed = compliance.compute(engine, lc, dt.date(2023, 2, 15))
    counted = compliance.compute(engine, lc, dt.date(2023, 2, 15), names=False)

    stnmt = listed.unit("STNMT")
    assert [(o.staff_id, o.unit) for o in stnmt.missing] == [("TN-01", "STNMT"), ("TN-02", "STNMT"), ("TN-03", "STNMT")]
    assert (stnmt.required, counted.unit("STNMT").required, counted.unit("STNMT").responded) == (3, 3, 0)


# --- the simulated campaign ------------------------------------------------------------------------


def test_simulated_responses_are_deterministic_and_lagging_units_plateau() -> None:
    people = [(f"{unit}-{i}", unit) for unit in ("STNMT", "EAHLEO", "KPAC") for i in range(20)]

    def run(seed: int) -> list[tuple[dt.date, list[tuple[str, dt.datetime]]]]:
        return simulate_responses(people, start=dt.date(2023, 2, 13), days=10, seed=seed, lagging={"KPAC": 0.4})

    days = run(7)

    assert days == run(7) and days != run(8)
    assert [d for d, _ in days] == [dt.date(2023, 2, 13) + dt.timedelta(days=i) for i in range(10)]
    answered = Counter(sid.split("-")[0] for _, answers in days for sid, _ in answers)
    assert answered == {"STNMT": 20, "EAHLEO": 20, "KPAC": 8}
    assert all(at.date() == day and 7 <= at.hour < 18 for day, answers in days for _, at in answers)


def test_simulated_exports_import_day_by_day(engine: Engine, lc: LoadedCampaign, tmp_path: Path) -> None:
    import_roster(engine, lc, small_roster(tmp_path))
    days = simulate_responses([(s[0], s[0].split("-")[0]) for s in STAFF], start=dt.date(2023, 2, 13), days=5,
                              seed=1, lagging={"KP": 0.5})
    for day, answers in days:
        write_export(tmp_path / "exports" / f"{day:%Y-%m-%d}.csv", answers)

    reports = import_new_exports(engine, lc, tmp_path / "exports")

    assert len(reports) == 5 and not any(r.rejected or r.warnings for r in reports)
    assert (tmp_path / "exports" / "2023-02-13.csv").read_bytes().startswith(
        "\ufeffMã cán bộ,Thời gian hoàn thành\r\n".encode())  # the BOM lets Excel show the Vietnamese
    final = compliance.compute(engine, lc, dt.date(2023, 2, 17))
    assert final.unit("STNMT").responded == 3 and final.unit("KPAC").responded == 1
    assert completions(engine) == {sid: at for _, answers in days for sid, at in answers}


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each workbook opened from now on (none kept from an earlier test)."""
    found: list[object] = []
    real = xlsx_reader.XlsxBook.__init__

    def counted(book: xlsx_reader.XlsxBook, data: bytes, shown: str) -> None:
        found.append(shown)
        real(book, data, shown)

    monkeypatch.setattr(xlsx_reader.XlsxBook, "__init__", counted)
    monkeypatch.setattr(sources, "_last_sheet", None)
    return found


def test_the_same_workbook_read_twice_is_parsed_once_and_a_changed_one_again(
        tmp_path: Path, lc: LoadedCampaign, opened: list[object]) -> None:
    """A flow command validates its campaign twice (in the CLI, then in the flow): the second reading of the same
    bytes does not parse the workbook again, and gives the same roster; other bytes, or another reading of them
    (as responses, with other columns), are read as they are."""
    path = small_roster(tmp_path)
    first = read_roster(lc, path)
    again = read_roster(lc, path)
    assert len(opened) == 1
    assert again == first and len(first.staff) == len(STAFF)
    other = _campaign(name=["Tên"])  # other headers for the name: the same cells, mapped afresh
    with pytest.raises(SourceDataError, match="missing column 'Tên'"):
        read_roster(other, path)
    with pytest.raises(SourceDataError, match="missing column 'Thời gian hoàn thành'"):
        read_responses(lc, path)
    assert len(opened) == 1
    write_xlsx(path, [HEADERS, *STAFF[:-1], ("KP-02", "Võ Quốc Hùng", "Chuyên viên", "KPAC", "")])
    changed = read_roster(lc, path)
    assert len(opened) == 2
    assert changed.staff[-1].position == "Chuyên viên" and first.staff[-1].position == "Trưởng phòng Nội vụ"


def test_a_workbook_that_fails_is_not_remembered(tmp_path: Path, lc: LoadedCampaign, opened: list[object]) -> None:
    path = write_xlsx(tmp_path / "roster.xlsx", [("Ghi chú",)] * 12)  # no header in the first ten rows
    for _ in range(2):
        with pytest.raises(SourceDataError, match="no header row"):
            read_roster(lc, path)
    assert len(opened) == 2


def test_insert_many_writes_what_the_orm_reads_and_refuses_a_row_short_of_a_defaulted_column(engine: Engine) -> None:
    """The imports' executemany on the driver's cursor (store.db.insert_many): values and datetimes read back as
    written, on both databases; rows that leave out a column with a Python-side default are refused, not
    written without it."""
    table = Response.__table__
    at = dt.datetime(2023, 2, 20, 9, 30, 15, 123456, tzinfo=VN).astimezone(dt.UTC)  # stored in UTC, as imported
    with Session(engine) as session:
        insert_many(session, table, [{"campaign": "c", "staff_id": "Ea H'leo-01", "completed_at": at,
                                      "import_id": None}])
        with pytest.raises(ValueError, match="position"):
            insert_many(session, Staff.__table__, [{"campaign": "c", "staff_id": "X", "name": "Krông Pắc",
                                                    "unit": "KPAC", "email": None, "import_id": None,
                                                    "answered_at": None}])
        session.commit()
    assert completions(engine) == {"Ea H'leo-01": at}
    assert count(engine, Staff) == 0


@pytest.mark.parametrize("cell", ["Nguyễn Thị Hồng", "Sở Tài nguyên & Môi trường", "Ea H'leo", "CB-0001",
                                  unicodedata.normalize("NFD", "Krông Pắc"), " Krông  Pắc ", "Krông\u00a0Pắc",
                                  "Krông\u3000Pắc", "Ea\u200bH'leo", "Ea\x0bH'leo", "Ea\ufffeH'leo", "Ea\u2028H'leo",
                                  "Ea\tH'leo", "Cư M'gar\n", 1023.0, 7.5, None])
def test_a_cell_read_as_text_is_trimmed_nfc_and_xml_safe_whichever_way_it_is_read(cell: object) -> None:
    """The quick way (a cell already clean, as most of a big file's are) gives what the full cleaning gives."""
    from congvan.roster.cells import _text
    from congvan.text import clean

    text = _text(cell)
    if isinstance(cell, str):
        assert text == " ".join(clean(cell).split())
    assert unicodedata.is_normalized("NFC", text) and text == text.strip() and "  " not in text
    assert not any(c in text for c in "\x0b\ufffe\t\n\u00a0\u3000")
