"""The daily run and bounces on the embedded set-up (the built-in catcher told to bounce addresses): a unit
the dispatch reached at none of its addresses is never sent a follow-up letter; the run lists it as held."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import Project, run_flow, spring_2024_campaign

from congvan import bounces
from congvan.config import load_campaign
from congvan.mailcatcher import RETURNED_DIR, CatcherOptions, MailCatcher
from congvan.store import init_db, make_engine

CAMPAIGN = "par-index-2022"
MAILBOX = "vanthu.eahleo@daklak.example"
ROSTER = """Mã cán bộ,Họ và tên,Chức vụ,Đơn vị,Email
E-01,Y Khoa Byă,Chủ tịch UBND,EAHLEO,
K-01,Phạm Thị Dung,Phó Chủ tịch UBND,KPAC,
"""


@pytest.fixture
def world(tmp_path: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    project = Project(tmp_path)
    (project.config / "rosters" / "test.csv").write_text(ROSTER, encoding="utf-8")
    project.edit("campaigns/par-index-2022.yaml", spring_2024_campaign)
    head = next(u for u in load_campaign(project.config, CAMPAIGN).units if u.code == "EAHLEO").head.email
    db_url = f"sqlite:///{tmp_path / 'congvan.db'}"
    env = {"CONGVAN_CONFIG_DIR": str(project.config), "CONGVAN_TEMPLATES_DIR": str(project.root / "templates"),
           "CONGVAN_OUTPUT_DIR": str(project.out), "CONGVAN_DATABASE_URL": db_url,
           "CONGVAN_SMTP_BACKOFF": "0", "CONGVAN_SMTP_ATTEMPTS": "2"}
    options = CatcherOptions(bounce_rcpts=frozenset({MAILBOX, head}))
    with MailCatcher(tmp_path / "mailbox", options=options) as catcher:
        env["CONGVAN_SMTP_PORT"] = str(catcher.port)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        project.env.update(env, PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"))
        yield {"project": project, "catcher": catcher, "db_url": db_url, "head": head, "tmp": tmp_path}


def _import_returned(world: dict[str, Any]) -> list[str]:
    project: Project = world["project"]
    engine = make_engine(world["db_url"])
    init_db(engine)
    files = sorted((world["tmp"] / "mailbox" / RETURNED_DIR).glob("*.eml"))
    applied = bounces.import_files(engine, load_campaign(project.config, CAMPAIGN), files)
    engine.dispose()
    return applied.changed


def test_a_unit_never_reached_is_held_not_blamed(world: dict[str, Any]) -> None:
    from flows.dispatch import dispatch
    from flows.escalate import escalate

    project: Project = world["project"]
    assert {d.status for d in run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 10)).deliveries} == {"sent"}
    assert [line.split(":")[0] for line in _import_returned(world)] == [f"EAHLEO {MAILBOX}"]
    assert project.run("roster", "import", CAMPAIGN).returncode == 0

    # The next daily run resends the dispatch to the head (the relay accepts it, then returns it too).
    first = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 15))
    assert [(f.unit, f.address, f.status) for f in first.bounces.fallbacks] == [("EAHLEO", world["head"], "sent")]
    assert first.bounces.alerted == 1 and first.bounces.held == {}
    assert [line.split(":")[0] for line in _import_returned(world)] == [f"EAHLEO {world['head']}"]

    # The reminder day: KPAC gets its reminder; EAHLEO never had the dispatch, so nothing blames it.
    plan = project.run("escalate", CAMPAIGN, "--as-of", "2024-04-19", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert any(line.split()[:4] == ["EAHLEO", "nhac-nho", "mail", "held"] for line in plan.stdout.splitlines())
    day = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 19))
    actions = {(a.unit, a.step): a.status for a in day.actions}
    assert actions == {("KPAC", "nhac-nho"): "sent", ("EAHLEO", "nhac-nho"): "held"}
    held = next(a for a in day.actions if a.unit == "EAHLEO")
    assert "the dispatch bounced and reached no address of the unit" in held.error
    assert day.bounces.alerted == 1  # the head's bounce, told once
    sent_to = {r for m in world["catcher"].stored() for r in m.rcpt_tos}
    assert MAILBOX not in sent_to and world["head"] not in sent_to

    status = project.run("status", CAMPAIGN, "--as-of", "2024-04-19", "--json")
    unit = next(u for u in json.loads(status.stdout)["units"] if u["code"] == "EAHLEO")
    assert unit["delivery"]["status"] == "bounced"
    assert unit["next_step"].startswith("held: the dispatch bounced")


def test_a_dispatch_rerun_reaches_the_fallback_once(world: dict[str, Any]) -> None:
    from flows.dispatch import dispatch

    first = run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 10))
    number = first.number
    _import_returned(world)
    rerun = run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 11))
    eahleo = sorted((d.address, d.status) for d in rerun.deliveries if d.unit == "EAHLEO")
    assert eahleo == sorted([(MAILBOX, "bounced"), (world["head"], "sent")])
    assert rerun.number == number  # the same document, not a new letter
    assert _returned_for(world, world["head"]) == 1  # the catcher took it once (and returned it)
    again = run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 11))
    assert [(d.address, d.status) for d in again.deliveries] == [(d.address, d.status) for d in rerun.deliveries]
    assert _returned_for(world, world["head"]) == 1


def _returned_for(world: dict[str, Any], address: str) -> int:
    files = (world["tmp"] / "mailbox" / RETURNED_DIR).glob("*.eml")
    return sum(1 for f in files if f"Final-Recipient: rfc822; {address}".encode() in f.read_bytes())
