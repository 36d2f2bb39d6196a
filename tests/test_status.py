"""``congvan status`` for people: unit names beside codes, dd/mm/yyyy, who has not answered per unit, a workbook
(--xlsx) read back with openpyxl, and exports waiting in the responses folder (said, or imported with --import);
``escalate --dry-run`` says the same. Real processes on a private project with its own SQLite file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pytest
from support import Project

CAMPAIGN = "par-index-2022"
AS_OF = "2023-02-27"
LATE = {"SNV": 3, "KPAC": 12}  # staff who have not answered, per unit; everyone else has


@pytest.fixture(scope="module")
def roster() -> list[tuple[str, str, str, str, str]]:
    book = openpyxl.load_workbook(Path(__file__).resolve().parent.parent / "config" / "rosters" /
                                  f"{CAMPAIGN}.xlsx", read_only=True)
    rows = [tuple(str(c) for c in r) for r in book.active.iter_rows(min_row=2, values_only=True)]
    book.close()
    return rows  # type: ignore[return-value]


@pytest.fixture
def project(tmp_path: Path, roster: list[tuple[str, str, str, str, str]]) -> Project:
    project = Project(tmp_path)
    done = project.run("roster", "import", CAMPAIGN)
    assert done.returncode == 0, done.stderr
    return project


def export(project: Project, roster: list[tuple[str, str, str, str, str]], name: str = "ket-qua-2023-02-27.csv"
           ) -> Path:
    """The survey's export in the responses folder: every official has answered but the first LATE[unit]."""
    skipped: dict[str, int] = {}
    rows = []
    for staff_id, _, _, unit, _ in roster:
        if skipped.get(unit, 0) < LATE.get(unit, 0):
            skipped[unit] = skipped.get(unit, 0) + 1
            continue
        rows.append((staff_id, "20/02/2023 09:00"))
    folder = project.config / "responses" / CAMPAIGN
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("Mã cán bộ", "Thời gian hoàn thành"), *rows])
    return path


def test_status_names_units_and_says_an_export_waits(project: Project,
                                                     roster: list[tuple[str, str, str, str, str]]) -> None:
    path = export(project, roster)
    result = project.run("status", CAMPAIGN, "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    head, columns, *rows = result.stdout.splitlines()
    assert head == f"{CAMPAIGN} as of 27/02/2023: deadline 24/02/2023, 0/540 answered, 36 unit(s) behind"
    assert columns.split() == ["Code", "Unit", "Answered", "Rate", "Missing", "Level", "Dispatch", "Next", "step"]
    kpac = next(r for r in rows if r.startswith("! KPAC "))
    assert "UBND huyện Krông Pắc" in kpac and "0/12" in kpac and "don-doc on 27/02/2023" in kpac
    assert kpac.split()[kpac.split().index("0/12") + 2] == "12"  # the count of who has not answered
    assert "2023-02" not in result.stdout  # dates as dd/mm/yyyy everywhere
    assert result.stderr.splitlines() == [
        f"Not imported yet (1 file(s) in the responses folder): {path.name}; congvan status {CAMPAIGN} --import "
        "imports them"]
    data = json.loads(project.run("status", CAMPAIGN, "--as-of", AS_OF, "--json").stdout)
    assert data["waiting_exports"] == [path.name]
    assert set(data) == {"campaign", "as_of", "deadline", "units", "waiting_exports"}
    assert set(data["units"][0]) == {"code", "name", "required", "responded", "missing", "level_sent", "next_step",
                                     "delivery"}


def test_status_import_first(project: Project, roster: list[tuple[str, str, str, str, str]]) -> None:
    path = export(project, roster)
    result = project.run("status", CAMPAIGN, "--as-of", AS_OF, "--import")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Imported {path.name}: 525 row(s), 525 new response(s), 0 earlier than known"
    assert lines[1] == f"{CAMPAIGN} as of 27/02/2023: deadline 24/02/2023, 525/540 answered, 2 unit(s) behind"
    behind = [line for line in lines if line.startswith("!")]
    assert [line.split()[1] for line in behind] == ["SNV", "KPAC"]
    assert "Sở Nội vụ" in behind[0] and "10/13" in behind[0] and "77%" in behind[0]
    assert "Not imported yet" not in result.stderr
    again = project.run("status", CAMPAIGN, "--as-of", AS_OF, "--import")
    assert not again.stdout.startswith("Imported")  # the same file is not imported twice
    assert "525/540 answered" in again.stdout


def test_status_workbook(project: Project, roster: list[tuple[str, str, str, str, str]], tmp_path: Path) -> None:
    export(project, roster)
    target = tmp_path / "bao-cao" / "tinh-hinh.xlsx"
    result = project.run("status", CAMPAIGN, "--as-of", AS_OF, "--import", "--xlsx", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"Workbook: {target}"
    book = openpyxl.load_workbook(target)
    assert book.sheetnames == ["Summary", "SNV", "KPAC"]
    summary = book["Summary"]
    assert summary["A1"].value == "Compliance of par-index-2022 as of 27/02/2023"
    assert [c.value for c in summary[3]] == ["No.", "Code", "Unit", "Required", "Answered", "Not answered", "Rate",
                                             "Level", "Dispatch", "Next step"]
    table = [[c.value for c in row] for row in summary.iter_rows(min_row=4)]
    assert len(table) == 36 and [r[0] for r in table] == list(range(1, 37))
    snv = next(r for r in table if r[1] == "SNV")
    assert snv[2:6] == ["Sở Nội vụ", 13, 10, 3] and snv[9] == "don-doc on 27/02/2023"
    assert summary.cell(row=4, column=7).number_format == "0%"
    late = book["KPAC"]
    assert late["A1"].value == "Not answered yet: UBND huyện Krông Pắc (KPAC)"
    assert [c.value for c in late[3]] == ["No.", "Full name", "Position", "Email"]
    expected = [(n, name, position, email) for n, (_, name, position, _, email) in
                enumerate((r for r in roster if r[3] == "KPAC"), 1)]
    assert [tuple(c.value for c in row) for row in late.iter_rows(min_row=4)] == expected
    snv_sheet = [tuple(c.value for c in row) for row in book["SNV"].iter_rows(min_row=4)]
    assert [r[1] for r in snv_sheet] == [r[1] for r in roster if r[3] == "SNV"][:3]
    for sheet in book.worksheets:
        assert {c.font.name for row in sheet.iter_rows() for c in row if c.value is not None} == {"Times New Roman"}
        assert all(c.font.bold for c in sheet[3])
        assert sheet["A1"].font.bold and sheet["A1"].font.size == 14
    assert summary.column_dimensions["C"].width == 40 and late.column_dimensions["B"].width == 32


def test_status_workbook_in_vietnamese(project: Project, roster: list[tuple[str, str, str, str, str]],
                                       tmp_path: Path) -> None:
    export(project, roster)
    target = tmp_path / "tinh-hinh.xlsx"
    result = project.run("status", CAMPAIGN, "--as-of", AS_OF, "--import", "--xlsx", str(target), CONGVAN_LANG="vi")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("Đã nhập ket-qua-2023-02-27.csv: 525 dòng, 525 người trả lời mới")
    book = openpyxl.load_workbook(target)
    assert book.sheetnames == ["Tổng hợp", "SNV", "KPAC"]
    assert book["Tổng hợp"]["A1"].value == "Tình hình thực hiện par-index-2022 đến ngày 27/02/2023"
    assert [c.value for c in book["KPAC"][3]] == ["STT", "Họ và tên", "Chức vụ", "Thư điện tử"]
    assert book["Tổng hợp"]["I4"].value == "chờ gửi"


def test_a_rejected_export_still_waits(project: Project) -> None:
    folder = project.config / "responses" / CAMPAIGN
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hong.csv").write_text("Mã cán bộ,Thời gian hoàn thành\nDL-SNV-001,31/02/2023 09:00\n", encoding="utf-8")
    (folder / "~$dang-mo.xlsx").write_bytes(b"lock")  # Excel's lock file is not an export
    result = project.run("status", CAMPAIGN, "--as-of", AS_OF, "--import")
    assert result.returncode == 0
    assert "hong.csv: rejected, nothing loaded (1 error(s))" in result.stdout
    assert "Error: hong.csv, row 2" in result.stderr
    assert f"Not imported yet (1 file(s) in the responses folder): hong.csv; congvan status {CAMPAIGN}" in result.stderr


def test_escalate_dry_run_says_an_export_waits(project: Project, roster: list[tuple[str, str, str, str, str]],
                                               prefect_api: str, tmp_path: Path) -> None:
    path = export(project, roster)
    result = project.run("escalate", CAMPAIGN, "--as-of", AS_OF, "--dry-run", "--json", timeout=300,
                         PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"))
    # Said before the run starts, on stderr (--json keeps stdout); this run then stops: nothing was dispatched.
    assert result.stderr.splitlines()[0] == (
        f"Not imported yet (1 file(s) in the responses folder): {path.name}; a real run of congvan escalate "
        f"{CAMPAIGN} imports them first")
    assert result.stdout == ""


def test_status_workbook_that_cannot_be_written_is_one_line(project: Project, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    for target, words in ((tmp_path / "tinh-hinh.csv", "must end in .xlsx"),
                          (blocker / "tinh-hinh.xlsx", "cannot be written")):
        result = project.run("status", CAMPAIGN, "--as-of", AS_OF, "--xlsx", str(target))
        assert result.returncode == 2
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"Error: {target}: ") and words in line
