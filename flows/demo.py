"""The story ``congvan demo`` tells, on the embedded defaults, all under one folder:

the dispatch of the sample campaign mailed to its 36 units; the roster loaded; then day by day, from
the week before the deadline to a week after, the survey's export (simulated from the roster with a
fixed seed, a few units lagging) imported and that day's escalation run, which sends the reminders,
the letters to the heads, the Chairman's letters and the report; finally the report as of the last day.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from congvan import bounces, compliance, roster
from congvan.config import LoadedCampaign
from congvan.dispatch import message_id_domain
from congvan.escalation import ActionResult
from congvan.i18n import _, status_word
from congvan.mailcatcher import RETURNED_DIR, CatcherOptions, MailCatcher
from congvan.register_book import known_registers, register_rows
from congvan.register_export import write_register
from congvan.report import write_report
from congvan.results import ApprovalResult, DispatchResult, EscalationResult
from congvan.settings import load_settings
from congvan.simulate import Answer, simulate_responses, write_export
from congvan.store.db import engine_scope, init_db, run_engine
from congvan.vndate import VIETNAM, short_date, weekday_name
from congvan.workdays import WorkCalendar
from flows.dispatch import dispatch
from flows.escalate import escalate
from flows.steps import outcome_of, sent_before_exit, watched_here

SEED = 2023
# Units that answer only in part: their heads get the letters. STNMT catches up after the first letter.
LAGGING = {"KPAC": 0.6, "EAHLEO": 0.75, "BDON": 0.85, "STNMT": 0.8}
# Its mailbox no longer exists: the dispatch bounces, and the first daily run sends it to the head.
BOUNCING = "STP"
CATCHES_UP = {"STNMT": dt.date(2023, 2, 28)}


@dataclass
class Story:
    dispatch: DispatchResult | None = None
    days: list[tuple[dt.date, EscalationResult | None]] = field(default_factory=list)
    report: Path | None = None
    messages: int = 0
    bounced: list[str] = field(default_factory=list)
    register: Path | None = None
    register_rows: int = 0


def run_story(lc: LoadedCampaign, demo_dir: Path, echo: Callable[[str], None]) -> Story:
    """Run it; the caller has pointed CONGVAN_* at ``demo_dir`` (database, outputs)."""
    # One engine for the story and the runs it starts, disposed at the end; the runs are watched here.
    with engine_scope(), watched_here():
        story = _story(lc, demo_dir, echo)
    sent_before_exit()
    return story


def _story(lc: LoadedCampaign, demo_dir: Path, echo: Callable[[str], None]) -> Story:
    follow_up = lc.campaign.follow_up
    assert follow_up is not None
    story = Story()
    settings = load_settings()
    gone = next(u for u in lc.units if u.code == BOUNCING).email
    # The catcher accepts the letter for the unit's mailbox, then returns it, as a relay does.
    with MailCatcher(demo_dir / "mailbox", options=CatcherOptions(bounce_rcpts=frozenset({gone}))) as catcher:
        os.environ.update(CONGVAN_SMTP_HOST="127.0.0.1", CONGVAN_SMTP_PORT=str(catcher.port),
                          CONGVAN_SMTP_SECURITY="none")
        issue_date = lc.campaign.date or dt.date.today()
        echo(_("Mail catcher on 127.0.0.1:{port} ({gone} no longer exists). {date}: dispatching {campaign}…").format(
            port=catcher.port, gone=gone, date=short_date(issue_date), campaign=lc.name))
        run = dispatch(campaign=lc.name, as_of=issue_date, dry_run=False, return_state=True)
        story.dispatch = outcome_of(run, "dispatch", DispatchResult)
        if story.dispatch.awaiting_approval:
            echo(_("Drafted for the signer (trình ký), nothing numbered yet: {path}").format(
                path=story.dispatch.path))
            approved, line = _approve(lc, issue_date)
            story.dispatch = approved.dispatch
            echo(line)
        engine = run_engine(settings.database_url)
        init_db(engine)
        # The authority's mailbox has the relay's report: read it as `congvan bounces import` does (with a
        # mail server, the daily run reads it over IMAP).
        returned = sorted((demo_dir / "mailbox" / RETURNED_DIR).glob("*.eml"))
        applied = bounces.import_files(engine, lc, returned, own_domain=message_id_domain(lc, settings))
        story.bounced = applied.changed
        for line in applied.changed:
            echo(_("Returned by the relay: {line}").format(line=line))
        path = roster.roster_path(settings.config_dir, lc)
        echo(_("Roster: {summary}").format(summary=roster.import_roster(engine, lc, path).summary()))
        answers = _answers(lc, path, issue_date, follow_up.deadline)
        calendar = WorkCalendar(follow_up.calendar)
        day = calendar.add_working_days(follow_up.deadline, -4)
        last = calendar.add_working_days(follow_up.deadline, 6)
        exports = demo_dir / "exports"
        while day <= last:
            so_far = [a for a in answers if a[1].date() <= day]
            export = write_export(exports / f"{day.isoformat()}.csv", so_far)
            roster.import_responses(engine, lc, export)
            off = calendar.reason_off(day)
            if off is not None:
                story.days.append((day, None))
                echo(_("{date} {weekday}: {reason}, no run").format(date=short_date(day), weekday=weekday_name(day),
                                                                    reason=off))
            else:
                result = outcome_of(escalate(campaign=lc.name, as_of=day, dry_run=False, return_state=True), "escalate",
                                    EscalationResult)
                approval = None
                if any(a.status == "awaiting_approval" for a in result.actions):
                    decided, approval = _approve(lc, day)
                    result = result.with_actions(
                        tuple(a for a in result.actions if a.status != "awaiting_approval") + decided.actions)
                story.days.append((day, result))
                echo(_day_line(day, result))
                if approval:
                    echo(approval)
            day += dt.timedelta(days=1)
        state = compliance.compute(engine, lc, last)
        files = write_report(lc, state, templates_dir=settings.templates_dir, out_dir=demo_dir / "reports",
                             planned=last,
                             receipts={c: d.status for c, d in bounces.unit_deliveries(engine, lc).items()})
        story.report = files.docx
        story.messages = len(catcher.paths())
        # The outgoing register as the văn thư prints it: every number the story took, in order.
        story.register_rows = len(rows := register_rows(engine, config_dir=settings.config_dir,
                                                        year=issue_date.year))
        story.register = write_register(rows, demo_dir / f"so-van-ban-di-{issue_date.year}.xlsx",
                                        authority_names=known_registers(settings.config_dir))
    return story


def _approve(lc: LoadedCampaign, day: dt.date) -> tuple[ApprovalResult, str]:
    """The signers' approval of everything drafted that day, given by the demo on their behalf (and
    recorded as such: via "demo"); in real use the signer runs `congvan approve` or the approve deployment."""
    from flows.approve import approve

    result = outcome_of(approve(campaign=lc.name, as_of=day, via="demo (on the signer's behalf)",
                                comment="Bản demo: phê duyệt thay người ký", return_state=True), "approve",
                        ApprovalResult)
    signers = sorted({p.decided_by or "" for p in result.decided})
    return result, "  " + _("drafted for the signer first: {count} document(s), approved on behalf of {signers} (a "
                            "demo; recorded as such), then numbered and mailed").format(
        count=len(result.decided), signers=", ".join(signers))


def _answers(lc: LoadedCampaign, path: Path, start: dt.date, end: dt.date) -> list[Answer]:
    staff = roster.read_roster(lc, path).staff
    pairs = [(s.staff_id, s.unit) for s in staff]
    days = simulate_responses(pairs, start=start + dt.timedelta(days=1), days=(end - start).days, seed=SEED,
                              lagging=LAGGING)
    answers = [a for _, day_answers in days for a in day_answers]
    answered = {a[0] for a in answers}
    for unit, when in CATCHES_UP.items():
        moment = dt.datetime.combine(when, dt.time(9, 0), tzinfo=VIETNAM)
        answers += [(s.staff_id, moment) for s in staff if s.unit == unit and s.staff_id not in answered]
    return answers



def _day_line(day: dt.date, result: EscalationResult) -> str:
    state = result.compliance
    head = _("{date} {weekday}: {responded}/{required} answered, {behind} unit(s) behind").format(
        date=short_date(day), weekday=weekday_name(day), responded=state.responded, required=state.required,
        behind=state.units_behind)
    truth = result.bounces
    for f in truth.fallbacks:
        head += _("; dispatch resent to {unit}'s fallback {address} ({status})").format(
            unit=f.unit, address=f.address, status=status_word(f.status))
    if truth.alerted:
        head += _("; coordinator alerted about {count} bounce(s)").format(count=truth.alerted)
    if not result.actions:
        return head + _("; nothing due")
    by_step: dict[str, list[ActionResult]] = {}
    for a in result.actions:
        by_step.setdefault(f"{a.step} ({a.kind})", []).append(a)
    parts = []
    for name, items in by_step.items():
        names = [a.unit or "lãnh đạo" for a in items]
        units = ", ".join(names) if len(names) <= 8 else _("{count} units").format(count=len(names))
        numbers = [a.number for a in items if a.number]
        numbered = f" số {numbers[0]}" + (f"…{numbers[-1]}" if len(numbers) > 1 else "") if numbers else ""
        failed = sum(1 for a in items if a.status != "sent")
        parts.append(f"{name}{numbered} → {units}" + (_(" ({count} NOT SENT)").format(count=failed) if failed else ""))
    return head + _("; sent {parts}").format(parts="; ".join(parts))
