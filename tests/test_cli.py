"""The command line as a user runs it: a real process on a private copy of the project.

User errors are "Error: ..." lines on stderr with exit code 2 and never a traceback; results go to
stdout alone, so they can be piped.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from support import Project, edit_yaml, error_lines, fresh_python
from typer.testing import CliRunner

from congvan.cli import app
from congvan.documents import dispatch_key
from congvan.register import allocate
from congvan.store import init_db, make_engine

CAMPAIGN = "par-index-2022"
COMMANDS = ("validate", "render", "check", "dispatch", "status", "escalate", "report", "mailcatcher", "serve",
            "demo", "pending", "approve", "reject", "new", "verify")
GROUP_COMMANDS = ("roster import", "responses import", "db upgrade", "db current", "db downgrade", "register set-next",
                  "register export", "bounces import", "bounces sync", "units export", "units import")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


# --- validate ------------------------------------------------------------------------------------------


def test_validate_ok_prints_one_summary_line(project: Project) -> None:
    result = project.run("validate", CAMPAIGN)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{CAMPAIGN}: OK: 36 units")
    assert "Phạm Ngọc Nghị" in lines[0]


def test_validate_without_argument_checks_every_campaign(project: Project) -> None:
    shutil.copy(project.config / "campaigns" / f"{CAMPAIGN}.yaml", project.config / "campaigns" / "ban-sao.yaml")
    # Without its follow-up: a copy sharing the sample's responses folder would fail both (tests/test_firstday.py).
    edit_yaml(project.config / "campaigns" / "ban-sao.yaml",
              lambda d: (d.update(signer="khong-co"), d.pop("follow_up")))
    result = project.run("validate")
    assert result.returncode == 2
    assert result.stdout.splitlines() == [line for line in result.stdout.splitlines() if ": OK: " in line]
    assert len(result.stdout.splitlines()) == 1 and result.stdout.startswith(f"{CAMPAIGN}: OK")
    (line,) = error_lines(result)
    assert "ban-sao.yaml: signer: unknown signer 'khong-co'" in line


def test_validate_reports_every_problem_one_per_line(project: Project) -> None:
    project.edit("units.yaml", lambda d: d["units"][2].update(email="vanthu.snv@daklak"))
    project.edit(f"campaigns/{CAMPAIGN}.yaml", lambda d: (
        d.update(signer="giam-doc"), d["summary"].__setitem__(1, "phục vụ\r\nBcc: x@evil.example")))
    result = project.run("validate", CAMPAIGN)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = error_lines(result)
    assert len(lines) == 3, result.stderr
    assert any("units.yaml: units[2].email:" in line for line in lines)
    assert any(f"{CAMPAIGN}.yaml: signer: unknown signer 'giam-doc'" in line for line in lines)
    assert any(f"{CAMPAIGN}.yaml: summary[1]: contains a line break" in line for line in lines)


def test_validate_reports_a_yaml_error_with_its_line(project: Project) -> None:
    path = project.config / "units.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "  - code: [SNV\n", encoding="utf-8")
    result = project.run("validate", CAMPAIGN)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "units.yaml: line " in line


def test_validate_with_no_campaigns(project: Project) -> None:
    (project.config / "campaigns" / f"{CAMPAIGN}.yaml").unlink()
    result = project.run("validate")
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "no campaigns" in line


# --- render --------------------------------------------------------------------------------------------


def test_render_draft_prints_only_the_path(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "nhap"
    result = project.run("render", CAMPAIGN, "--draft", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    path = Path(result.stdout.removesuffix("\n"))
    assert result.stdout == f"{path}\n"  # one line, nothing else: `congvan render ... | xargs open` works
    assert path.is_file() and path.suffix == ".docx"
    assert path.resolve().parent == out.resolve()
    with zipfile.ZipFile(path) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    assert "Kính gửi" in xml and "{{" not in xml


def test_render_defaults_to_the_output_dir(project: Project) -> None:
    result = project.run("render", CAMPAIGN)
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.is_file()
    assert path.resolve().parent == (project.out / "documents").resolve()


def test_render_unknown_campaign_is_one_line(project: Project) -> None:
    result = project.run("render", "par-index-2099", "--draft")
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = error_lines(result)
    assert "par-index-2099" in line and "file not found" in line and CAMPAIGN in line


@pytest.mark.parametrize("name", ["../par-index-2022", "campaigns/../x", ".."])
def test_render_rejects_path_traversal(project: Project, name: str) -> None:
    result = project.run("render", name)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "not a campaign name" in line


def test_render_issued_before_a_number_is_allocated(project: Project) -> None:
    result = project.run("render", CAMPAIGN, "--issued")
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = error_lines(result)
    assert "not been issued" in line


def test_render_issued_after_allocation_carries_the_number(project: Project) -> None:
    engine = make_engine(f"sqlite:///{project.out / 'congvan.db'}")
    init_db(engine)
    allocate(engine, key=dispatch_key(CAMPAIGN), register="UBND", symbol="UBND-KSTTHC",
             issued_on=dt.date(2023, 2, 10), campaign=CAMPAIGN, kind="dispatch")
    engine.dispose()
    result = project.run("render", CAMPAIGN, "--issued")
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.name == f"{CAMPAIGN}_01-UBND-KSTTHC_2023.docx"
    with zipfile.ZipFile(path) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    assert "ngày 10 tháng 02 năm 2023" in xml


def test_as_of_as_a_vietnamese_coordinator_writes_it(project: Project) -> None:
    iso, written = project.run("render", CAMPAIGN, "--as-of", "2023-02-10"), project.run(
        "render", CAMPAIGN, "--as-of", "10/02/2023")
    assert iso.returncode == written.returncode == 0, written.stderr
    assert iso.stdout == written.stdout


@pytest.mark.parametrize("as_of", ["2023-13-01", "30/02/2023", "02/10/23", "hôm nay"])
def test_render_bad_as_of(project: Project, as_of: str) -> None:
    result = project.run("render", CAMPAIGN, "--as-of", as_of)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = error_lines(result)
    assert "--as-of" in line and as_of in line


def test_render_with_a_config_problem_is_one_line(project: Project) -> None:
    project.edit(f"campaigns/{CAMPAIGN}.yaml", lambda d: d.update(signer="x", luu="KSTTHC"))
    result = project.run("render", CAMPAIGN)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "(and 1 more problem(s))" in line


def test_missing_argument_is_a_usage_error_without_traceback(project: Project) -> None:
    result = project.run("render")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Error: Missing argument" in result.stderr


def test_bad_setting_in_the_environment(project: Project) -> None:
    result = project.run("validate", CAMPAIGN, CONGVAN_SMTP_PORT="hai-lăm")
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert line.startswith("Error: CONGVAN_SMTP_PORT:")


def test_bad_database_url(project: Project) -> None:
    result = project.run("render", CAMPAIGN, "--issued", CONGVAN_DATABASE_URL="mysql://x@localhost/db")
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "database" in line


# --- demo and help --------------------------------------------------------------------------------------


def test_help_lists_the_commands(project: Project) -> None:
    result = project.run("--help")
    assert result.returncode == 0
    assert result.stderr == ""
    for command in COMMANDS:
        assert re.search(rf"^\W*{command}\s+\w", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.parametrize("command", COMMANDS + GROUP_COMMANDS)
def test_every_command_help_has_an_example(project: Project, command: str) -> None:
    result = project.run(*command.split(), "--help")
    assert result.returncode == 0
    assert f"Example: congvan {command}" in result.stdout


def test_every_registered_command_has_a_docstring_with_an_example() -> None:
    names = []
    for info in app.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__
        names.append(name)
        doc = info.callback.__doc__ or ""
        assert doc.strip(), f"{name} has no help text"
        assert f"Example: congvan {name}" in doc, name
    assert sorted(names) == sorted(COMMANDS)
    grouped = []
    for group in app.registered_groups:
        assert group.typer_instance is not None
        for info in group.typer_instance.registered_commands:
            assert info.callback is not None
            name = f"{group.name} {info.name or info.callback.__name__}"
            grouped.append(name)
            assert f"Example: congvan {name}" in (info.callback.__doc__ or ""), name
    assert sorted(grouped) == sorted(GROUP_COMMANDS)


def test_the_installed_console_script(project: Project) -> None:
    script = Path(sys.executable).with_name("congvan")
    if not script.exists():
        pytest.skip("the console script is not installed next to this interpreter")
    result = subprocess.run([str(script), "validate", CAMPAIGN], cwd=project.root, env=project.env,
                            capture_output=True, text=True, encoding="utf-8", timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1


# --- in process, fast ---------------------------------------------------------------------------------------


def _runner_env(project: Project) -> dict[str, str | None]:
    return {"CONGVAN_CONFIG_DIR": str(project.config), "CONGVAN_TEMPLATES_DIR": str(project.root / "templates"),
            "CONGVAN_OUTPUT_DIR": str(project.out), "CONGVAN_DATABASE_URL": None}


def test_cli_runner_validate_ok(project: Project) -> None:
    result = CliRunner().invoke(app, ["validate", CAMPAIGN], env=_runner_env(project))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1 and ": OK: 36 units" in result.stdout
    assert result.stderr == ""


def test_cli_runner_unknown_group(project: Project) -> None:
    project.edit(f"campaigns/{CAMPAIGN}.yaml", lambda d: d["kinh_gui"].append({"group": "so-nganh"}))
    result = CliRunner().invoke(app, ["validate", CAMPAIGN], env=_runner_env(project))
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    path = project.config / "campaigns" / (CAMPAIGN + ".yaml")
    line, text = next((n, t) for n, t in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "so-nganh" in t)
    assert result.stderr.splitlines() == [  # where it is in the file too, line and column from 1
        f"Error: {path}: kinh_gui[3].group: unknown group 'so-nganh' (known: dan-cu, so-ban-nganh, ubnd-huyen) "
        f"(line {line}, column {text.index('so-nganh') + 1})"]


# --- check and mailcatcher -----------------------------------------------------------------------------


def test_check_passes_a_rendered_draft_and_flags_a_broken_copy(project: Project, tmp_path: Path) -> None:
    from fixtures_nd30 import broken_copy

    rendered = project.run("render", "par-index-2022", "--out", str(tmp_path / "docs"))
    good = Path(rendered.stdout.strip())
    ok = project.run("check", str(good))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout == ""
    (tmp_path / "bad").mkdir()
    bad = broken_copy(good, "left_margin_20mm", tmp_path / "bad")
    flagged = project.run("check", str(good), str(bad))
    assert flagged.returncode == 1
    lines = flagged.stdout.splitlines()
    assert lines and all(line.startswith(f"{bad}: ") for line in lines)
    assert any(": P3: " in line for line in lines)
    assert "Traceback" not in flagged.stderr


def test_check_of_a_missing_or_non_docx_file_is_one_line(project: Project, tmp_path: Path) -> None:
    missing = project.run("check", str(tmp_path / "nope.docx"))
    assert missing.returncode == 2
    assert error_lines(missing) == [f"Error: {tmp_path / 'nope.docx'}: file not found"]
    text = tmp_path / "text.docx"
    text.write_text("không phải docx", encoding="utf-8")
    result = project.run("check", str(text))
    assert result.returncode == 2
    assert len(error_lines(result)) == 1


def test_mailcatcher_command_stores_what_it_receives(project: Project) -> None:
    import signal
    import smtplib
    import socket
    import time
    from email.message import EmailMessage

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "congvan", "mailcatcher", "--port", str(port)], cwd=project.root,
                            env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                smtp = smtplib.SMTP("127.0.0.1", port, timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "mail catcher did not start"
                time.sleep(0.2)
        msg = EmailMessage()
        msg["From"], msg["To"] = "vanthu.ubnd@daklak.example", "vanthu.kpac@daklak.example"
        msg["Subject"] = "V/v Krông Pắc & Ea H'leo"
        msg.set_content("Kính gửi: UBND huyện Krông Pắc.")
        with smtp:
            smtp.send_message(msg)
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and f":{port}" in err
    stored = sorted((project.out / "mailbox").glob("*.eml"))
    assert len(stored) == 1
    parsed = email.message_from_bytes(stored[0].read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "V/v Krông Pắc & Ea H'leo"


def test_a_bad_roster_lists_every_row_and_loads_nothing(project: Project, tmp_path: Path) -> None:
    roster = tmp_path / "danh-sach.csv"
    roster.write_text("Mã cán bộ,Họ và tên,Chức vụ,Đơn vị\n"
                      "A-1,Nguyễn Văn An,Chuyên viên,STNMT\n"
                      "A-1,Trần Thị Bình,Chuyên viên,Krông Pắc\n"
                      "A-2,Lê Văn Cường,Chuyên viên,Sở Không Có\n", encoding="utf-8")
    result = project.run("roster", "import", CAMPAIGN, str(roster))
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 2
    assert "danh-sach.csv, row 3" in lines[0] and "A-1" in lines[0]
    assert "danh-sach.csv, row 4" in lines[1] and "Sở Không Có" in lines[1]
    status = project.run("status", CAMPAIGN, "--json")
    assert status.returncode == 0, status.stderr
    assert all(u["required"] == 0 for u in json.loads(status.stdout)["units"])  # nothing was loaded


def test_responses_import_twice_changes_nothing(project: Project, tmp_path: Path) -> None:
    assert project.run("roster", "import", CAMPAIGN).returncode == 0
    export = tmp_path / "export.csv"
    export.write_text("staff_id,completed_at\nDL-STNMT-001,2023-02-15T09:00:00+07:00\nX-404,15/02/2023 10:00\n",
                      encoding="utf-8")
    first = project.run("responses", "import", CAMPAIGN, str(export))
    assert first.returncode == 0, first.stderr
    assert "2 row(s), 2 new response(s)" in first.stdout
    assert "X-404" in first.stderr and first.stderr.startswith("Warning: ")  # not on the roster: kept, reported
    again = project.run("responses", "import", CAMPAIGN, str(export))
    assert again.returncode == 0
    assert "already imported (same file), nothing changed" in again.stdout


@pytest.mark.parametrize("command", [("dispatch", CAMPAIGN), ("escalate", CAMPAIGN), ("status", CAMPAIGN),
                                     ("roster", "import", CAMPAIGN)])
def test_an_unreachable_database_is_one_line(project: Project, command: tuple[str, ...]) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    url = "postgresql+psycopg://congvan:Sup3r-S3cret-Pa55@127.0.0.1:1/congvan"
    result = project.run(*command, CONGVAN_DATABASE_URL=url)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "cannot connect to the database postgresql+psycopg://congvan:***@127.0.0.1:1/congvan" in line
    assert "Sup3r-S3cret-Pa55" not in result.stdout + result.stderr


def test_validate_reports_every_follow_up_problem(project: Project) -> None:
    def break_ladder(data: Any) -> None:
        data["follow_up"]["ladder"][1]["template"] = "khong_co.docx"
        data["follow_up"]["ladder"][2]["signer"] = "bi-thu"
        data["follow_up"]["ladder"][0]["template"] = "khong_co_thu"
        data["follow_up"]["roster"] = "rosters/khong-co.xlsx"

    project.edit("campaigns/par-index-2022.yaml", break_ladder)
    result = project.run("validate", CAMPAIGN)
    assert result.returncode == 2
    lines = error_lines(result)
    assert any("follow_up.ladder[1].template" in x and "khong_co.docx" in x for x in lines)
    assert any("follow_up.ladder[2].signer" in x and "bi-thu" in x for x in lines)
    assert any("follow_up.ladder[0].template" in x and "khong_co_thu.txt" in x for x in lines)
    assert any("follow_up.roster" in x and "khong-co.xlsx" in x for x in lines)


def test_a_letter_template_field_must_be_in_the_config(project: Project) -> None:
    import docx

    template = project.root / "templates" / "cong_van_don_doc.docx"
    document = docx.Document(str(template))
    document.paragraphs[-1].insert_paragraph_before("Hạn chót của Bộ Nội vụ: {{ han_chot }}.")
    document.save(str(template))
    result = project.run("validate", CAMPAIGN)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "follow_up.ladder[1].template" in line and "han_chot" in line
    project.edit("campaigns/par-index-2022.yaml", lambda c: c["fields"].update(han_chot="28/02/2023")
                 if "fields" in c else c.update(fields={"han_chot": "28/02/2023"}))
    assert project.run("validate", CAMPAIGN).returncode == 0


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """Start-up is a contract of the commands that run no flow (issue 13): `congvan --help` loads typer and
    congvan's command modules, not Prefect, SQLAlchemy, matplotlib, docxtpl or openpyxl (timed in bench/)."""
    probe = ("import sys; from congvan.cli import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "heavy = ('prefect', 'sqlalchemy', 'matplotlib', 'docxtpl', 'openpyxl', 'congvan.pdf')\n"
             "print(sorted(m for m in heavy if m in sys.modules))")
    assert fresh_python(probe)[-1] == "[]"


def test_the_command_line_collects_young_objects_seldom_and_nothing_at_exit() -> None:
    """`python -m congvan` and the `congvan` script run ``congvan.__main__.main``, which tunes the collector for a
    short-lived process (the gain is timed in bench/bench_startup.py): a young generation of 20,000, and what is left
    at exit frozen (a handler registered before it runs after it, and sees it)."""
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="console_scripts", name="congvan")] == ["congvan.__main__:main"]
    probe = ("import atexit, gc, sys\n"
             "atexit.register(lambda: print('at exit:', gc.get_threshold()[0], gc.get_freeze_count() > 0))\n"
             "from congvan.__main__ import main\n"
             "sys.argv = ['congvan', '--help']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n")
    printed = fresh_python(probe)
    assert printed[-1] == "at exit: 20000 True"
    assert any("congvan" in line for line in printed[:-1])  # the help was printed


def test_a_forked_command_answers_as_a_fresh_one(project: Project) -> None:
    """The suite's commands are forked from tests/forkserver.py: what a person sees (exit code, stdout, stderr,
    in the project's folder and environment) must be what a fresh `python -m congvan` prints."""
    project.edit("units.yaml", lambda u: u["units"][3].update(email="vanthu.krongpac@"))
    for args in (["--help"], ["validate", CAMPAIGN], ["status", CAMPAIGN, "--as-of", "2023-02-27"],
                 ["no-such-command"]):
        forked = subprocess.run(project.command(*args), cwd=project.root, env={**project.env, "CONGVAN_LANG": "vi"},
                                capture_output=True, text=True, encoding="utf-8", timeout=120, check=False)
        fresh = subprocess.run(project.command(*args, fresh=True), cwd=project.root,
                               env={**project.env, "CONGVAN_LANG": "vi"}, capture_output=True, text=True,
                               encoding="utf-8", timeout=120, check=False)
        assert project.command(*args)[:2] != project.command(*args, fresh=True)[:2], "CONGVAN_TEST_FRESH is set"
        assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
        assert forked.stdout or forked.stderr


# What each command that runs no flow must not import (issue 13): Prefect, matplotlib, the LibreOffice glue and the
# mail machinery never; status no documents or workbooks (its dispatch column reads the ledger), nor every country's
# holidays; validate and check no database, validate no openpyxl (congvan/xlsx_reader.py reads the roster), nor numpy
# or Pillow; check no python-docx (the checker reads the package with zipfile and lxml).
NOT_FOR = {
    "status": ("prefect", "matplotlib", "congvan.pdf", "docxtpl", "jinja2", "openpyxl", "numpy", "congvan.render",
               "congvan.imap", "congvan.mail_transport", "congvan.bounces", "alembic", "holidays.countries",
               "sqlalchemy.dialects.postgresql", "pydantic_settings", "sqlalchemy.orm",
               "congvan.store.baseline"),
    "validate": ("prefect", "matplotlib", "congvan.pdf", "sqlalchemy", "openpyxl", "congvan.imap",
                 "congvan.mail_transport", "alembic", "numpy", "PIL", "pydantic_settings", "asyncio"),
    "check": ("prefect", "matplotlib", "congvan.pdf", "sqlalchemy", "openpyxl", "numpy", "pydantic_settings", "docx",
              "alembic"),
}


@pytest.mark.parametrize("name", sorted(NOT_FOR))
def test_a_command_imports_only_what_it_needs(project: Project, name: str) -> None:
    """A regression (status importing Prefect, validate SQLAlchemy) fails here, not only in bench/bench_startup.py."""
    assert project.run("roster", "import", CAMPAIGN).returncode == 0
    draft = project.run("render", CAMPAIGN, "--draft", "--out", str(project.out / "draft")).stdout.strip()
    args = {"status": ["status", CAMPAIGN, "--as-of", "2023-02-27"], "validate": ["validate", CAMPAIGN],
            "check": ["check", draft]}[name]
    probe = (f"import sys; from congvan.cli import main\n"
             f"try:\n    main({args!r})\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
             f"print('imported:', sorted(m for m in {NOT_FOR[name]!r} if m in sys.modules))")
    assert fresh_python(probe, cwd=project.root, env=project.env)[-1] == "imported: []"


@pytest.mark.parametrize("command", [("status", CAMPAIGN), ("roster", "import", CAMPAIGN),
                                     ("escalate", CAMPAIGN, "--as-of", "2023-02-27")])
def test_a_campaign_without_follow_up_is_one_line_for_every_follow_up_command(project: Project,
                                                                               command: tuple[str, ...]) -> None:
    project.edit(f"campaigns/{CAMPAIGN}.yaml", lambda c: c.pop("follow_up"))
    result = project.run(*command)
    assert result.returncode == 2
    assert error_lines(result) == [f"Error: {Path('config') / 'campaigns' / (CAMPAIGN + '.yaml')}: follow_up: the "
                                   "campaign has no follow_up section (deadline, roster, ladder): nothing to follow up"]
