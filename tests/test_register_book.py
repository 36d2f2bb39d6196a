"""The register as the office keeps it: a book started at the office's number, separate books per kind,
the entry recorded with each number, and Decree 30's register of outgoing documents as a workbook."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from support import Project, error_lines

from congvan import register
from congvan.config import load_campaign
from congvan.dispatch import allocate as allocate_dispatch
from congvan.errors import ConfigError, RegisterError
from congvan.register_book import entry_for, known_registers, register_name, register_rows, set_next
from congvan.register_export import COLUMNS, write_register
from congvan.store import init_db, make_engine, transaction
from congvan.store.models import Delivery, DeliveryStatus, RegisterCounter

CAMPAIGN = "par-index-2022"
FIRST_ROW = 8  # title (4 lines), a blank line, the headings, the column numbers


def _take(engine: Engine, key: str, day: dt.date, register_: str = "ubnd-daklak") -> register.Allocation:
    return register.allocate(engine, key=key, register=register_, symbol="UBND-KSTTHC", issued_on=day,
                             campaign="c", kind="letter")


def test_set_next_starts_the_book_at_the_offices_number(engine: Engine) -> None:
    done = set_next(engine, "ubnd-daklak", 2024, 215)
    assert (done.next_number, done.previous_next, done.highest_issued) == (215, 1, None)
    first = _take(engine, "c/a", dt.date(2024, 5, 6))
    assert (first.number, first.so_ky_hieu) == (215, "215/UBND-KSTTHC")
    assert _take(engine, "c/b", dt.date(2024, 5, 7)).number == 216
    assert _take(engine, "c/c", dt.date(2025, 1, 2)).number == 1  # a new year starts at 01
    with transaction(engine) as session:
        counter = session.get_one(RegisterCounter, ("ubnd-daklak", 2024))
        assert (counter.first_number, counter.last_number) == (215, 216)
        assert counter.updated_at is not None


def test_set_next_is_refused_at_or_below_a_number_issued(engine: Engine) -> None:
    for i in range(3):
        _take(engine, f"c/{i}", dt.date(2024, 3, 1))
    for number in (3, 2, 1):
        with pytest.raises(RegisterError, match=rf"already issued number 03 in congvan: .* not {number:02d} "
                                                r"\(nothing was changed\)"):
            set_next(engine, "ubnd-daklak", 2024, number)
    assert _take(engine, "c/next", dt.date(2024, 3, 2)).number == 4
    assert set_next(engine, "ubnd-daklak", 2024, 10).previous_next == 5
    assert _take(engine, "c/after", dt.date(2024, 3, 3)).number == 10
    with transaction(engine) as session:  # the book did not start at 10: it started at 01
        assert session.get_one(RegisterCounter, ("ubnd-daklak", 2024)).first_number is None


@pytest.mark.parametrize(("year", "number", "message"), [(2024, 0, "start at 1, not 0"),
                                                         (1990, 5, "not a plausible year")])
def test_set_next_bad_values(engine: Engine, year: int, number: int, message: str) -> None:
    with pytest.raises(RegisterError, match=message):
        set_next(engine, "ubnd-daklak", year, number)
    with transaction(engine) as session:
        assert session.scalars(sa.select(RegisterCounter)).all() == []


def test_separate_books_per_kind(tmp_path: Path, engine: Engine) -> None:
    project = Project(tmp_path)
    project.edit("authorities.yaml", lambda d: d["authorities"]["ubnd-daklak"].update(
        books={"bao_cao": "ubnd-daklak-bc"}))
    lc = load_campaign(project.config, CAMPAIGN)
    assert register_name(lc, "dispatch") == register_name(lc, "letter") == "ubnd-daklak"
    assert register_name(lc, "report") == "ubnd-daklak-bc"
    assert known_registers(project.config)["ubnd-daklak-bc"] == "Ủy ban nhân dân tỉnh Đắk Lắk (báo cáo)"
    day = dt.date(2023, 3, 3)
    dispatch = allocate_dispatch(engine, lc, dt.date(2023, 2, 10))
    report = register.allocate(engine, key="r", register=register_name(lc, "report"), symbol="BC-UBND",
                               issued_on=day, campaign=CAMPAIGN, kind="report", entry=entry_for(lc, "report", 4))
    assert (dispatch.so_ky_hieu, report.so_ky_hieu) == ("01/UBND-KSTTHC", "01/BC-UBND")


def test_an_unknown_kind_of_book_is_a_config_error(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.edit("authorities.yaml", lambda d: d["authorities"]["ubnd-daklak"].update(books={"to_trinh": "x"}))
    with pytest.raises(ConfigError, match="books"):
        load_campaign(project.config, CAMPAIGN)


def test_the_entry_is_recorded_with_the_number_and_stays_when_the_yaml_changes(tmp_path: Path,
                                                                               engine: Engine) -> None:
    project = Project(tmp_path)
    lc = load_campaign(project.config, CAMPAIGN)
    allocate_dispatch(engine, lc, dt.date(2023, 2, 10))
    project.edit(f"campaigns/{CAMPAIGN}.yaml", lambda d: d.update(summary=["một trích yếu khác"]))
    (row,) = register_rows(engine, config_dir=project.config, year=2023)
    assert row.ten_loai_trich_yeu.startswith("Công văn V/v tham gia điều tra xã hội học")
    assert (row.nguoi_ky, row.ban_luu) == ("Phạm Ngọc Nghị", lc.campaign.luu)
    assert row.noi_nhan == "; ".join(lc.kinh_gui)  # as the letter addresses them, not 38 names


def test_the_printed_register(tmp_path: Path, engine: Engine) -> None:
    project = Project(tmp_path)
    lc = load_campaign(project.config, CAMPAIGN)
    dispatch = allocate_dispatch(engine, lc, dt.date(2023, 2, 10))
    letter = register.allocate(engine, key="l", register="ubnd-daklak", symbol="UBND-KSTTHC",
                               issued_on=dt.date(2023, 2, 27), campaign=CAMPAIGN, kind="letter", unit="EAHLEO",
                               level=2, entry=register.Entry("=HYPERLINK(\"http://x\")", "Trần Minh Đức",
                                                             "VT, KSTTHC"))
    sent_at = dt.datetime(2023, 2, 26, 20, 0, tzinfo=dt.UTC)  # 03:00 on 27/02 in Vietnam
    with transaction(engine) as session:
        session.add_all([
            Delivery(document_id=letter.document_id, address="chutich@eahleo.example", display_name="Y Khoa Byă",
                     role="to", unit="EAHLEO", message_id="<a@x>", status=DeliveryStatus.SENT, sent_at=sent_at),
            Delivery(document_id=letter.document_id, address="vanthu@eahleo.example",
                     display_name="UBND huyện Ea H'leo", role="cc", unit="EAHLEO", message_id="<a@x>",
                     status=DeliveryStatus.FAILED_PERMANENT),
        ])
    out = write_register(register_rows(engine, config_dir=project.config, year=2023), tmp_path / "so.xlsx",
                         authority_names=known_registers(project.config))
    sheet = openpyxl.load_workbook(out)["ubnd-daklak 2023"]
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0][0] == "ỦY BAN NHÂN DÂN TỈNH ĐẮK LẮK" and cells[1][0] == "SỔ ĐĂNG KÝ VĂN BẢN ĐI"
    assert cells[FIRST_ROW - 3][:len(COLUMNS)] == tuple(title for title, _ in COLUMNS)
    assert cells[FIRST_ROW - 2][:3] == ("(1)", "(2)", "(3)")
    rows: list[tuple[Any, ...]] = cells[FIRST_ROW - 1:]
    assert [r[0] for r in rows] == [dispatch.so_ky_hieu, "02/UBND-KSTTHC"]
    first, second = rows
    assert first[1] == dt.datetime(2023, 2, 10)
    assert first[3] == "Phạm Ngọc Nghị" and first[5] == lc.campaign.luu
    assert second[2] == "Công văn =HYPERLINK(\"http://x\")"
    assert sheet.cell(row=FIRST_ROW + 1, column=3).data_type == "s"  # text, never a formula
    assert second[4] == "Y Khoa Byă; UBND huyện Ea H'leo"
    assert second[6] == 2 and second[7] == dt.datetime(2023, 2, 27)  # the day it left, in Vietnam
    assert second[9] == "gửi qua thư điện tử; 1 địa chỉ chưa gửi được"
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.print_title_rows == f"${FIRST_ROW - 2}:${FIRST_ROW - 1}"


# --- the commands -------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path)
    project.env["CONGVAN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'congvan.db'}"
    return project


def test_set_next_through_the_cli_numbers_the_next_dispatch(project: Project) -> None:
    result = project.run("register", "set-next", "ubnd-daklak", "2023", "215")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("Register ubnd-daklak (Ủy ban nhân dân tỉnh Đắk Lắk), 2023: the next number is 215 "
                             "(it was 01).\n")
    engine = make_engine(project.env["CONGVAN_DATABASE_URL"])
    lc = load_campaign(project.config, CAMPAIGN)
    assert allocate_dispatch(engine, lc, dt.date(2023, 2, 10)).so_ky_hieu == "215/UBND-KSTTHC"
    engine.dispose()
    again = project.run("register", "set-next", "ubnd-daklak", "2023", "200")
    assert again.returncode == 2
    assert error_lines(again) == ["Error: register ubnd-daklak 2023 has already issued number 215 in congvan: the "
                                  "next number must be above it, not 200 (nothing was changed)"]


@pytest.mark.parametrize(("args", "message"), [
    (("register", "set-next", "ubnd-hanoi", "2023", "5"),
     "no register 'ubnd-hanoi' in {config}/authorities.yaml (known: snv-daklak, ubnd-daklak); nothing was changed"),
    (("register", "set-next", "ubnd-daklak", "2023", "0"), "register numbers start at 1, not 0"),
    (("register", "export", "--year", "2019"),
     "nothing was issued in 2019 in the register (it is empty); no file written"),
    (("register", "export", "--out", "so.pdf"), "Invalid value for '--out': so.pdf is not an .xlsx file"),
])
def test_register_commands_refuse_in_one_line(project: Project, args: tuple[str, ...], message: str) -> None:
    result = project.run(*args)
    assert result.returncode == 2
    assert error_lines(result) == ["Error: " + message.format(config="config")]
    assert not list(project.out.glob("*.xlsx")) if project.out.exists() else True


def test_export_of_a_year_with_nothing_issued_names_the_years_held(project: Project) -> None:
    engine = make_engine(project.env["CONGVAN_DATABASE_URL"])
    init_db(engine)
    allocate_dispatch(engine, load_campaign(project.config, CAMPAIGN), dt.date(2023, 2, 10))
    engine.dispose()
    result = project.run("register", "export", "--year", "2024")
    assert result.returncode == 2
    assert error_lines(result) == ["Error: nothing was issued in 2024 in the register (it holds 2023); "
                                   "no file written"]
    done = project.run("register", "export", "--year", "2023")
    assert done.returncode == 0, done.stderr
    path = project.out / "so-van-ban-di-2023.xlsx"
    assert done.stdout == f"1 document(s) → {path}\n"
    assert openpyxl.load_workbook(path).active.cell(row=FIRST_ROW, column=1).value == "01/UBND-KSTTHC"
