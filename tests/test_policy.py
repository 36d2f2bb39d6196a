"""The escalation ladder: which unit gets which step on which day (pure; no database, no clock)."""

from __future__ import annotations

import datetime as dt

import pytest

from congvan.compliance import Compliance, Official, UnitCompliance
from congvan.config import CalendarExtras, FollowUp, LadderStep, NamedAddress
from congvan.policy import Action, Sent, explain, next_step, plan, record_sent, step_date
from congvan.workdays import WorkCalendar

D = dt.date
Ledger = dict[str | None, Sent]  # what was sent: the highest step per unit, None for the reports
CAL = WorkCalendar()

NHAC_NHO = LadderStep(name="nhac-nho", offset=-3, kind="mail", to="mailbox", template="nhac_nho")
DON_DOC = LadderStep(name="don-doc", offset=1, kind="letter", to="head", cc=["mailbox"], template="don_doc.docx")
GIAI_TRINH = LadderStep(
    name="giai-trinh", offset=5, kind="letter", to="head", template="giai_trinh.docx", signer="chu-tich",
    cc=["mailbox", NamedAddress(name="Văn phòng UBND tỉnh", email="vpubnd@daklak.example"),
        NamedAddress(name="Sở Nội vụ", email="snv@daklak.example")],
)
BAO_CAO = LadderStep(name="bao-cao", offset=5, kind="report", to="leadership", template="bao_cao.docx")
SAMPLE_LADDER = [NHAC_NHO, DON_DOC, GIAI_TRINH, BAO_CAO]


SAMPLE_DEADLINE = D(2023, 2, 24)


def follow_up(deadline: dt.date = SAMPLE_DEADLINE, ladder: list[LadderStep] | None = None,
              closes: dt.date | None = None, calendar: CalendarExtras | None = None) -> FollowUp:
    return FollowUp(deadline=deadline, closes=closes, roster="roster.xlsx", ladder=ladder or SAMPLE_LADDER,
                    calendar=calendar or CalendarExtras())


SAMPLE = follow_up()


def unit(code: str, required: int = 5, responded: int = 2) -> UnitCompliance:
    missing = tuple(Official(f"{code}-{i:02d}", f"Cán bộ {i}", "Chuyên viên", code)
                    for i in range(responded + 1, required + 1))
    return UnitCompliance(code=code, name=f"Đơn vị {code}", required=required, responded=responded,
                          missing=missing, threshold=1.0)


def done(code: str) -> UnitCompliance:
    return unit(code, responded=5)


def status(as_of: dt.date, *units: UnitCompliance) -> Compliance:
    return Compliance(campaign="par-index-2022", as_of=as_of, units=units)


def behind(as_of: dt.date, *codes: str) -> Compliance:
    return status(as_of, *(unit(c) for c in codes))


def steps(actions: list[Action]) -> list[tuple[str | None, str]]:
    return [(a.unit, a.step.name) for a in actions]


UNITS = ("STNMT", "EAHLEO", "KPAC")  # not alphabetical: the order of units.yaml must be kept


# --- step dates --------------------------------------------------------------------------------------


def test_sample_ladder_dates() -> None:
    assert [step_date(SAMPLE, s, CAL) for s in SAMPLE_LADDER] == [
        D(2023, 2, 21), D(2023, 2, 27), D(2023, 3, 3), D(2023, 3, 3)]


def test_step_dates_follow_the_campaign_calendar() -> None:
    fu = follow_up(calendar=CalendarExtras(days_off=[D(2023, 2, 27)]))
    cal = WorkCalendar(fu.calendar)
    assert step_date(fu, DON_DOC, cal) == D(2023, 2, 28)
    assert step_date(fu, GIAI_TRINH, cal) == D(2023, 3, 6)
    assert plan(fu, behind(D(2023, 2, 27), *UNITS), {"STNMT": Sent(1, "nhac-nho", D(2023, 2, 21))},
                D(2023, 2, 27), cal) == []
    assert steps(plan(fu, behind(D(2023, 2, 28), "STNMT"), {"STNMT": Sent(1, "nhac-nho", D(2023, 2, 21))},
                      D(2023, 2, 28), cal)) == [("STNMT", "don-doc")]


def test_a_deadline_on_a_day_off_moves_to_the_next_working_day() -> None:
    fu = follow_up(deadline=D(2024, 4, 27), ladder=[LadderStep(name="han", offset=0, kind="mail", template="t")])
    assert step_date(fu, fu.ladder[0], CAL) == D(2024, 5, 2)


# --- each step on its day ----------------------------------------------------------------------------


def test_each_step_fires_on_its_day_for_every_unit_behind() -> None:
    sent: Ledger = {}
    log = []
    for day in (D(2023, 2, 20), D(2023, 2, 21), D(2023, 2, 22), D(2023, 2, 24), D(2023, 2, 27),
                D(2023, 3, 2), D(2023, 3, 3), D(2023, 3, 6)):
        actions = plan(SAMPLE, behind(day, *UNITS), sent, day, CAL)
        log += [(day, *s) for s in steps(actions)]
        sent = record_sent(sent, actions, day)
    assert log == [
        (D(2023, 2, 21), "STNMT", "nhac-nho"), (D(2023, 2, 21), "EAHLEO", "nhac-nho"),
        (D(2023, 2, 21), "KPAC", "nhac-nho"),
        (D(2023, 2, 27), "STNMT", "don-doc"), (D(2023, 2, 27), "EAHLEO", "don-doc"),
        (D(2023, 2, 27), "KPAC", "don-doc"),
        (D(2023, 3, 3), "STNMT", "giai-trinh"), (D(2023, 3, 3), "EAHLEO", "giai-trinh"),
        (D(2023, 3, 3), "KPAC", "giai-trinh"), (D(2023, 3, 3), None, "bao-cao"),
    ]
    assert sent == {
        "STNMT": Sent(3, "giai-trinh", D(2023, 3, 3)), "EAHLEO": Sent(3, "giai-trinh", D(2023, 3, 3)),
        "KPAC": Sent(3, "giai-trinh", D(2023, 3, 3)), None: Sent(4, "bao-cao", D(2023, 3, 3)),
    }


def test_actions_carry_step_level_and_due_date() -> None:
    actions = plan(SAMPLE, behind(D(2023, 3, 3), "EAHLEO"), {"EAHLEO": Sent(2, "don-doc", D(2023, 2, 27))},
                   D(2023, 3, 3), CAL)
    assert actions == [Action("EAHLEO", GIAI_TRINH, 3, D(2023, 3, 3)), Action(None, BAO_CAO, 4, D(2023, 3, 3))]


# --- a campaign over 30/4-1/5/2024, run every day for five weeks ------------------------------------


def test_five_weeks_day_by_day_over_the_april_may_holidays() -> None:
    # Deadline Wednesday 24/4/2024. Nhắc nhở: 19/4 (Fri). Đôn đốc: 25/4 (Thu). Giải trình and the
    # report: the 5th working day after the deadline, 25/4, 26/4, 2/5, 3/5 and Saturday 4/5, the make-up
    # day for Monday 29/4 (27/4-1/5 off). Hùng Kings' Day, Thursday 18/4, falls in the first week.
    fu = follow_up(deadline=D(2024, 4, 24))
    assert [step_date(fu, s, CAL) for s in fu.ladder] == [D(2024, 4, 19), D(2024, 4, 25), D(2024, 5, 4), D(2024, 5, 4)]
    complies_on = {
        "BMT": D(2024, 4, 1),  # had answered before the campaign's first run
        "STNMT": D(2024, 4, 22),  # answers after the reminder
        "EAHLEO": D(2024, 5, 10),  # answers only after the Chairman's letter
        "KPAC": D(2024, 4, 30),  # answers during the holiday, after the đôn đốc letter
    }

    def compliance_on(day: dt.date) -> Compliance:
        units = [done(code) if day >= when else unit(code) for code, when in complies_on.items()]
        return status(day, *units, unit("CMGAR", required=0, responded=0))  # nobody on its roster

    sent: Ledger = {}
    log = []
    first = D(2024, 4, 15)
    for i in range(35):
        day = first + dt.timedelta(days=i)
        compliance = compliance_on(day)
        actions = plan(fu, compliance, sent, day, CAL)
        # next_step predicts exactly the steps plan takes today.
        predicted = [(u.code, nxt[0].name) for u in compliance.units
                     if (nxt := next_step(fu, u, sent.get(u.code), day, CAL)) is not None and nxt[1] == day]
        assert predicted == [s for s in steps(actions) if s[0] is not None], day
        log += [(day.isoformat(), *s) for s in steps(actions)]
        sent = record_sent(sent, actions, day)
    assert log == [
        ("2024-04-19", "STNMT", "nhac-nho"), ("2024-04-19", "EAHLEO", "nhac-nho"), ("2024-04-19", "KPAC", "nhac-nho"),
        ("2024-04-25", "EAHLEO", "don-doc"), ("2024-04-25", "KPAC", "don-doc"),
        ("2024-05-04", "EAHLEO", "giai-trinh"), ("2024-05-04", None, "bao-cao"),
    ]


# --- rerun, compliance, missed runs, gaps ------------------------------------------------------------


@pytest.mark.parametrize("day", [D(2023, 2, 21), D(2023, 2, 27), D(2023, 3, 3)])
def test_running_twice_the_same_day_plans_nothing_the_second_time(day: dt.date) -> None:
    compliance = behind(day, *UNITS)
    first = plan(SAMPLE, compliance, {}, day, CAL)
    assert first
    assert plan(SAMPLE, compliance, record_sent({}, first, day), day, CAL) == []


def test_a_unit_that_complies_between_steps_gets_nothing_more() -> None:
    sent = record_sent({}, plan(SAMPLE, behind(D(2023, 2, 21), *UNITS), {}, D(2023, 2, 21), CAL), D(2023, 2, 21))
    assert set(sent) == set(UNITS)
    for day in (D(2023, 2, 27), D(2023, 3, 3), D(2023, 3, 6)):
        actions = plan(SAMPLE, status(day, done("STNMT"), unit("EAHLEO"), unit("KPAC")), sent, day, CAL)
        assert "STNMT" not in [a.unit for a in actions]
        sent = record_sent(sent, actions, day)
    assert sent["STNMT"] == Sent(1, "nhac-nho", D(2023, 2, 21))
    assert sent["EAHLEO"] == sent["KPAC"] == Sent(3, "giai-trinh", D(2023, 3, 3))  # the others went on


def test_late_compliance_stops_the_ladder() -> None:
    sent: Ledger = {"KPAC": Sent(2, "don-doc", D(2023, 2, 27)), "EAHLEO": Sent(2, "don-doc", D(2023, 2, 27))}
    # KPAC answered in the evening of the Chairman's letter's day: compliance counts the whole day.
    actions = plan(SAMPLE, status(D(2023, 3, 3), unit("EAHLEO"), done("KPAC")), sent, D(2023, 3, 3), CAL)
    assert steps(actions) == [("EAHLEO", "giai-trinh"), (None, "bao-cao")]


def test_a_unit_falling_behind_again_resumes_where_it_stopped() -> None:
    sent: Ledger = {"KPAC": Sent(1, "nhac-nho", D(2023, 2, 21))}
    assert plan(SAMPLE, status(D(2023, 2, 27), done("KPAC")), sent, D(2023, 2, 27), CAL) == []
    # The roster grew: KPAC is behind again on 3/3; the step now due is the Chairman's letter.
    assert steps(plan(SAMPLE, behind(D(2023, 3, 3), "KPAC"), sent, D(2023, 3, 3), CAL)) == [
        ("KPAC", "giai-trinh"), (None, "bao-cao")]


def test_missed_runs_send_only_the_highest_step_due() -> None:
    # The scheduler was down from 22/2 to 5/3: on 6/3 EAHLEO gets the Chairman's letter, not đôn đốc too.
    sent: Ledger = {"EAHLEO": Sent(1, "nhac-nho", D(2023, 2, 21))}
    actions = plan(SAMPLE, behind(D(2023, 3, 6), "EAHLEO", "KPAC"), sent, D(2023, 3, 6), CAL)
    assert actions == [
        Action("EAHLEO", GIAI_TRINH, 3, D(2023, 3, 3)),
        Action("KPAC", GIAI_TRINH, 3, D(2023, 3, 3)),  # never run before: straight to level 3
        Action(None, BAO_CAO, 4, D(2023, 3, 3)),
    ]
    sent = record_sent(sent, actions, D(2023, 3, 6))
    for day in (D(2023, 3, 7), D(2023, 3, 20)):  # and never the skipped lower steps afterwards
        assert plan(SAMPLE, behind(day, "EAHLEO", "KPAC"), sent, day, CAL) == []


def test_min_gap_holds_a_step_back_until_enough_working_days_have_passed() -> None:
    ladder = [NHAC_NHO, DON_DOC, GIAI_TRINH.model_copy(update={"min_gap": 3}), BAO_CAO]
    fu = follow_up(ladder=ladder)
    sent: Ledger = {"EAHLEO": Sent(2, "don-doc", D(2023, 3, 2)), "KPAC": Sent(2, "don-doc", D(2023, 2, 27))}
    run = {day: plan(fu, behind(day, "EAHLEO", "KPAC"), sent, day, CAL)
           for day in (D(2023, 3, 3), D(2023, 3, 6), D(2023, 3, 7))}
    assert steps(run[D(2023, 3, 3)]) == [("KPAC", "giai-trinh"), (None, "bao-cao")]  # EAHLEO: 1 day since
    assert steps(run[D(2023, 3, 6)]) == [("KPAC", "giai-trinh"), (None, "bao-cao")]  # 2 days since (Fri, Mon)
    assert run[D(2023, 3, 7)][0] == Action("EAHLEO", ladder[2], 3, D(2023, 3, 3))  # 3 days since
    assert next_step(fu, unit("EAHLEO"), sent["EAHLEO"], D(2023, 3, 3), CAL) == (ladder[2], D(2023, 3, 7))


def test_the_default_gap_keeps_two_steps_off_the_same_day() -> None:
    # A reminder sent by hand this morning (recorded as level 1): đôn đốc waits for the next working day.
    sent: Ledger = {"STNMT": Sent(1, "nhac-nho", D(2023, 2, 27))}
    assert plan(SAMPLE, behind(D(2023, 2, 27), "STNMT"), sent, D(2023, 2, 27), CAL) == []
    assert steps(plan(SAMPLE, behind(D(2023, 2, 28), "STNMT"), sent, D(2023, 2, 28), CAL)) == [("STNMT", "don-doc")]
    fu = follow_up(ladder=[NHAC_NHO, DON_DOC.model_copy(update={"min_gap": 0}), GIAI_TRINH])
    assert steps(plan(fu, behind(D(2023, 2, 27), "STNMT"), sent, D(2023, 2, 27), CAL)) == [("STNMT", "don-doc")]


# --- when nothing fires ------------------------------------------------------------------------------


def test_nothing_after_the_campaign_closes() -> None:
    fu = follow_up(closes=D(2023, 3, 2))
    sent: Ledger = {"EAHLEO": Sent(1, "nhac-nho", D(2023, 2, 21))}
    # The closing day itself is still open; a late run there sends the đôn đốc letter.
    assert steps(plan(fu, behind(D(2023, 3, 2), "EAHLEO"), sent, D(2023, 3, 2), CAL)) == [("EAHLEO", "don-doc")]
    for day in (D(2023, 3, 3), D(2023, 3, 6), D(2023, 4, 3)):
        assert plan(fu, behind(day, "EAHLEO"), sent, day, CAL) == []


@pytest.mark.parametrize("day", [D(2023, 3, 4), D(2023, 3, 5)])  # the weekend after the Chairman's letter's day
def test_nothing_on_a_weekend(day: dt.date) -> None:
    assert plan(SAMPLE, behind(day, *UNITS), {}, day, CAL) == []


def test_nothing_on_a_holiday_then_the_next_working_day_catches_up() -> None:
    fu = follow_up(deadline=D(2024, 4, 24))
    sent: Ledger = {"KPAC": Sent(1, "nhac-nho", D(2024, 4, 19))}
    for day in (D(2024, 4, 29), D(2024, 4, 30), D(2024, 5, 1)):  # the swapped day, 30/4, 1/5
        assert plan(fu, behind(day, "KPAC"), sent, day, CAL) == []
    assert plan(fu, behind(D(2024, 5, 2), "KPAC"), sent, D(2024, 5, 2), CAL) == [
        Action("KPAC", DON_DOC, 2, D(2024, 4, 25))]


def test_an_extra_day_off_stops_the_run_and_a_make_up_saturday_allows_it() -> None:
    fu = follow_up(calendar=CalendarExtras(days_off=[D(2023, 3, 3)], working_days=[D(2023, 3, 4)]))
    cal = WorkCalendar(fu.calendar)
    sent: Ledger = {"EAHLEO": Sent(2, "don-doc", D(2023, 2, 27))}
    assert step_date(fu, GIAI_TRINH, cal) == D(2023, 3, 4)
    assert plan(fu, behind(D(2023, 3, 3), "EAHLEO"), sent, D(2023, 3, 3), cal) == []
    assert steps(plan(fu, behind(D(2023, 3, 4), "EAHLEO"), sent, D(2023, 3, 4), cal)) == [
        ("EAHLEO", "giai-trinh"), (None, "bao-cao")]


def test_a_unit_with_nobody_on_its_roster_is_left_alone() -> None:
    empty = unit("CMGAR", required=0, responded=0)
    assert empty.compliant
    assert plan(SAMPLE, status(D(2023, 3, 3), empty), {}, D(2023, 3, 3), CAL) == []  # and no report either
    assert explain(SAMPLE, empty, None, D(2023, 3, 3), CAL) == "none: compliant"


def test_a_partly_answered_unit_below_the_threshold_is_chased() -> None:
    below = UnitCompliance(code="STNMT", name="Sở TNMT", required=10, responded=7, missing=(), threshold=0.8)
    at = UnitCompliance(code="KPAC", name="UBND huyện Krông Pắc", required=10, responded=8, missing=(), threshold=0.8)
    assert steps(plan(SAMPLE, status(D(2023, 2, 21), below, at), {}, D(2023, 2, 21), CAL)) == [("STNMT", "nhac-nho")]


# --- the report ----------------------------------------------------------------------------------------


def test_the_report_fires_once_and_comes_last() -> None:
    sent: Ledger = {code: Sent(2, "don-doc", D(2023, 2, 27)) for code in UNITS}
    actions = plan(SAMPLE, behind(D(2023, 3, 3), *UNITS), sent, D(2023, 3, 3), CAL)
    assert steps(actions) == [
        ("STNMT", "giai-trinh"), ("EAHLEO", "giai-trinh"), ("KPAC", "giai-trinh"), (None, "bao-cao")]
    sent = record_sent(sent, actions, D(2023, 3, 3))
    assert sent[None] == Sent(4, "bao-cao", D(2023, 3, 3))
    assert plan(SAMPLE, behind(D(2023, 3, 6), *UNITS), sent, D(2023, 3, 6), CAL) == []


def test_the_report_needs_someone_behind_on_its_day() -> None:
    sent: Ledger = {"EAHLEO": Sent(3, "giai-trinh", D(2023, 3, 3))}
    assert plan(SAMPLE, status(D(2023, 3, 3), *(done(c) for c in UNITS)), {}, D(2023, 3, 3), CAL) == []
    # EAHLEO has had every letter, but is still behind: the report goes alone.
    assert plan(SAMPLE, behind(D(2023, 3, 6), "EAHLEO"), sent, D(2023, 3, 6), CAL) == [
        Action(None, BAO_CAO, 4, D(2023, 3, 3))]


def test_the_report_ignores_min_gap() -> None:
    second = LadderStep(name="bao-cao-cuoi", offset=6, kind="report", to="leadership", template="bao_cao.docx",
                        min_gap=5)
    fu = follow_up(ladder=[*SAMPLE_LADDER, second])
    sent: Ledger = {None: Sent(4, "bao-cao", D(2023, 3, 3)), "EAHLEO": Sent(3, "giai-trinh", D(2023, 3, 3))}
    assert plan(fu, behind(D(2023, 3, 6), "EAHLEO"), sent, D(2023, 3, 6), CAL) == [
        Action(None, second, 5, D(2023, 3, 6))]


def test_a_report_placed_mid_ladder_keeps_the_levels_as_positions() -> None:
    early = BAO_CAO.model_copy(update={"offset": 1})
    fu = follow_up(ladder=[NHAC_NHO, DON_DOC, early, GIAI_TRINH])
    actions = plan(fu, behind(D(2023, 2, 27), "KPAC"), {}, D(2023, 2, 27), CAL)
    assert actions == [Action("KPAC", DON_DOC, 2, D(2023, 2, 27)), Action(None, early, 3, D(2023, 2, 27))]
    sent = record_sent({}, actions, D(2023, 2, 27))
    assert plan(fu, behind(D(2023, 3, 3), "KPAC"), sent, D(2023, 3, 3), CAL) == [
        Action("KPAC", GIAI_TRINH, 4, D(2023, 3, 3))]


# --- what `congvan status` shows -----------------------------------------------------------------------


def test_next_step_and_explain() -> None:
    nothing_sent = None
    reminded = Sent(1, "nhac-nho", D(2023, 2, 21))
    assert next_step(SAMPLE, unit("KPAC"), nothing_sent, D(2023, 2, 1), CAL) == (NHAC_NHO, D(2023, 2, 21))
    assert next_step(SAMPLE, unit("KPAC"), reminded, D(2023, 2, 25), CAL) == (DON_DOC, D(2023, 2, 27))  # Saturday
    assert next_step(SAMPLE, unit("KPAC"), nothing_sent, D(2023, 2, 27), CAL) == (DON_DOC, D(2023, 2, 27))
    assert next_step(SAMPLE, done("KPAC"), reminded, D(2023, 2, 22), CAL) is None
    assert next_step(SAMPLE, unit("KPAC"), Sent(3, "giai-trinh", D(2023, 3, 3)), D(2023, 3, 6), CAL) is None

    assert explain(SAMPLE, unit("KPAC"), reminded, D(2023, 2, 22), CAL) == "don-doc on 2023-02-27"
    assert explain(SAMPLE, done("KPAC"), reminded, D(2023, 2, 22), CAL) == "none: compliant"
    assert explain(SAMPLE, unit("KPAC"), Sent(3, "giai-trinh", D(2023, 3, 3)), D(2023, 3, 6), CAL) == \
        "none: ladder complete"
    closing = follow_up(closes=D(2023, 3, 1))
    assert explain(closing, unit("KPAC"), Sent(2, "don-doc", D(2023, 2, 27)), D(2023, 2, 28), CAL) == \
        "none: campaign closes first"
    assert next_step(closing, unit("KPAC"), Sent(2, "don-doc", D(2023, 2, 27)), D(2023, 2, 28), CAL) is None
    assert explain(closing, unit("KPAC"), reminded, D(2023, 3, 2), CAL) == "none: campaign closed"
