"""``congvan status``: compliance per unit, for people (names, dd/mm/yyyy, their language, a workbook) and for
scripts (``--json``, a contract)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from congvan.cli_base import error, parse_date, settings_or_exit, user_errors
from congvan.i18n import _, status_word

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from congvan.compliance import Compliance
    from congvan.config import LoadedCampaign
    from congvan.settings import Settings

Campaign = Annotated[str, typer.Argument(help="Campaign (file stem under config/campaigns/).")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="Act as if today were this date (YYYY-MM-DD).")]
NAME_WIDTH = 34  # a unit's name beside its code, cut to fit one terminal line


def status(campaign: Campaign, as_of: AsOf = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
           xlsx: Annotated[Path | None, typer.Option("--xlsx", help="Also write a workbook: a summary sheet and "
                                                     "one sheet per unit behind listing who has not answered.")]
           = None,
           import_first: Annotated[bool, typer.Option("--import", help="First import the exports in the "
                                                      "campaign's responses folder not imported yet.")] = False,
           ) -> None:
    """Compliance per unit (required / responded / missing) and the next ladder step due for each.

    Example: congvan status par-index-2022 --as-of 2023-02-27
    """
    from congvan import compliance, policy, roster, unit_delivery
    from congvan.taken import history
    from congvan.workdays import WorkCalendar

    settings = settings_or_exit()
    with user_errors():
        day = parse_date(as_of) or dt.date.today()
        lc = follow_up_campaign(settings, campaign, check_files=False)
        follow_up = lc.campaign.follow_up
        assert follow_up is not None
        engine = engine_of(settings)
        folder = roster.responses_dir(settings.config_dir, lc)
        if import_first and folder is not None and folder.is_dir():
            for report in roster.import_new_exports(engine, lc, folder):
                typer.echo(_("Imported {summary}").format(summary=report.summary()), err=as_json)
                for line in report.errors:
                    error(line)
        waiting = roster.waiting_exports(engine, lc, folder) if folder is not None else []
        state = compliance.compute(engine, lc, day, names=as_json or xlsx is not None)  # counts only, unless listed
        calendar = WorkCalendar(follow_up.calendar)
        taken = {k: v for k, v in history(engine, lc).items() if v.on <= day}
        truth = unit_delivery.unit_deliveries(engine, lc)
        held = unit_delivery.unreached(engine, lc, truth)
    units: list[dict[str, Any]] = [{
        "code": u.code, "name": u.name, "required": u.required, "responded": u.responded,
        "missing": [{"staff_id": o.staff_id, "name": o.name} for o in u.missing],
        "level_sent": taken[u.code].level if u.code in taken else 0,
        "next_step": f"held: {held[u.code]}" if u.code in held
        else policy.explain(follow_up, u, taken.get(u.code), day, calendar),
        "delivery": truth[u.code].as_json(),
    } for u in state.units]
    nexts = [_("held: {reason}").format(reason=held[u.code]) if u.code in held
             else policy.explain_for_people(follow_up, u, taken.get(u.code), day, calendar) for u in state.units]
    if xlsx is not None:
        if xlsx.suffix.lower() != ".xlsx":
            error(_("{target}: the workbook's name must end in .xlsx").format(target=xlsx))
            raise typer.Exit(code=2)
        try:
            write_workbook(xlsx, lc, state, units, nexts)
        except OSError as exc:
            error(_("{target}: cannot be written: {reason}").format(target=xlsx, reason=exc.strerror or exc))
            raise typer.Exit(code=2) from None
    if as_json:
        typer.echo(json.dumps({"campaign": lc.name, "as_of": day.isoformat(),
                               "deadline": follow_up.deadline.isoformat(), "units": units,
                               "waiting_exports": [p.name for p in waiting]},
                              ensure_ascii=False, indent=2))
        return
    _print(lc, state, units, nexts, day, calendar.reason_off(day), follow_up.deadline)
    if waiting:
        typer.echo(waiting_line(lc.name, waiting, "status"), err=True)
    if xlsx is not None:
        typer.echo(_("Workbook: {path}").format(path=xlsx))


def waiting_line(campaign: str, waiting: list[Path], command: str) -> str:
    """The hint that exports wait in the responses folder, and how to import them."""
    names = ", ".join(p.name for p in waiting)
    how = (_("congvan status {campaign} --import imports them") if command == "status"
           else _("a real run of congvan escalate {campaign} imports them first"))
    return _("Not imported yet ({count} file(s) in the responses folder): {names}; {how}").format(
        count=len(waiting), names=names, how=how.format(campaign=campaign))


def _print(lc: LoadedCampaign, state: Compliance, units: list[dict[str, Any]], nexts: list[str], day: dt.date,
           off: str | None, deadline: dt.date) -> None:
    from congvan.vndate import short_date

    behind = sum(1 for u in state.units if not u.compliant)
    typer.echo(_("{campaign} as of {date}{off}: deadline {deadline}, {responded}/{required} answered, "
                 "{behind} unit(s) behind").format(
        campaign=lc.name, date=short_date(day), off=f" ({off})" if off else "", deadline=short_date(deadline),
        responded=state.responded, required=state.required, behind=behind))
    if state.required == 0:
        typer.echo(_("Warning: no roster imported yet: every unit counts as compliant; run congvan roster import "
                     "{campaign}").format(campaign=lc.name), err=True)
    if state.unknown_responses:
        typer.echo("  " + _("{count} response(s) from staff IDs not on the roster").format(
            count=state.unknown_responses), err=True)
    if not units:
        return
    code_w = max(len(u["code"]) for u in units)
    name_w = min(NAME_WIDTH, max(len(u["name"]) for u in units))
    words = [status_word(u["delivery"]["status"]) for u in units]
    word_w = max(len(w) for w in [*words, _("Dispatch")])
    answered = [f"{u['responded']}/{u['required']}" for u in units]
    heads = {"answered": _("Answered"), "rate": _("Rate"), "missing": _("Missing"), "level": _("Level")}
    w = {k: len(v) for k, v in heads.items()}
    w["answered"] = max(w["answered"], *map(len, answered))
    w["rate"], w["missing"], w["level"] = max(w["rate"], 4), max(w["missing"], 3), max(w["level"], 2)
    typer.echo(f"  {_('Code'):<{code_w}}  {_('Unit'):<{name_w}}  {heads['answered']:>{w['answered']}}  "
               f"{heads['rate']:>{w['rate']}}  {heads['missing']:>{w['missing']}}  {heads['level']:>{w['level']}}  "
               f"{_('Dispatch'):<{word_w}}  {_('Next step')}")
    for u, uc, word, nxt, done in zip(units, state.units, words, nexts, answered, strict=True):
        mark = " " if uc.compliant else "!"
        name = u["name"] if len(u["name"]) <= name_w else u["name"][:name_w - 1] + "…"
        typer.echo(f"{mark} {u['code']:<{code_w}}  {name:<{name_w}}  {done:>{w['answered']}}  "
                   f"{uc.rate:>{w['rate']}.0%}  {uc.required - uc.responded:>{w['missing']}}  "
                   f"{u['level_sent']:>{w['level']}}  {word:<{word_w}}  {nxt}")


def write_workbook(path: Path, lc: LoadedCampaign, state: Compliance, units: list[dict[str, Any]],
                   nexts: list[str]) -> None:
    """A summary sheet, then one sheet per unit behind: who has not answered (STT, name, position, email)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    from congvan.render import write_atomically
    from congvan.vndate import short_date

    plain, bold = Font(name="Times New Roman", size=12), Font(name="Times New Roman", size=12, bold=True)
    title = Font(name="Times New Roman", size=14, bold=True)
    wb = Workbook()
    summary = wb.active
    summary.title = _("Summary")[:31]
    summary.append([_("Compliance of {campaign} as of {date}").format(campaign=lc.name,
                                                                     date=short_date(state.as_of))])
    summary["A1"].font = title
    summary.append([])
    heads = [_("No."), _("Code"), _("Unit"), _("Required"), _("Answered"), _("Not answered"), _("Rate"),
             _("Level"), _("Dispatch"), _("Next step")]
    summary.append(heads)
    for n, (u, uc, nxt) in enumerate(zip(units, state.units, nexts, strict=True), 1):
        summary.append([n, u["code"], u["name"], uc.required, uc.responded, uc.required - uc.responded,
                        round(uc.rate, 4), u["level_sent"], status_word(u["delivery"]["status"]), nxt])
        summary.cell(row=summary.max_row, column=7).number_format = "0%"
    _style(summary, header_row=3, widths=[6, 10, 40, 12, 12, 14, 8, 8, 16, 40], plain=plain, bold=bold)
    used: set[str] = {summary.title}
    for uc in state.units:
        if uc.compliant:
            continue
        name = _sheet_name(uc.code, used)
        sheet = wb.create_sheet(name)
        sheet.append([_("Not answered yet: {unit} ({code})").format(unit=uc.name, code=uc.code)])
        sheet["A1"].font = title
        sheet.append([])
        sheet.append([_("No."), _("Full name"), _("Position"), _("Email")])
        for n, o in enumerate(uc.missing, 1):
            sheet.append([n, o.name, o.position, o.email or ""])
        _style(sheet, header_row=3, widths=[6, 32, 40, 36], plain=plain, bold=bold)
    for sheet in wb.worksheets:
        sheet.freeze_panes = "A4"
        for cell in sheet[3]:
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    import io

    buffer = io.BytesIO()
    wb.save(buffer)
    write_atomically(path, buffer.getvalue())


def _style(sheet: Any, *, header_row: int, widths: list[int], plain: Any, bold: Any) -> None:
    from openpyxl.utils import get_column_letter

    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.font = bold if cell.row == header_row else plain
    for i, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(i)].width = width


def _sheet_name(code: str, used: set[str]) -> str:
    base = "".join("_" if c in "[]:*?/\\" else c for c in code)[:31] or "_"
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base[:28]}~{n}"
    used.add(name)
    return name


def follow_up_campaign(settings: Settings, campaign: str, *, check_files: bool = True) -> LoadedCampaign:
    """The campaign, which must have a follow-up. ``check_files``: validated in full (templates rendered, the
    roster file read); without, only its configuration, for ``status``, which reads the database alone and
    must answer at once even when the roster file holds 100,000 rows."""
    from congvan.config import load_campaign

    if check_files:
        from congvan.validation import validate_campaign

        lc = validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign
    else:
        lc = load_campaign(settings.config_dir, campaign)
    lc.require_follow_up()
    return lc


def engine_of(settings: Settings) -> Engine:
    from congvan.store.db import init_db, make_engine

    engine = make_engine(settings.database_url)
    init_db(engine)
    return engine
