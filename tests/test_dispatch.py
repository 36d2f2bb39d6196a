"""`congvan dispatch` as the coordinator runs it: a real process, a real Prefect API, a real SMTP
server on loopback and a real database; including a SIGKILL part-way through and the rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from support import Project, error_lines, on_terminal, self_signed_tls

from congvan.mailcatcher import CatcherOptions, MailCatcher
from congvan.store import make_engine
from congvan.store.models import Approval, Delivery, Document

CAMPAIGN = "par-index-2022"
AS_OF = "2023-02-10"
UNITS_IN_SAMPLE = 36
COPIES_IN_SAMPLE = 2
JSON_DOCUMENT_KEYS = {"number", "symbol", "issued_on", "path"}
JSON_DELIVERY_KEYS = {"unit", "address", "status", "message_id"}


def _project(tmp_path: Path, prefect_api: str, db_url: str) -> Project:
    project = Project(tmp_path)
    project.env.update(PREFECT_API_URL=prefect_api, PREFECT_SERVER_ANALYTICS_ENABLED="false",
                       PREFECT_HOME=str(tmp_path / "prefect-home"), CONGVAN_DATABASE_URL=db_url,
                       CONGVAN_SMTP_BACKOFF="0.1", CONGVAN_SMTP_ATTEMPTS="2")
    # The PDF has its own tests; here the mail path, with the .docx as the attachment.
    project.edit("campaigns/par-index-2022.yaml", lambda c: c.update(pdf=False, attach=["docx"]))
    return project


@pytest.fixture
def project(tmp_path: Path, prefect_api: str, db_url: str) -> Project:
    """The project on SQLite and on PostgreSQL: for what the ledger decides."""
    return _project(tmp_path, prefect_api, db_url)


@pytest.fixture
def sqlite_project(tmp_path: Path, prefect_api: str) -> Project:
    """The project on SQLite only: for what is refused before the database matters."""
    return _project(tmp_path, prefect_api, f"sqlite:///{tmp_path / 'outputs' / 'congvan.db'}")


def _dispatch(project: Project, catcher: MailCatcher, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return project.run("dispatch", CAMPAIGN, "--as-of", AS_OF, *args, CONGVAN_SMTP_PORT=str(catcher.port), **env)


def _ledger(project: Project) -> list[Delivery]:
    engine = make_engine(project.env["CONGVAN_DATABASE_URL"])
    with engine.connect() as conn:
        rows = list(conn.execute(sa.select(Delivery.__table__)))
    engine.dispose()
    return rows  # type: ignore[return-value]


def _documents(project: Project) -> list[Any]:
    engine = make_engine(project.env["CONGVAN_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(Document.__table__)))
    except Exception:  # no tables yet: nothing was ever numbered
        return []
    finally:
        engine.dispose()


def _received(catcher: MailCatcher) -> dict[str, Counter[str]]:
    """address -> Counter of the Message-IDs it received."""
    got: dict[str, Counter[str]] = defaultdict(Counter)
    for stored in catcher.stored():
        for rcpt in stored.rcpt_tos:
            got[rcpt.lower()][str(stored.message()["Message-ID"])] += 1
    return got


def _clean_stderr(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "ERROR" not in result.stderr, result.stderr


def test_dispatch_mails_every_unit_once_and_json_is_all_of_stdout(project: Project, tmp_path: Path) -> None:
    with MailCatcher(tmp_path / "mailbox") as catcher:
        result = _dispatch(project, catcher, "--json")
        assert result.returncode == 0, result.stderr
        _clean_stderr(result)
        data = json.loads(result.stdout)  # nothing else on stdout
        assert set(data) == {"document", "deliveries"}
        assert set(data["document"]) == JSON_DOCUMENT_KEYS
        assert data["document"]["number"] == "01"
        assert data["document"]["symbol"] == "UBND-KSTTHC"
        assert data["document"]["issued_on"] == AS_OF
        assert Path(project.root, data["document"]["path"]).is_file()
        deliveries = data["deliveries"]
        assert all(set(d) == JSON_DELIVERY_KEYS for d in deliveries)
        assert len(deliveries) == UNITS_IN_SAMPLE + COPIES_IN_SAMPLE
        assert {d["status"] for d in deliveries} == {"sent"}
        assert len({d["unit"] for d in deliveries if d["unit"]}) == UNITS_IN_SAMPLE
        received = _received(catcher)
        # What the server got is what the ledger says: each address once, under its Message-ID.
        assert {a: dict(c) for a, c in received.items()} == {d["address"]: {d["message_id"]: 1} for d in deliveries}
        messages = {str(m.message()["Message-ID"]): m.message() for m in catcher.stored()}
        files = {str(m.message()["Message-ID"]): m.path.name for m in catcher.stored()}
    # Each file in the mailbox says what it is: the letter's date, the unit's code (a copy: the mailbox's
    # name), the kind and the number (docs/design.md §5.3).
    assert {files[d["message_id"]] for d in deliveries} == (
        {f"2023-02-10_{d['unit']}_cong-van_01-UBND-KSTTHC.eml" for d in deliveries if d["unit"]}
        | {f"2023-02-10_{copy}_cong-van_01-UBND-KSTTHC.eml" for copy in ("vanthu-tinhuy", "vanthu-hdnd")})
    stnmt = next(d for d in deliveries if d["unit"] == "STNMT")
    msg = messages[stnmt["message_id"]]
    assert str(msg["Subject"]) == ("V/v tham gia điều tra xã hội học phục vụ xác định Chỉ số cải cách "
                                   "hành chính năm 2022")
    assert msg["To"].addresses[0].addr_spec == "vanthu.stnmt@daklak.example"
    assert msg["From"].addresses[0].addr_spec == "vanthu.ubnd@daklak.example"
    assert [p.get_filename() for p in msg.iter_attachments()] == ["Công văn số 01-UBND-KSTTHC ngày 10.02.2023.docx"]
    attached = next(msg.iter_attachments()).get_content()
    assert attached == Path(project.root, data["document"]["path"]).read_bytes()
    text = msg.get_body(preferencelist=("plain",))
    assert text is not None and "Kính gửi: Sở Tài nguyên và Môi trường" in text.get_content()


def test_at_a_terminal_the_first_line_says_what_is_starting(sqlite_project: Project, tmp_path: Path) -> None:
    """Issue 15: the checks and Prefect's start-up are seconds of silence; a person at a terminal reads at once
    what is starting, before the progress bar and the table (stdout, a pipe here, gets nothing of it)."""
    with MailCatcher(tmp_path / "mailbox") as catcher:
        run = on_terminal(sqlite_project, "dispatch", CAMPAIGN, "--as-of", AS_OF, CONGVAN_SMTP_PORT=str(catcher.port))
    assert run.returncode == 0, run.text("err")
    at, text = run.first("err")
    assert text.startswith("Starting the dispatch of par-index-2022…"), text
    assert at < run.first("out")[0]
    terminal = run.text("err")
    assert "Sending" in terminal and terminal.index("Starting the dispatch") < terminal.index("Sending")
    assert "Prefect collects anonymous usage data" not in terminal
    assert "Starting" not in run.text("out") and run.text("out").splitlines()[-1].startswith("Sent ")
    print(f"first line after {at:.2f} s, the result after {run.first('out')[0]:.2f} s")  # shown with -s


def test_rerun_after_success_sends_nothing_and_keeps_the_number(project: Project, tmp_path: Path) -> None:
    with MailCatcher(tmp_path / "mailbox") as catcher:
        first = _dispatch(project, catcher, "--json")
        assert first.returncode == 0, first.stderr
        count = len(catcher.stored())
        second = _dispatch(project, catcher, "--json")
        assert second.returncode == 0, second.stderr
        assert len(catcher.stored()) == count
    assert json.loads(second.stdout)["document"] == json.loads(first.stdout)["document"]
    assert len(_documents(project)) == 1


def test_the_run_publishes_a_table_of_deliveries(sqlite_project: Project, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with MailCatcher(tmp_path / "mailbox", options=CatcherOptions(perm_fail_rcpts=frozenset(
            {"vanthu.kpac@daklak.example"}))) as catcher:
        result = _dispatch(sqlite_project, catcher, "--json")
    assert result.returncode == 1
    ours = {d["message_id"] for d in json.loads(result.stdout)["deliveries"]}
    with get_client(sync_client=True) as client:  # other tests' dispatches of the sample publish under this key too
        published = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["dispatch-par-index-2022"])))
    tables = [(a, json.loads(a.data) if isinstance(a.data, str) else a.data) for a in published]
    [(artifact, table)] = [(a, t) for a, t in tables if {row["message_id"] for row in t} == ours]
    assert artifact.type == "table" and artifact.description is not None
    sent = UNITS_IN_SAMPLE + COPIES_IN_SAMPLE - 1
    assert artifact.description.startswith(f"Công văn số 01/UBND-KSTTHC: {sent} sent, 1 failed")
    kpac = next(row for row in table if row["unit"] == "KPAC")
    assert kpac["status"] == "failed_permanent" and kpac["error"].startswith("550")


def test_dry_run_sends_nothing_and_allocates_no_number(sqlite_project: Project, tmp_path: Path) -> None:
    with MailCatcher(tmp_path / "mailbox") as catcher:
        result = _dispatch(sqlite_project, catcher, "--dry-run", "--json")
        assert result.returncode == 0, result.stderr
        assert catcher.stored() == []
    data = json.loads(result.stdout)
    assert data["document"]["number"] is None
    assert {d["status"] for d in data["deliveries"]} == {"planned"}
    assert len(data["deliveries"]) == UNITS_IN_SAMPLE + COPIES_IN_SAMPLE
    assert Path(sqlite_project.root, data["document"]["path"]).is_file()
    assert _documents(sqlite_project) == []


def test_failures_are_reported_and_a_rerun_sends_only_what_is_missing(project: Project, tmp_path: Path) -> None:
    busy, gone = "vanthu.kpac@daklak.example", "vanthu.eahleo@daklak.example"
    options = CatcherOptions(temp_fail_rcpts=frozenset({busy}), perm_fail_rcpts=frozenset({gone}))
    with MailCatcher(tmp_path / "mailbox", options=options) as catcher:
        result = _dispatch(project, catcher)
        port = catcher.port
    assert result.returncode == 1, result.stderr
    _clean_stderr(result)
    lines = result.stdout.splitlines()
    assert any("EAHLEO" in line and "failed_permanent" in line and "550" in line for line in lines)
    assert any("KPAC" in line and "failed_temporary" in line and "451" in line for line in lines)
    assert lines[-1].startswith(f"Sent {UNITS_IN_SAMPLE + COPIES_IN_SAMPLE - 2}, failed 1, pending 1")
    with MailCatcher(tmp_path / "mailbox2", port=port) as catcher:
        again = _dispatch(project, catcher, "--json")
        assert [m.rcpt_tos for m in catcher.stored()] == [(busy,)]
    assert again.returncode == 1  # the 550 stays failed: the address must be fixed
    statuses = {d["address"]: d["status"] for d in json.loads(again.stdout)["deliveries"]}
    assert statuses[busy] == "sent" and statuses[gone] == "failed_permanent"


def test_sigkill_part_way_then_rerun_serves_everyone_with_one_message_each(project: Project,
                                                                          tmp_path: Path) -> None:
    slow = CatcherOptions(delay_seconds=0.25)
    with MailCatcher(tmp_path / "mailbox", options=slow) as catcher:
        env = {**project.env, "CONGVAN_SMTP_PORT": str(catcher.port)}
        # A fresh interpreter: the process group killed is the command's own.
        process = subprocess.Popen(project.command("dispatch", CAMPAIGN, "--as-of", AS_OF, fresh=True),
                                   cwd=project.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        deadline = time.monotonic() + 90
        while len(catcher.stored()) < 5 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        killed_after = len(catcher.stored())
        assert 5 <= killed_after < UNITS_IN_SAMPLE + COPIES_IN_SAMPLE, "the kill must land part-way"
        rerun = _dispatch(project, catcher, "--json")
        assert rerun.returncode == 0, rerun.stderr
        received = _received(catcher)
    deliveries = json.loads(rerun.stdout)["deliveries"]
    assert {d["status"] for d in deliveries} == {"sent"}
    assert set(received) == {d["address"] for d in deliveries}
    for d in deliveries:
        # Never two different messages; at most the one in flight at the kill arrives twice, same Message-ID.
        assert set(received[d["address"]]) == {d["message_id"]}
    assert sum(sum(c.values()) for c in received.values()) <= UNITS_IN_SAMPLE + COPIES_IN_SAMPLE + 1
    assert len(_documents(project)) == 1


# --- bad input: a clear line, exit 2, nothing sent, no number taken ------------------------------------


@pytest.mark.parametrize(("file", "change", "expected"), [
    ("units.yaml", lambda d: d["units"][10].update(email="vanthu.stnmt@daklak.example\r\nBcc: x@evil.example"),
     "units[10].email"),
    ("units.yaml", lambda d: d["units"][3].update(email="vanthu.stp"), "units[3].email"),
    ("units.yaml", lambda d: d["groups"].update({"trong": {"label": "Nhóm trống"}}) or None, "trong"),
])
def test_bad_input_is_one_line_and_nothing_is_sent(sqlite_project: Project, tmp_path: Path, file: str, change: Any,
                                                   expected: str) -> None:
    sqlite_project.edit(file, change)
    if expected == "trong":
        sqlite_project.edit("campaigns/par-index-2022.yaml", lambda c: c["kinh_gui"].append({"group": "trong"}))
    with MailCatcher(tmp_path / "mailbox") as catcher:
        result = _dispatch(sqlite_project, catcher)
        assert catcher.stored() == []
    assert result.returncode == 2
    lines = error_lines(result)
    assert any(expected in line for line in lines), lines
    assert _documents(sqlite_project) == []


def test_a_server_refusing_auth_is_one_line_and_nothing_is_sent(sqlite_project: Project, tmp_path: Path) -> None:
    context, ca_file = self_signed_tls(tmp_path)
    options = CatcherOptions(starttls_context=context, auth_user="vanthu", auth_password="dung-mat-khau")
    with MailCatcher(tmp_path / "mailbox", options=options) as catcher:
        result = _dispatch(sqlite_project, catcher, CONGVAN_SMTP_SECURITY="starttls", CONGVAN_SMTP_USER="vanthu",
                           CONGVAN_SMTP_PASSWORD="sai-mat-khau", CONGVAN_SMTP_CA_FILE=str(ca_file))
        assert catcher.stored() == []
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "refused the login of 'vanthu'" in line
    assert "sai-mat-khau" not in result.stderr + result.stdout
    assert _documents(sqlite_project) == []


def test_a_letter_that_breaks_decree_30_is_not_sent(sqlite_project: Project, tmp_path: Path) -> None:
    import docx
    from docx.shared import Mm

    template = sqlite_project.root / "templates" / "cong_van.docx"
    document = docx.Document(str(template))
    for section in document.sections:
        section.left_margin = Mm(20)
    document.save(str(template))
    with MailCatcher(tmp_path / "mailbox") as catcher:
        result = _dispatch(sqlite_project, catcher)
        assert catcher.stored() == []
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "breaks Decree 30, not sent: P3" in line and "left margin 30–35 mm" in line
    assert _documents(sqlite_project) == []  # checked as a draft: no number taken for it


def test_with_pdf_the_verified_pdf_is_the_first_attachment(sqlite_project: Project, tmp_path: Path) -> None:
    sqlite_project.edit("campaigns/par-index-2022.yaml", lambda c: c.update(pdf=True, attach=["pdf", "docx"]))
    with MailCatcher(tmp_path / "mailbox") as catcher:
        result = _dispatch(sqlite_project, catcher, "--json")
        assert result.returncode == 0, result.stderr
        messages = [m.message() for m in catcher.stored()]
    (document,) = _documents(sqlite_project)
    pdf = Path(sqlite_project.root, document.pdf_path)
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    assert len(messages) == UNITS_IN_SAMPLE + COPIES_IN_SAMPLE
    for msg in messages:
        parts = list(msg.iter_attachments())
        assert [p.get_filename() for p in parts] == ["Công văn số 01-UBND-KSTTHC ngày 10.02.2023.pdf",
                                                     "Công văn số 01-UBND-KSTTHC ngày 10.02.2023.docx"]
        assert parts[0].get_content_type() == "application/pdf"
        assert parts[0].get_content() == pdf.read_bytes()
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "01/UBND-KSTTHC" in text and "tham gia điều tra xã hội học" in text


@pytest.mark.parametrize("pdf", [True, False])
def test_without_libreoffice_sending_refuses_unless_pdf_is_off(sqlite_project: Project, tmp_path: Path,
                                                              pdf: bool) -> None:
    sqlite_project.edit("campaigns/par-index-2022.yaml",
                        lambda c: c.update(pdf=pdf, attach=["pdf", "docx"] if pdf else ["docx"]))
    no_office = tmp_path / "bin"
    no_office.mkdir()
    with MailCatcher(tmp_path / "mailbox") as catcher:
        result = _dispatch(sqlite_project, catcher, PATH=str(no_office))
        sent = len(catcher.stored())
    if pdf:
        assert result.returncode == 2
        (line,) = error_lines(result)
        assert "apt-get install" in line and "libreoffice" in line
        assert sent == 0 and _documents(sqlite_project) == []
    else:
        assert result.returncode == 0, result.stderr
        assert sent == UNITS_IN_SAMPLE + COPIES_IN_SAMPLE


def _as_shipped(campaign: dict[str, Any]) -> None:
    """The sample's approval as it ships: the dispatch and every numbered letter wait for their signer."""
    campaign.update(pdf=True, attach=["pdf", "docx"], approval="signer")
    for step in campaign["follow_up"]["ladder"]:
        if step["kind"] != "mail":
            step.pop("approval", None)


def test_demo_tells_the_whole_story(sqlite_project: Project) -> None:
    sqlite_project.edit("campaigns/par-index-2022.yaml", _as_shipped)
    result = sqlite_project.run("demo", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    _clean_stderr(result)
    out = result.stdout
    assert out.startswith(f"{CAMPAIGN}: OK: {UNITS_IN_SAMPLE} units")
    demo = sqlite_project.out / "demo"
    draft = Path(sqlite_project.root, next(x for x in out.splitlines() if x.startswith("Draft for signature: "))
                 .removeprefix("Draft for signature: "))
    assert draft.is_file() and draft.resolve().parent == (demo / "draft").resolve()
    assert (f"Dispatch: Công văn số 01/UBND-KSTTHC ngày 10/02/2023, served {UNITS_IN_SAMPLE} of "
            f"{UNITS_IN_SAMPLE} units (+{COPIES_IN_SAMPLE} copies)") in out
    days = {line[:10]: line for line in out.splitlines() if line[:2].isdigit() and line[2] == "/"}
    assert "sent nhac-nho (mail)" in days["21/02/2023"]
    assert "Thứ Bảy, no run" in days["25/02/2023"]
    assert days["27/02/2023"].endswith("→ STNMT, BDON, EAHLEO, KPAC")  # the lagging units' heads
    assert "giai-trinh (letter)" in days["03/03/2023"] and "→ BDON, EAHLEO, KPAC" in days["03/03/2023"]
    assert "bao-cao (report)" in days["03/03/2023"]  # STNMT caught up on 28/02: no second letter
    assert days["06/03/2023"].endswith("nothing due")
    letters = list((demo / "documents" / CAMPAIGN / "letters").glob("*.pdf"))
    assert len(letters) == 7
    assert len(list((demo / "mailbox").glob("*.eml"))) > UNITS_IN_SAMPLE + COPIES_IN_SAMPLE
    report = Path(sqlite_project.root, next(x for x in out.splitlines() if x.startswith("Report: "))
                  .removeprefix("Report: ").split(" (")[0])
    assert report.is_file() and report.with_suffix(".xlsx").is_file()
    # The register (title, headings, column numbers, then a row a document) lists every document the demo
    # numbered, in order: the dispatch, 4 đôn đốc and 3 giải trình letters, the report (reminders take none).
    book = openpyxl.load_workbook(demo / "so-van-ban-di-2023.xlsx").active
    numbers = [row[0] for row in book.iter_rows(min_row=8, values_only=True)]
    engine = make_engine(f"sqlite:///{demo / 'congvan.db'}")
    with engine.connect() as conn:
        issued = [f"{n:02d}/{s}" for n, s in conn.execute(sa.select(Document.number, Document.symbol)
                                                          .where(Document.number.is_not(None))
                                                          .order_by(Document.number))]
    engine.dispose()
    assert numbers == issued == ["01/UBND-KSTTHC", *(f"{n:02d}/UBND-KSTTHC" for n in range(2, 9)), "09/BC-UBND"]
    assert "Register (sổ văn bản đi): 9 document(s) in " in out
    # Trình ký: each numbered document was drafted for its signer first, and the demo says it approved on
    # the signers' behalf; the database records each decision as the demo's.
    assert "Drafted for the signer (trình ký), nothing numbered yet: " in out
    assert "approved on behalf of Phạm Ngọc Nghị (a demo" in out
    assert "approved on behalf of Trần Minh Đức (a demo" in out
    engine = make_engine(f"sqlite:///{demo / 'congvan.db'}")
    with engine.connect() as conn:
        decisions = conn.execute(sa.select(Approval.status, Approval.decided_via, Approval.document_id)).all()
    engine.dispose()
    assert len(decisions) == 9  # the dispatch, 7 letters, the report: no reminder waits for a signer
    assert {(str(getattr(s, "value", s)), via) for s, via, _ in decisions} == {
        ("issued", "demo (on the signer's behalf)")}
    assert all(document_id is not None for _, _, document_id in decisions)
