"""A coordinator's first day (issue 15): `congvan new`, units in Excel, and `validate` catching what would fail
later. Real processes on a private copy of the project, real .xlsx files through openpyxl."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import openpyxl
import pytest
import yaml
from support import Project, edit_yaml, error_lines, free_port, wait_for_port

from congvan.config import load_campaign
from congvan.errors import ConfigError
from congvan.units_excel import read_units
from congvan.validation import validate_campaign

SAMPLE = "par-index-2022"
HEADER = ["Mã cán bộ", "Họ và tên", "Chức vụ", "Đơn vị", "Email"]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# --- congvan new ----------------------------------------------------------------------------------------------


def test_new_makes_a_campaign_of_its_own_that_validates_once_its_roster_is_filled(project: Project) -> None:
    result = project.run("new", "khao-sat-2024", "--from", SAMPLE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-3:] == ["  congvan validate khao-sat-2024", "  congvan dispatch khao-sat-2024",
                                               "  congvan roster import khao-sat-2024"]
    config, templates = project.config, project.root / "templates"
    text = (config / "campaigns" / "khao-sat-2024.yaml").read_text(encoding="utf-8")
    assert "# Theo dõi: ai phải trả lời (danh sách cán bộ)" in text  # the source's comments are kept
    lc = load_campaign(config, "khao-sat-2024")
    camp = lc.campaign
    assert camp.template == "khao-sat-2024_cong_van.docx"
    assert camp.follow_up is not None
    assert camp.follow_up.roster == "rosters/khao-sat-2024.xlsx"
    assert camp.follow_up.responses == "responses/khao-sat-2024"
    assert [s.template for s in camp.follow_up.ladder] == [
        "khao-sat-2024_nhac_nho", "khao-sat-2024_cong_van_don_doc.docx", "khao-sat-2024_cong_van_giai_trinh.docx",
        "khao-sat-2024_bao_cao.docx"]
    assert (camp.mail_templates.dispatch, camp.mail_templates.letter, camp.mail_templates.report) == (
        "khao-sat-2024_dispatch", "khao-sat-2024_letter", "khao-sat-2024_report")
    for name in ("khao-sat-2024_cong_van.docx", "mail/khao-sat-2024_nhac_nho.txt", "mail/khao-sat-2024_letter.html"):
        original = templates / name.replace("khao-sat-2024_", "")
        assert (templates / name).read_bytes() == original.read_bytes()
    assert (config / "responses" / "khao-sat-2024").is_dir()
    # The source is untouched, and the copy's wording is its own: editing it leaves the sample's mail as it was.
    assert load_campaign(config, SAMPLE).campaign.template == "cong_van.docx"

    book = openpyxl.load_workbook(config / "rosters" / "khao-sat-2024.xlsx")
    roster, units = book.worksheets
    assert [c.value for c in roster[1]] == HEADER
    assert roster.max_row == 1  # no example rows that could be imported as officials by mistake
    assert [r[0] for r in units.iter_rows(min_row=2, values_only=True)] == [a.unit.code for a in lc.addressees]
    assert str(roster.data_validations.dataValidation[0].sqref).startswith("D2:")

    empty = project.run("validate", "khao-sat-2024")
    assert empty.returncode == 2
    (line,) = error_lines(empty)
    assert "no staff on the roster yet: fill in sheet 'Danh sách'" in line

    roster.append(["A-01", "Nguyễn Văn An", "Chuyên viên", "SNV", ""])
    roster.append(["A-02", "H'Hen Niê", "Chuyên viên", "STP", "hhen.stp@daklak.example"])
    book.save(config / "rosters" / "khao-sat-2024.xlsx")
    filled = project.run("validate", "khao-sat-2024")
    assert filled.returncode == 0, filled.stderr
    assert filled.stdout.startswith("khao-sat-2024: OK: 36 units")
    warnings = filled.stderr.splitlines()
    assert len(warnings) == 1, filled.stderr  # one summary line, not one per unit
    assert "the roster covers 2 of the 36 units the campaign addresses; nobody listed for 34" in warnings[0]


@pytest.mark.parametrize(("name", "source", "expected"), [
    (SAMPLE, SAMPLE, "exists already"),
    ("moi", "khong-co", "no campaign 'khong-co'"),
    ("../ra-ngoai", SAMPLE, "not a campaign name"),
    ("co dau cach", SAMPLE, "not a campaign name"),
])
def test_new_refuses_in_one_line_and_writes_nothing(project: Project, name: str, source: str, expected: str) -> None:
    before = _listing(project.root)
    result = project.run("new", name, "--from", source)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert expected in line
    assert _listing(project.root) == before


def test_new_refuses_when_a_template_copy_is_in_the_way(project: Project) -> None:
    (project.root / "templates" / "mine_cong_van.docx").write_bytes(b"someone else's")
    before = _listing(project.root)
    result = project.run("new", "mine", "--from", SAMPLE)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "mine_cong_van.docx exists already" in line
    assert _listing(project.root) == before


OWN_ROSTER = Path(__file__).resolve().parent.parent / "docs" / "vi-du" / "danh-sach-can-bo.xlsx"


def test_new_takes_the_units_the_deadline_the_date_and_the_roster(project: Project) -> None:
    result = project.run("new", "tinh-gon", "--from", SAMPLE, "--units", "STNMT,EAHLEO", "--units", "KPAC",
                         "--date", "01/12/2026", "--deadline", "2026-12-15", "--roster", str(OWN_ROSTER))
    assert result.returncode == 0, result.stderr
    assert "config/rosters/tinh-gon.xlsx (your list, copied in)" in result.stdout  # CONGVAN_LANG=en
    text = (project.config / "campaigns" / "tinh-gon.yaml").read_text(encoding="utf-8")
    assert "kinh_gui:\n  - unit: STNMT\n  - unit: EAHLEO\n  - unit: KPAC\n\nbody:" in text  # edited in place
    assert "# Ngày dự kiến ban hành." in text  # the comments stay
    camp = load_campaign(project.config, "tinh-gon").campaign
    assert camp.kinh_gui and [k.unit for k in camp.kinh_gui] == ["STNMT", "EAHLEO", "KPAC"]
    assert str(camp.date) == "2026-12-01"
    assert camp.follow_up is not None
    # The sample closes 35 days after its deadline (24/02 → 31/03/2023): the new campaign keeps the gap.
    assert (str(camp.follow_up.deadline), str(camp.follow_up.closes)) == ("2026-12-15", "2027-01-19")
    assert (project.config / "rosters" / "tinh-gon.xlsx").read_bytes() == OWN_ROSTER.read_bytes()
    validated = project.run("validate", "tinh-gon")
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith("tinh-gon: OK: 3 units")
    assert validated.stderr == ""  # the roster covers exactly the three units


def test_new_without_a_roster_lists_only_the_chosen_units_in_the_form(project: Project) -> None:
    assert project.run("new", "ba-don-vi", "--from", SAMPLE, "--units", "KPAC,EAHLEO").returncode == 0
    book = openpyxl.load_workbook(project.config / "rosters" / "ba-don-vi.xlsx")
    assert [r[0] for r in book.worksheets[1].iter_rows(min_row=2, values_only=True)] == ["KPAC", "EAHLEO"]


@pytest.mark.parametrize(("options", "expected"), [
    (["--units", "STNMT,KHONGCO"], "--units: no unit 'KHONGCO' in config/units.yaml"),
    (["--units", ","], "--units: name at least one unit code"),
    (["--roster", "khong-co.xlsx"], "--roster: khong-co.xlsx: no such file"),
    (["--deadline", "31/02/2026"], "'31/02/2026' is not a date (YYYY-MM-DD or dd/mm/yyyy)"),
])
def test_new_refuses_a_bad_change_and_writes_nothing(project: Project, options: list[str], expected: str) -> None:
    before = _listing(project.root)
    result = project.run("new", "tinh-gon", "--from", SAMPLE, *options)
    assert result.returncode == 2
    assert expected in result.stderr
    assert _listing(project.root) == before


def _english_fragments() -> list[str]:
    """The longest literal piece of every translated msgid: seen in a Vietnamese run, a message escaped _()."""
    from congvan.i18n import PO_FILE, read_po

    fragments = []
    for msgid, msgstr in read_po(PO_FILE.read_text(encoding="utf-8")).items():
        pieces = [p.strip() for p in re.split(r"\{[^}]*\}", msgid)]
        longest = max(pieces, key=len, default="")
        if msgid and msgstr and msgstr != msgid and len(longest) >= 16 and longest not in msgstr:
            fragments.append(longest)
    return fragments


def test_from_a_fresh_copy_to_ones_own_campaign_dispatched_in_five_commands(tmp_path: Path,
                                                                             prefect_api: str) -> None:
    """Issue 15's "done when": `make setup` (done by the suite's own set-up), then four congvan commands, reading
    only Vietnamese: a three-unit campaign of one's own, approved and mailed to the catcher."""
    project = Project(tmp_path, approval=True)
    port = free_port()
    env = {"CONGVAN_LANG": "vi", "CONGVAN_SMTP_PORT": str(port), "PREFECT_API_URL": prefect_api,
           "PREFECT_HOME": str(tmp_path / "prefect-home")}
    deadline = (dt.date.today() + dt.timedelta(days=30)).strftime("%d/%m/%Y")
    printed = []
    new = project.run("new", "tinh-gon", "--from", SAMPLE, "--units", "STNMT,EAHLEO,KPAC", "--deadline", deadline,
                      "--roster", str(OWN_ROSTER), **env)
    printed.append(new)
    catcher = subprocess.Popen(project.command("mailcatcher"), cwd=project.root, env={**project.env, **env},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    try:
        wait_for_port(port, catcher)
        printed.append(project.run("dispatch", "tinh-gon", timeout=300, **env))
        printed.append(project.run("approve", "tinh-gon", timeout=300, **env))
    finally:
        catcher.terminate()
        out, err = catcher.communicate(timeout=30)
    for result in printed:
        assert result.returncode == 0, [*result.args[-1:], result.stdout, result.stderr]
    assert "Chờ người ký duyệt" in printed[1].stdout
    assert "Đã gửi 5, bị từ chối 0, chờ gửi 0" in printed[2].stdout
    text = "".join(r.stdout + r.stderr for r in printed) + out + err
    assert "Hộp thư thử" in err  # the catcher speaks Vietnamese too
    leaked = [fragment for fragment in _english_fragments() if fragment in text]
    assert leaked == [], text
    delivered = sorted(addr for path in (project.out / "mailbox").glob("*.json")
                       for addr in json.loads(path.read_text(encoding="utf-8"))["rcpt_tos"])
    assert delivered == sorted(["vanthu.stnmt@daklak.example", "vanthu.eahleo@daklak.example",
                                "vanthu.kpac@daklak.example", "vanthu.tinhuy@daklak.example",
                                "vanthu.hdnd@daklak.example"])


# --- units export / import ------------------------------------------------------------------------------------


def test_units_round_trip_and_vietnamese_names_survive(project: Project, tmp_path: Path) -> None:
    book_path = tmp_path / "don-vi.xlsx"
    exported = project.run("units", "export", "--out", str(book_path))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip() == str(book_path)
    before = read_units(project.config)
    same = project.run("units", "import", str(book_path))
    assert same.returncode == 0, same.stderr
    assert read_units(project.config) == before

    book = openpyxl.load_workbook(book_path)
    ws = book["Đơn vị"]
    names = {"Sở Tài nguyên & Môi trường", "UBND huyện Ea H'leo", "UBND huyện Krông Pắc", 'Ban "Dân tộc"'}
    for row, name in zip(range(2, 6), sorted(names), strict=True):
        ws.cell(row=row, column=2).value = unicodedata.normalize("NFD", name)  # as pasted from macOS
    book.save(book_path)
    changed = project.run("units", "import", str(book_path))
    assert changed.returncode == 0, changed.stderr
    text = (project.config / "units.yaml").read_text(encoding="utf-8")
    assert text.startswith("# Các đơn vị nhận công văn của chiến dịch par-index-2022")  # the header comment is kept
    assert {u.name for u in read_units(project.config).units} >= names  # NFC, "&", "'" and '"' as written
    assert validate_campaign(project.config, project.root / "templates", SAMPLE).campaign.addressees


def test_units_import_lists_every_problem_by_sheet_row_and_column_and_writes_nothing(project: Project,
                                                                                       tmp_path: Path) -> None:
    book_path = tmp_path / "don-vi.xlsx"
    assert project.run("units", "export", "--out", str(book_path)).returncode == 0
    book = openpyxl.load_workbook(book_path)
    ws = book["Đơn vị"]
    ws["D5"] = "vanthu.stp@daklak"  # row 5: a mailbox without a top-level domain
    ws["B7"] = None  # row 7: no name
    ws["A9"] = ws["A8"].value  # row 9: the code of row 8 again
    ws["C10"] = "khong-co"  # row 10: a group that does not exist
    book.save(book_path)
    before = (project.config / "units.yaml").read_bytes()
    result = project.run("units", "import", str(book_path))
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 4, lines
    assert any("sheet 'Đơn vị', row 5, column 'Hộp thư chung'" in line and "bad or incomplete domain" in line
               for line in lines)
    assert any("row 7, column 'Tên đơn vị': required, but the cell is empty" in line for line in lines)
    assert any("row 9, column 'Mã đơn vị': duplicate unit code" in line and "(also row 8;" in line for line in lines)
    assert any("row 10, column 'Nhóm': unknown group 'khong-co'" in line for line in lines)
    assert (project.config / "units.yaml").read_bytes() == before


def test_units_import_keeps_the_campaigns_whole(project: Project, tmp_path: Path) -> None:
    book_path = tmp_path / "don-vi.xlsx"
    assert project.run("units", "export", "--out", str(book_path)).returncode == 0
    book = openpyxl.load_workbook(book_path)
    ws = book["Đơn vị"]
    code = ws["A2"].value
    ws.delete_rows(2)  # the unit the sample names on its own in kinh_gui
    book.save(book_path)
    result = project.run("units", "import", str(book_path))
    assert result.returncode == 2
    group, campaign = error_lines(result)
    assert "sheet 'Nhóm', row 2: no unit belongs to this group" in group  # it was the only unit of dan-cu
    assert f"kinh_gui[0].unit: unknown unit '{code}'" in campaign and "the campaign would lose it" in campaign


# --- validate catches what fails later ------------------------------------------------------------------------


def _validate(project: Project) -> list[str]:
    try:
        validate_campaign(project.config, project.root / "templates", SAMPLE)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_a_signer_line_without_its_dot_is_an_error_at_validate(project: Project) -> None:
    project.edit("authorities.yaml", lambda d: d["authorities"]["ubnd-daklak"]["signers"]["pho-chu-tich"].update(
        lines=["KT CHỦ TỊCH", "PHÓ CHỦ TỊCH"]))
    (problem,) = _validate(project)
    assert "follow_up.ladder 'don-doc'.signer: signer 'pho-chu-tich'" in problem
    assert "S1 'KT CHỦ TỊCH': expected authority line prefix one of TM./KT./TL./TUQ./Q." in problem


def test_a_missing_responses_folder_is_an_error_at_validate(project: Project) -> None:
    shutil.rmtree(project.config / "responses" / SAMPLE)
    (problem,) = _validate(project)
    assert "follow_up.responses: folder not found" in problem


def test_a_copied_campaign_sharing_the_responses_folder_is_an_error(project: Project) -> None:
    shutil.copy(project.config / "campaigns" / f"{SAMPLE}.yaml", project.config / "campaigns" / "ban-sao.yaml")
    result = project.run("validate", "ban-sao")
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "follow_up.responses: responses/par-index-2022 is also the responses of campaign par-index-2022" in line


def test_a_summary_line_too_wide_for_the_header_cell_is_a_warning(project: Project) -> None:
    edit_yaml(project.config / "campaigns" / f"{SAMPLE}.yaml", lambda d: d.update(
        summary=["tham gia điều tra xã hội học phục vụ xác định Chỉ số", "cải cách hành chính năm 2022"]))
    result = project.run("validate", SAMPLE)
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("Warning: ") and "summary line 1: 'V/v tham gia" in line
    assert "Word will wrap it" in line


def test_the_sample_validates_without_warnings(project: Project) -> None:
    checked = validate_campaign(project.config, project.root / "templates", SAMPLE)
    assert checked.warnings == ()
    assert yaml.safe_load((project.config / "campaigns" / f"{SAMPLE}.yaml").read_text(encoding="utf-8"))
