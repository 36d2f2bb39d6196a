"""The escalation ladder end to end: five simulated weeks through Hùng Kings' day, the 30/4–1/5 break
and its make-up Saturday, with real imports, the real flow, a real database and a real SMTP server.

Campaign: dispatch 10/04/2024, deadline Wed 24/04/2024. Ladder: reminder mail at deadline −3 working
days (Fri 19/04, because Thu 18/04 is Hùng Kings' day), letter to the head at +1 (Thu 25/04), the
Chairman's letter at +5 with a 2-day gap (Sat 04/05, the make-up working day after 27/04–01/05) and
the report to leadership the same day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import pytest
import yaml
from support import Project, run_flow, spring_world
from typer.testing import CliRunner

from congvan import roster
from congvan.cli import app
from congvan.config import load_campaign
from congvan.mailcatcher import MailCatcher
from congvan.store import init_db, make_engine
from congvan.workdays import WorkCalendar

CAMPAIGN = "par-index-2022"
VN = dt.timezone(dt.timedelta(hours=7))
ROSTER = """Mã cán bộ,Họ và tên,Chức vụ,Đơn vị,Email
T-01,Nguyễn Văn An,Giám đốc,STNMT,an.stnmt@daklak.example
T-02,Trần Thị Bình,Chuyên viên,Sở Tài nguyên & Môi trường,binh.stnmt@daklak.example
T-03,H'Nga Niê,Chuyên viên chính,stnmt,
E-01,Y Khoa Byă,Chủ tịch UBND,EAHLEO,
E-02,Lê Văn Cường,Trưởng phòng Nội vụ,Ea H'leo,
K-01,Phạm Thị Dung,Phó Chủ tịch UBND,KPAC,
K-02,Võ Văn Em,Chuyên viên,Krông Pắc,
B-01,Đặng Văn Phúc,Chủ tịch UBND,BMT,
B-02,Bùi Thị Giang,Chuyên viên,BMT,
"""
# Who answered when (completed_at), and on which day the export that shows it is imported.
ANSWERS = [
    ("B-01", dt.datetime(2024, 4, 15, 9, 0, tzinfo=VN), dt.date(2024, 4, 15)),
    ("B-02", dt.datetime(2024, 4, 16, 14, 0, tzinfo=VN), dt.date(2024, 4, 16)),
    ("T-01", dt.datetime(2024, 4, 16, 8, 0, tzinfo=VN), dt.date(2024, 4, 16)),
    ("E-01", dt.datetime(2024, 4, 17, 10, 0, tzinfo=VN), dt.date(2024, 4, 17)),
    ("K-01", dt.datetime(2024, 4, 17, 11, 0, tzinfo=VN), dt.date(2024, 4, 17)),
    # STNMT completes after the reminder, before the deadline: no letter.
    ("T-02", dt.datetime(2024, 4, 22, 9, 0, tzinfo=VN), dt.date(2024, 4, 22)),
    ("T-03", dt.datetime(2024, 4, 23, 16, 0, tzinfo=VN), dt.date(2024, 4, 23)),
    # KPAC's last official answers on 26/04, but the export showing it is imported only on 03/05:
    # the late import stops KPAC's ladder before the Chairman's letter of 04/05.
    ("K-02", dt.datetime(2024, 4, 26, 15, 0, tzinfo=VN), dt.date(2024, 5, 3)),
    # EAHLEO never completes: reminder, letter, the Chairman's letter.
]
EXPECTED = {
    dt.date(2024, 4, 19): {("STNMT", "nhac-nho"), ("EAHLEO", "nhac-nho"), ("KPAC", "nhac-nho")},
    dt.date(2024, 4, 25): {("EAHLEO", "don-doc"), ("KPAC", "don-doc")},
    dt.date(2024, 5, 4): {("EAHLEO", "giai-trinh"), (None, "bao-cao")},
}
START, END = dt.date(2024, 4, 15), dt.date(2024, 5, 19)  # five weeks


@pytest.fixture
def world(tmp_path: Path, prefect_api: str, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The project copy with the test campaign on SQLite and on PostgreSQL: for what the ledger decides."""
    yield from _world(tmp_path, prefect_api, db_url, monkeypatch)


@pytest.fixture
def sqlite_world(tmp_path: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The same on SQLite only: for what does not depend on the database."""
    yield from _world(tmp_path, prefect_api, f"sqlite:///{tmp_path / 'congvan.db'}", monkeypatch)


def _world(tmp_path: Path, prefect_api: str, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The project copy with the test campaign, its env for in-process flows and CLI runs, and a catcher."""
    yield from spring_world(tmp_path, prefect_api, db_url, monkeypatch, roster=ROSTER)


def _import_answers(world: dict[str, Any], day: dt.date) -> None:
    """The survey's export as downloaded on ``day`` (it lists everyone who has answered by then)."""
    rows = [(sid, at) for sid, at, shown in ANSWERS if shown <= day]
    export = world["tmp"] / "exports" / f"{day.isoformat()}.csv"
    export.parent.mkdir(exist_ok=True)
    export.write_text("staff_id,completed_at\n" + "".join(f"{s},{a.isoformat()}\n" for s, a in rows),
                      encoding="utf-8")
    project: Project = world["project"]
    lc = load_campaign(project.config, CAMPAIGN)
    engine = make_engine(world["db_url"])
    init_db(engine)
    roster.import_responses(engine, lc, export)
    engine.dispose()


def _start(world: dict[str, Any]) -> None:
    from flows.dispatch import dispatch

    result = run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 10))
    assert {d.status for d in result.deliveries} == {"sent"}
    # In-process (the CONGVAN_* settings are in os.environ): the process boundary is not the point here.
    imported = CliRunner().invoke(app, ["roster", "import", CAMPAIGN])
    assert imported.exit_code == 0, imported.output
    assert "roster of 9 staff loaded" in imported.stdout


def test_five_weeks_through_the_holidays(sqlite_world: dict[str, Any]) -> None:
    """The walk on SQLite only: tests/test_policy.py walks the same five weeks as pure policy, and the
    PostgreSQL path of the flow is covered by the tests on ``world`` below (same day twice, two runs at once)."""
    from flows.escalate import escalate

    world = sqlite_world
    _start(world)
    catcher: MailCatcher = world["catcher"]
    seen: dict[dt.date, set[tuple[str | None, str]]] = {}
    day = START
    while day <= END:
        _import_answers(world, day)
        before = len(catcher.stored())
        result = run_flow(escalate, campaign=CAMPAIGN, as_of=day)
        sent = {(a.unit, a.step) for a in result.actions}
        assert all(a.status == "sent" for a in result.actions), result.actions
        if sent:
            seen[day] = sent
            # Each action is one message (To the head or the mailbox, with its Cc's).
            assert len(catcher.stored()) - before == len(sent)
        else:
            assert len(catcher.stored()) == before
        day += dt.timedelta(days=1)
    assert seen == EXPECTED


def test_the_same_day_twice_sends_nothing_more(world: dict[str, Any]) -> None:
    from flows.escalate import escalate

    _start(world)
    day = dt.date(2024, 4, 19)
    _import_answers(world, day)
    first = run_flow(escalate, campaign=CAMPAIGN, as_of=day)
    count = len(world["catcher"].stored())
    again = run_flow(escalate, campaign=CAMPAIGN, as_of=day)
    assert len(first.actions) == 3
    assert again.actions == ()
    assert len(world["catcher"].stored()) == count


def test_missed_runs_send_only_the_highest_step_due(sqlite_world: dict[str, Any]) -> None:
    """The scheduler was down from 15/04 to 26/04: on 26/04 EAHLEO and KPAC get the letter, not the
    reminder they missed too."""
    from flows.escalate import escalate

    world = sqlite_world
    _start(world)
    _import_answers(world, dt.date(2024, 4, 26))
    result = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 26))
    assert {(a.unit, a.step) for a in result.actions} == {("EAHLEO", "don-doc"), ("KPAC", "don-doc")}
    # The run's seconds per stage come back with its result (bench/bench_scale.py reads them), not from a global.
    assert {"assess", "record, render, check", "pdf", "plan deliveries", "send"} <= set(result.timings)
    assert all(v >= 0 for v in result.timings.values())


def test_whoever_starts_a_dispatch_can_watch_it_send(sqlite_world: dict[str, Any]) -> None:
    """The CLI's progress bar listens in the context that runs the flow; a run outside it reports to nobody."""
    from flows.dispatch import dispatch
    from flows.steps import progress_to

    seen: list[tuple[int, int]] = []
    with progress_to(lambda done, total: seen.append((done, total))):
        result = run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 10))
    total = seen[-1][1]  # messages (one per unit, with its copies)
    assert seen == [(n, total) for n in range(1, total + 1)]
    assert 0 < total <= result.count("sent")
    run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 10))  # a rerun: nothing to send, nobody told
    assert len(seen) == total


def test_not_a_working_day_does_nothing(sqlite_world: dict[str, Any]) -> None:
    from flows.escalate import escalate

    world = sqlite_world
    _start(world)
    _import_answers(world, dt.date(2024, 4, 30))
    result = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 30))  # 30/4: Reunification Day
    assert result.actions == () and result.day_off
    assert WorkCalendar().reason_off(dt.date(2024, 4, 30)) == result.day_off


def test_the_letter_to_the_head_cites_the_dispatch_lists_who_and_threads_under_it(sqlite_world: dict[str, Any]) -> None:
    from flows.escalate import escalate

    world = sqlite_world
    _start(world)
    catcher: MailCatcher = world["catcher"]
    dispatch_ids = {str(m.message()["Message-ID"]): m.rcpt_tos for m in catcher.stored()}
    for day in (dt.date(2024, 4, 19), dt.date(2024, 4, 25)):
        _import_answers(world, day)
        run_flow(escalate, campaign=CAMPAIGN, as_of=day)
    letters = [m.message() for m in catcher.stored() if m.message()["To"] and
               "kpac" in str(m.message()["To"]).lower() and m.message()["Cc"]]
    assert len(letters) == 1
    letter = letters[0]
    kpac_dispatch = next(mid for mid, rcpts in dispatch_ids.items() if rcpts == ("vanthu.kpac@daklak.example",))
    references = str(letter["References"]).split()
    assert references[0] == kpac_dispatch  # the thread starts at the dispatch the unit received
    assert letter["In-Reply-To"] == references[-1]
    assert len(references) == 2  # dispatch, then the reminder
    assert [a.addr_spec for a in letter["Cc"].addresses] == ["vanthu.kpac@daklak.example"]
    assert str(letter["Subject"]).startswith("V/v đôn đốc trả lời phiếu điều tra")
    (attachment,) = list(letter.iter_attachments())
    path = world["tmp"] / "letter.docx"
    path.write_bytes(attachment.get_content())
    text = "\n".join(p.text for p in docx.Document(str(path)).paragraphs)
    cells = [c.text for t in docx.Document(str(path)).tables for r in t.rows for c in r.cells]
    assert "Kính gửi: Chủ tịch UBND huyện Krông Pắc." in text
    assert "Tiếp theo Công văn số 01/UBND-KSTTHC ngày 10/04/2024" in text
    assert "còn 1/2 cán bộ, công chức" in text
    assert "Võ Văn Em" in cells and "Chuyên viên" in cells
    assert "Phạm Thị Dung" not in cells  # she answered
    assert "Số: 03/UBND-KSTTHC" in "\n".join(cells)  # 01 dispatch, 02 EAHLEO's letter, 03 KPAC's
    # The mailbox files Krông Pắc's mail by day, unit, kind and number (docs/design.md §5.3).
    assert sorted(m.path.name for m in catcher.stored() if "_KPAC_" in m.path.name) == [
        "2024-04-10_KPAC_cong-van_01-UBND-KSTTHC.eml", "2024-04-19_KPAC_nhac-nho.eml",
        "2024-04-25_KPAC_don-doc_03-UBND-KSTTHC.eml"]
    project: Project = world["project"]
    checked = project.run("check", str(path))
    assert checked.returncode == 0, checked.stdout


def test_status_and_escalate_json_through_the_cli(sqlite_world: dict[str, Any]) -> None:
    world = sqlite_world
    _start(world)
    project: Project = world["project"]
    _import_answers(world, dt.date(2024, 4, 19))
    status = project.run("status", CAMPAIGN, "--as-of", "2024-04-19", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    # The contract's keys, and the exports waiting in the responses folder (none: this campaign has no folder).
    assert set(data) == {"campaign", "as_of", "deadline", "units", "waiting_exports"}
    assert data["waiting_exports"] == []
    assert data["deadline"] == "2024-04-24"
    units = {u["code"]: u for u in data["units"]}
    assert set(units["KPAC"]) == {"code", "name", "required", "responded", "missing", "level_sent", "next_step",
                                  "delivery"}
    assert (units["KPAC"]["required"], units["KPAC"]["responded"]) == (2, 1)
    assert units["KPAC"]["missing"] == [{"staff_id": "K-02", "name": "Võ Văn Em"}]
    assert units["KPAC"]["next_step"] == "nhac-nho on 2024-04-19"
    assert units["BMT"]["next_step"] == "none: compliant"
    run = project.run("escalate", CAMPAIGN, "--as-of", "2024-04-19", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert set(result) == {"as_of", "actions"}
    assert {(a["unit"], a["step"], a["kind"], a["status"]) for a in result["actions"]} == {
        ("STNMT", "nhac-nho", "mail", "sent"), ("EAHLEO", "nhac-nho", "mail", "sent"),
        ("KPAC", "nhac-nho", "mail", "sent")}
    assert all(set(a) == {"unit", "step", "kind", "number", "to", "status"} for a in result["actions"])
    kpac = next(a for a in result["actions"] if a["unit"] == "KPAC")
    assert kpac["to"] == ["vanthu.kpac@daklak.example"] and kpac["number"] is None
    after = json.loads(project.run("status", CAMPAIGN, "--as-of", "2024-04-19", "--json").stdout)
    assert {u["code"]: u["level_sent"] for u in after["units"]}["KPAC"] == 1


def test_a_letter_that_cannot_be_made_stops_alone(sqlite_world: dict[str, Any]) -> None:
    """EAHLEO's head has a title in a script Times New Roman lacks: its PDF would need a fallback font,
    fails verification, and that letter is not sent (and says why); KPAC's letter goes."""
    from flows.escalate import escalate

    world = sqlite_world
    project: Project = world["project"]
    project.edit("campaigns/par-index-2022.yaml", lambda c: c.update(pdf=True, attach=["pdf", "docx"]))

    def odd_title(data: dict[str, Any]) -> None:
        unit = next(u for u in data["units"] if u["code"] == "EAHLEO")
        unit["head"]["title"] = "Chủ tịch UBND huyện Ea H'leo (ꞌꞋ ⵣ)"

    project.edit("units.yaml", odd_title)
    _start(world)
    _import_answers(world, dt.date(2024, 4, 25))
    result = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 25))
    by_unit = {a.unit: a for a in result.actions}
    assert by_unit["KPAC"].status == "sent" and by_unit["KPAC"].number is not None
    assert by_unit["EAHLEO"].status == "not_sent"
    assert "is not LiberationSerif or TimesNewRoman" in by_unit["EAHLEO"].error
    letters = [m.message() for m in world["catcher"].stored() if m.message()["Cc"]]
    assert len(letters) == 1  # KPAC's; EAHLEO's never left
    assert letters[0]["Cc"].addresses[0].addr_spec == "vanthu.kpac@daklak.example"


def test_report_through_the_cli_is_a_checked_bao_cao(sqlite_world: dict[str, Any]) -> None:
    world = sqlite_world
    _start(world)
    _import_answers(world, dt.date(2024, 4, 26))
    project: Project = world["project"]
    result = project.run("report", CAMPAIGN, "--as-of", "2024-04-26")
    assert result.returncode == 0, result.stderr
    docx_path, xlsx_path = (Path(project.root, line) for line in result.stdout.splitlines())
    assert docx_path.suffix == ".docx" and xlsx_path.suffix == ".xlsx"
    assert docx_path.is_file() and xlsx_path.is_file()
    text = "\n".join(p.text for p in docx.Document(str(docx_path)).paragraphs)
    assert "BÁO CÁO" in text and "Công văn số 01/UBND-KSTTHC ngày 10/04/2024" in text
    checked = project.run("check", str(docx_path))
    assert checked.returncode == 0, checked.stdout


def test_two_runs_of_the_same_day_at_once_send_each_letter_once(world: dict[str, Any]) -> None:
    """The scheduled run and a manual one start together: the campaign lock lets one decide and send;
    the other then finds nothing due."""
    import subprocess

    _start(world)
    project: Project = world["project"]
    catcher: MailCatcher = world["catcher"]
    for day in (dt.date(2024, 4, 19), dt.date(2024, 4, 25)):
        _import_answers(world, day)
    before = len(catcher.stored())
    command = project.command("escalate", CAMPAIGN, "--as-of", "2024-04-25", "--json")
    runs = [subprocess.Popen(command, cwd=project.root, env=project.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [r.communicate(timeout=180) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [err for _, err in outputs]
    actions = [a for out, _ in outputs for a in json.loads(out)["actions"]]
    # Between them: EAHLEO and KPAC's letters (the reminders of 19/04 were missed: only the highest step).
    assert sorted((a["unit"], a["step"]) for a in actions) == [("EAHLEO", "don-doc"), ("KPAC", "don-doc")]
    numbers = [a["number"] for a in actions]
    assert len(set(numbers)) == 2
    letters = catcher.stored()[before:]
    assert len(letters) == 2
    assert len({str(m.message()["Message-ID"]) for m in letters}) == 2


def test_escalate_before_the_dispatch_or_without_a_roster_is_one_line(sqlite_world: dict[str, Any]) -> None:
    from support import error_lines

    project: Project = sqlite_world["project"]
    early = project.run("escalate", CAMPAIGN, "--as-of", "2024-04-19")
    assert early.returncode == 2
    (line,) = error_lines(early)
    assert "the dispatch has not been issued yet; run congvan dispatch par-index-2022 first" in line
    from flows.dispatch import dispatch

    run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 10))
    no_roster = project.run("escalate", CAMPAIGN, "--as-of", "2024-04-19")
    assert no_roster.returncode == 2
    (line,) = error_lines(no_roster)
    assert "no roster imported yet" in line and "congvan roster import par-index-2022" in line
    status = project.run("status", CAMPAIGN, "--as-of", "2024-04-19")
    assert status.returncode == 0
    assert status.stderr.startswith("Warning: no roster imported yet")


def test_a_bounced_letter_goes_to_the_corrected_address(sqlite_world: dict[str, Any]) -> None:
    """The head's address answers 550; the coordinator fixes units.yaml; the next run sends the same
    letter (same number) to the new address, and only there."""
    from flows.escalate import escalate

    world = sqlite_world
    _start(world)
    project: Project = world["project"]
    catcher: MailCatcher = world["catcher"]
    units = {u["code"]: u for u in yaml.safe_load((project.config / "units.yaml").read_text(encoding="utf-8"))["units"]}
    old = units["KPAC"]["head"]["email"]
    _import_answers(world, dt.date(2024, 4, 25))
    # The running server starts refusing the old address (its handler reads the options per command).
    catcher._handler.options = dataclasses.replace(catcher.options, perm_fail_rcpts=frozenset({old}))
    first = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 25))
    kpac = next(a for a in first.actions if a.unit == "KPAC")
    assert kpac.status == "failed" and kpac.error.startswith("550")

    def fix(data: dict[str, Any]) -> None:
        next(u for u in data["units"] if u["code"] == "KPAC")["head"]["email"] = "chutich.kpac@daklak.example"

    project.edit("units.yaml", fix)
    before = len(catcher.stored())
    again = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 26))
    kpac_again = next(a for a in again.actions if a.unit == "KPAC")
    assert kpac_again.status == "sent" and kpac_again.number == kpac.number
    resent = catcher.stored()[before:]
    assert [m.rcpt_tos for m in resent] == [("chutich.kpac@daklak.example",)]  # the mailbox had it already


def test_a_dry_run_shows_the_letters_as_drafts_and_records_nothing(sqlite_world: dict[str, Any]) -> None:
    world = sqlite_world
    _start(world)
    project: Project = world["project"]
    _import_answers(world, dt.date(2024, 4, 25))
    before = len(world["catcher"].stored())
    result = project.run("escalate", CAMPAIGN, "--as-of", "2024-04-25", "--dry-run")
    assert result.returncode == 0, result.stderr
    drafts = [Path(project.root, line.split("draft: ")[1]) for line in result.stdout.splitlines() if "draft: " in line]
    assert sorted(p.name for p in drafts) == ["par-index-2022_don-doc_EAHLEO_du-thao.docx",
                                              "par-index-2022_don-doc_KPAC_du-thao.docx"]
    text = "\n".join(c.text for t in docx.Document(str(drafts[1])).tables for r in t.rows for c in r.cells)
    assert "Số:       /UBND-KSTTHC" in text and "Võ Văn Em" in text
    assert len(world["catcher"].stored()) == before
    real = project.run("escalate", CAMPAIGN, "--as-of", "2024-04-25", "--json")
    numbers = sorted(a["number"] for a in json.loads(real.stdout)["actions"])
    assert numbers == ["02/UBND-KSTTHC", "03/UBND-KSTTHC"]  # the dry run took no number
