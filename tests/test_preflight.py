"""A mail server that cannot be reached at all stops `dispatch` and `escalate` in seconds, before a
number is taken (docs/design.md §5.2, §7.1); one that answers and then drops is still retried."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from support import Project, error_lines, spring_2024_campaign

from congvan.dispatch import preflight
from congvan.errors import MailServerError
from congvan.mail_transport import SmtpConfig
from congvan.mailcatcher import CatcherOptions, MailCatcher
from congvan.store import make_engine
from congvan.store.models import Delivery, Document

CAMPAIGN = "par-index-2022"
SENDER = "vanthu@daklak.example"


def _free_port() -> int:
    """A loopback port nothing listens on (bound, read, released): a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rows(db_url: str, table: sa.Table) -> list[object]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(table)))
    except sa.exc.SQLAlchemyError:  # no tables yet: nothing was ever numbered
        return []
    finally:
        engine.dispose()


@pytest.fixture
def project(tmp_path: Path, prefect_api: str) -> Project:
    project = Project(tmp_path)
    project.env.update(PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"),
                       CONGVAN_DATABASE_URL=f"sqlite:///{tmp_path / 'outputs' / 'congvan.db'}",
                       CONGVAN_SMTP_BACKOFF="0.1", CONGVAN_SMTP_ATTEMPTS="4")
    project.edit(f"campaigns/{CAMPAIGN}.yaml", lambda c: c.update(pdf=False, attach=["docx"]))
    return project


# --- the preflight itself ----------------------------------------------------------------------------------


def test_a_refused_connection_to_the_default_catcher_says_to_start_it() -> None:
    with pytest.raises(MailServerError) as caught:
        preflight(SmtpConfig("127.0.0.1", _free_port()), SENDER, need_pdf=False)
    message = str(caught.value)
    assert "cannot reach the mail server 127.0.0.1:" in message and "nothing numbered or sent" in message
    assert "start it with `congvan mailcatcher --port " in message
    assert "\n" not in message


def test_the_hint_names_no_port_for_the_default_one() -> None:
    from congvan.mail_transport import unreachable_error

    message = str(unreachable_error(SmtpConfig("127.0.0.1", 1025), "cannot reach the mail server: refused"))
    assert "start it with `congvan mailcatcher` in another terminal" in message


def test_an_unknown_host_is_unreachable_without_the_catcher_hint() -> None:
    config = SmtpConfig("mail.congvan-test.invalid", 587, security="starttls")
    with pytest.raises(MailServerError) as caught:
        preflight(config, SENDER, need_pdf=False)
    assert "mail.congvan-test.invalid:587" in str(caught.value)
    assert "mailcatcher" not in str(caught.value)
    assert "CONGVAN_SMTP_HOST" in str(caught.value)


def test_a_server_that_never_answers_the_connect_is_unreachable_within_the_timeout() -> None:
    # A listening socket with a backlog of 0 that is never accepted from: once its queue is full, a
    # further connect gets no answer (SYN dropped) and times out. The filler connections are ours.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        started = time.monotonic()
        try:
            with pytest.raises(MailServerError):
                preflight(SmtpConfig("127.0.0.1", port, timeout=1.0), SENDER, need_pdf=False)
        finally:
            for s in fillers:
                s.close()
        assert time.monotonic() - started < 5


def test_a_reachable_server_passes_and_receives_nothing(tmp_path: Path) -> None:
    with MailCatcher(tmp_path / "mailbox") as catcher:
        preflight(SmtpConfig("127.0.0.1", catcher.port), SENDER, need_pdf=False)
        assert catcher.stored() == []


# --- through the command line --------------------------------------------------------------------------------


def test_dispatch_without_a_mail_server_stops_in_seconds_and_numbers_nothing(project: Project) -> None:
    started = time.monotonic()
    result = project.run("dispatch", CAMPAIGN, "--as-of", "2023-02-10", CONGVAN_SMTP_PORT=str(_free_port()),
                         timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = error_lines(result)
    assert "cannot reach the mail server 127.0.0.1:" in line and "Connection refused" in line
    assert "start it with `congvan mailcatcher --port" in line
    assert result.stdout == ""
    assert _rows(project.env["CONGVAN_DATABASE_URL"], Document.__table__) == []  # the register is empty
    assert elapsed < 15, f"took {elapsed:.1f} s"  # interpreter start-up and validation included


def test_escalate_without_a_mail_server_stops_before_anything(project: Project) -> None:
    (project.config / "rosters" / "test.csv").write_text("Mã cán bộ,Họ và tên,Chức vụ,Đơn vị,Email\n"
                                                         "B-01,Đặng Văn Phúc,Chủ tịch UBND,BMT,\n", encoding="utf-8")
    project.edit(f"campaigns/{CAMPAIGN}.yaml", spring_2024_campaign)
    result = project.run("escalate", CAMPAIGN, "--as-of", "2024-04-25", CONGVAN_SMTP_PORT=str(_free_port()),
                         timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = error_lines(result)
    assert "cannot reach the mail server" in line and "congvan mailcatcher" in line
    assert _rows(project.env["CONGVAN_DATABASE_URL"], Document.__table__) == []


def test_a_server_dropping_the_connection_mid_batch_is_retried_and_everyone_gets_one_message(
        project: Project, tmp_path: Path) -> None:
    with MailCatcher(tmp_path / "mailbox", options=CatcherOptions(drop_after=5)) as catcher:
        result = project.run("dispatch", CAMPAIGN, "--as-of", "2023-02-10", "--json",
                             CONGVAN_SMTP_PORT=str(catcher.port), CONGVAN_SMTP_ATTEMPTS="10")
        stored = catcher.stored()
    assert result.returncode == 0, result.stderr
    deliveries = json.loads(result.stdout)["deliveries"]
    assert {d["status"] for d in deliveries} == {"sent"}
    rows = _rows(project.env["CONGVAN_DATABASE_URL"], Delivery.__table__)
    assert any(r.attempts > 1 for r in rows)  # type: ignore[attr-defined]  # some were retried after a drop
    ids = [str(s.message()["Message-ID"]) for s in stored]
    assert len(ids) == len(set(ids)) == len({d["message_id"] for d in deliveries})
