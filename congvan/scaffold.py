"""`congvan new NAME --from CAMPAIGN`: a new campaign made from an existing one, ready to edit.

What the new campaign gets of its own, so that editing it never changes the campaign it came from:

- ``config/campaigns/NAME.yaml``: the source's YAML, comments kept, with the paths below swapped in;
- copies of every template it uses, named ``NAME_<template>``: the dispatch .docx and the ladder's
  .docx in ``templates/``, the reminder mails and the covering mails (``mail_templates``) in
  ``templates/mail/``;
- ``config/rosters/NAME.xlsx``: a roster workbook with the campaign's header row, to fill in Excel,
  and a second sheet listing the units the campaign addresses (the unit column offers them as a list);
- ``config/responses/NAME/``: the folder the survey's exports are saved in (created).

Asked for, it also takes the coordinator's first edits so a small campaign needs no YAML editing to start:
``--units`` (the units in "Kính gửi", each by its code), ``--deadline`` (the follow-up's deadline; the closing
day moves with it and the planned issue date becomes today) and ``--roster`` (the list of officials the
coordinator already keeps in Excel, copied in instead of the empty form).

Nothing is written until everything has been checked (a NAME taken, a file that would be overwritten, an
unknown source), and nothing is left half-made when a write fails.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from congvan.config import LoadedCampaign, Unit, campaign_path, load_campaign
from congvan.errors import ConfigError, Problem, ScaffoldError
from congvan.i18n import _
from congvan.mail_bodies import MAIL_DIR, SUFFIXES

ROSTER_SHEET = "Danh sách"
UNITS_SHEET = "Đơn vị"
ROSTER_ROWS = 500  # rows of the roster sheet offered the unit list (Excel's data validation range)


@dataclass
class Scaffold:
    """What ``new_campaign`` wrote."""

    name: str
    campaign: Path
    templates: list[Path] = field(default_factory=list)
    roster: Path | None = None
    responses: Path | None = None
    units: int = 0
    roster_copied: bool = False  # the coordinator's own list (--roster), not the empty form

    def next_commands(self) -> list[str]:
        return [f"congvan validate {self.name}", f"congvan dispatch {self.name}",
                f"congvan roster import {self.name}"]


def _copy_name(template: str, name: str, source: str) -> str:
    """``NAME_<template>``, without the source campaign's own prefix (a copy of a copy stays short)."""
    return f"{name}_{template.removeprefix(f'{source}_')}"


@dataclass(frozen=True)
class Changes:
    """The coordinator's first edits, made while copying (each None: kept as the source says)."""

    units: tuple[str, ...] | None = None  # codes of the units in "Kính gửi", in order
    deadline: date | None = None
    roster: Path | None = None  # an .xlsx/.csv list of officials to copy in
    today: date | None = None  # the new planned issue date


@dataclass(frozen=True)
class _Plan:
    docx: dict[str, str]  # template file in templates/ -> its copy
    mail: dict[str, str]  # mail template stem in templates/mail/ -> its copy
    roster: str | None  # follow_up.roster, relative to the config folder
    responses: str | None
    changes: Changes = Changes()


def _plan(lc: LoadedCampaign, name: str, changes: Changes) -> _Plan:
    camp = lc.campaign
    docx = {camp.template: _copy_name(camp.template, name, lc.name)}
    mail = {}
    for stem in (camp.mail_templates.dispatch, camp.mail_templates.letter, camp.mail_templates.report):
        mail[stem] = _copy_name(stem, name, lc.name)
    follow_up = camp.follow_up
    if follow_up is None:
        return _Plan(docx, {camp.mail_templates.dispatch: mail[camp.mail_templates.dispatch]}, None, None, changes)
    for step in follow_up.ladder:
        if step.kind == "mail":
            mail[step.template] = _copy_name(step.template, name, lc.name)
        else:
            docx[step.template] = _copy_name(step.template, name, lc.name)
    suffix = changes.roster.suffix.lower() if changes.roster is not None else ".xlsx"
    return _Plan(docx, mail, f"rosters/{name}{suffix}", f"responses/{name}", changes)


def _check_changes(lc: LoadedCampaign, changes: Changes) -> None:
    """``ScaffoldError`` for an edit that cannot be made, before anything is written."""
    if changes.units is not None:
        known = {unit.code for unit in lc.units}
        unknown = [code for code in changes.units if code not in known]
        if unknown:
            raise ScaffoldError(_("--units: no unit {code!r} in config/units.yaml (units: {codes}…)").format(
                code=unknown[0], codes=", ".join(sorted(known)[:12])))
        if not changes.units:
            raise ScaffoldError(_("--units: name at least one unit code"))
    if (changes.deadline is not None or changes.roster is not None) and lc.campaign.follow_up is None:
        raise ScaffoldError(_("{name!r} has no follow_up: --deadline and --roster are for a campaign with one").format(
            name=lc.name))
    if changes.roster is not None:
        if not changes.roster.is_file():
            raise ScaffoldError(_("--roster: {path}: no such file").format(path=changes.roster))
        if changes.roster.suffix.lower() not in (".xlsx", ".csv"):
            raise ScaffoldError(_("--roster: {path}: the roster is an Excel workbook (.xlsx) or a .csv").format(
                path=changes.roster))


def new_campaign(config_dir: Path, templates_dir: Path, name: str, source: str,
                 changes: Changes = Changes()) -> Scaffold:
    """Make campaign ``name`` from campaign ``source``; ``ScaffoldError``/``ConfigError`` and nothing written
    when it cannot be made."""
    target = campaign_path(config_dir, name)  # the file-stem rules: ConfigError for a bad NAME
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}", name):
        raise ScaffoldError(_("{name!r}: a new campaign's name is at most 41 letters, digits, '.', '-' or '_'").format(
            name=name))
    if target.exists():
        raise ScaffoldError(_("{path}: campaign {name!r} exists already; choose another name").format(path=target,
                                                                                                 name=name))
    lc = load_campaign(config_dir, source)
    _check_changes(lc, changes)
    plan = _plan(lc, name, changes)
    copies: list[tuple[Path, Path]] = [(templates_dir / old, templates_dir / new) for old, new in plan.docx.items()]
    for old, new in plan.mail.items():
        copies += [(templates_dir / MAIL_DIR / f"{old}{suffix}", templates_dir / MAIL_DIR / f"{new}{suffix}")
                   for suffix, _ in SUFFIXES]
    roster = config_dir / plan.roster if plan.roster else None
    responses = config_dir / plan.responses if plan.responses else None
    in_the_way = [dst for _, dst in copies if dst.exists()] + [p for p in (roster,) if p is not None and p.exists()]
    if responses is not None and responses.exists() and any(responses.iterdir()):
        in_the_way.append(responses)
    if in_the_way:
        raise ScaffoldError(_("{path} exists already (left from another campaign {name!r}?); move it away or choose "
                              "another name").format(path=in_the_way[0], name=name))
    missing = [src for src, _ in copies if not src.is_file()]
    if missing:
        raise ScaffoldError(_("{path}: template of {source!r} not found; run congvan validate {name}").format(
            path=missing[0], source=source, name=source))
    text = campaign_yaml(lc.path.read_text(encoding="utf-8"), lc, plan, source=source)

    written: list[Path] = []
    try:
        for src, dst in copies:
            shutil.copyfile(src, dst)
            written.append(dst)
        result = Scaffold(name=name, campaign=target, templates=[dst for _, dst in copies])
        if roster is not None and responses is not None:
            roster.parent.mkdir(parents=True, exist_ok=True)
            addressed = _addressed(lc, changes)
            if changes.roster is not None:
                shutil.copyfile(changes.roster, roster)
                result.units, result.roster_copied = len(addressed), True
            else:
                result.units = write_roster_workbook(roster, lc, addressed)
            written.append(roster)
            responses.mkdir(parents=True, exist_ok=True)
            result.roster, result.responses = roster, responses
        _write_new(target, text)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise ScaffoldError(_("cannot write the new campaign: {error}").format(error=exc)) from None
    return result


def _write_new(path: Path, text: str) -> None:
    """Write ``path`` only if it does not exist (two `congvan new` at once: one wins, the other is told)."""
    try:
        with path.open("x", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    except FileExistsError:
        raise ScaffoldError(_("{path}: campaign {name!r} exists already; choose another name").format(
            path=path, name=path.stem)) from None


def _addressed(lc: LoadedCampaign, changes: Changes) -> list[Unit]:
    if changes.units is None:
        return [addressee.unit for addressee in lc.addressees]
    by_code = {unit.code: unit for unit in lc.units}
    return [by_code[code] for code in dict.fromkeys(changes.units)]


# --- the YAML: the source's text with the new paths swapped in, comments kept ---------------------------------


def _expected(data: dict[str, Any], plan: _Plan) -> dict[str, Any]:
    """The source's data as the new campaign must say it."""
    new = dict(data)
    changes = plan.changes
    new["template"] = plan.docx[data.get("template", "cong_van.docx")]
    if changes.units is not None:
        new["kinh_gui"] = [{"unit": code} for code in dict.fromkeys(changes.units)]
    if changes.today is not None and "date" in data:
        new["date"] = changes.today
    mail = dict(data.get("mail_templates") or {})
    for key in ("dispatch", "letter", "report"):
        stem = mail.get(key, key)
        if stem in plan.mail:
            mail[key] = plan.mail[stem]
    if mail:
        new["mail_templates"] = mail
    if isinstance(data.get("follow_up"), dict):
        follow_up = dict(data["follow_up"])
        follow_up["roster"] = plan.roster
        follow_up["responses"] = plan.responses
        if changes.deadline is not None:
            old_deadline, old_closes = follow_up.get("deadline"), follow_up.get("closes")
            follow_up["deadline"] = changes.deadline
            if isinstance(old_deadline, date) and isinstance(old_closes, date):
                follow_up["closes"] = changes.deadline + (old_closes - old_deadline)
        ladder = []
        for step in follow_up.get("ladder") or []:
            step = dict(step)
            table = plan.mail if step.get("kind") == "mail" else plan.docx
            old = str(step.get("template"))
            step["template"] = table.get(old, old)
            ladder.append(step)
        follow_up["ladder"] = ladder
        new["follow_up"] = follow_up
    return new


_KEY_LINE = r"^(?P<indent>[ \t]*(?:- )?)(?P<key>{key}):[ \t]*(?P<value>[^#\n]*?)(?P<rest>[ \t]*(?:#.*)?)$"


def _swap(text: str, key: str, old: str, new: str) -> str:
    """Every ``key: old`` line (plain or quoted value, comment kept) becomes ``key: new``."""
    pattern = re.compile(_KEY_LINE.format(key=re.escape(key)), re.MULTILINE)

    def repl(m: re.Match[str]) -> str:
        if m["value"].strip("'\" ") != old:
            return m.group(0)
        return f"{m['indent']}{m['key']}: {new}{m['rest']}"

    return pattern.sub(repl, text)


def _insert_after(text: str, key: str, line: str) -> str:
    """Insert ``line`` after the first top-level ``key:`` line (at the end if there is none)."""
    m = re.search(rf"^{re.escape(key)}:.*$", text, re.MULTILINE)
    if m is None:
        return text.rstrip("\n") + "\n" + line + "\n"
    return text[:m.end()] + "\n" + line + text[m.end():]


def campaign_yaml(text: str, lc: LoadedCampaign, plan: _Plan, *, source: str) -> str:
    """The new campaign's YAML: the source's text with its own templates, roster and responses folder.

    Edited line by line so the coordinator's comments stay; if the result does not read back as intended
    (an unusual layout), the data is written out plainly instead, under a comment saying so.
    """
    data = yaml.safe_load(text)
    expected = _expected(data, plan)
    out = text
    for old, new in plan.docx.items():
        out = _swap(out, "template", old, new)
    for old, new in plan.mail.items():
        out = _swap(out, "template", old, new)
        for key in ("dispatch", "letter", "report"):
            out = _swap(out, key, old, new)
    if "template" not in data:
        out = _insert_after(out, "signer", f"template: {expected['template']}")
    covering = {k: v for k, v in expected.get("mail_templates", {}).items()
                if k not in (data.get("mail_templates") or {})}
    if covering:
        block = _("# This campaign's own covering mails, in templates/mail/ (NAME.txt and NAME.html).") + "\n"
        if "mail_templates" in data:
            out = _insert_after(out, "mail_templates",
                                "\n".join(f"  {k}: {v}" for k, v in covering.items()))
        else:
            out = out.rstrip("\n") + "\n\n" + block + "mail_templates:\n" + \
                "".join(f"  {k}: {v}\n" for k, v in covering.items())
    follow_up = data.get("follow_up")
    if isinstance(follow_up, dict):
        out = _swap(out, "roster", str(follow_up.get("roster")), str(plan.roster))
        if follow_up.get("responses"):
            out = _swap(out, "responses", str(follow_up["responses"]), str(plan.responses))
        else:
            m = re.search(r"^(?P<indent>[ \t]+)roster:.*$", out, re.MULTILINE)
            if m is not None:
                out = out[:m.end()] + f"\n{m['indent']}responses: {plan.responses}" + out[m.end():]
    if plan.changes.units is not None:
        out = _replace_block(out, "kinh_gui", "".join(f"  - unit: {item['unit']}\n" for item in expected["kinh_gui"]))
    if isinstance(follow_up, dict) and plan.changes.deadline is not None:
        for key in ("deadline", "closes"):
            if key in follow_up:
                out = _swap(out, key, str(follow_up[key]), expected["follow_up"][key].isoformat())
    if expected.get("date") != data.get("date"):
        out = _swap(out, "date", str(data["date"]), expected["date"].isoformat())
    header = _("# Made from campaign {source} by `congvan new`: edit the title, dates, summary, body and "
               "deadline.").format(source=source) + "\n"
    if _reads_as(out, expected):
        return header + out
    plain = yaml.safe_dump(expected, allow_unicode=True, sort_keys=False, width=110)
    return header + _("# (written out plainly: the source's layout could not be kept)") + "\n" + plain


def _replace_block(text: str, key: str, body: str) -> str:
    """The top-level ``key:`` block's items replaced by ``body`` (comment lines inside the block kept)."""
    m = re.search(rf"^{re.escape(key)}:[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n(?=[ \t]))*)", text, re.MULTILINE)
    if m is None:
        return text
    return text[:m.start(1)] + body + text[m.end(1):]


def _reads_as(text: str, expected: dict[str, Any]) -> bool:
    try:
        return bool(yaml.safe_load(text) == expected)
    except yaml.YAMLError:
        return False


# --- the roster workbook ----------------------------------------------------------------------------------


def write_roster_workbook(path: Path, lc: LoadedCampaign, units: list[Unit] | None = None) -> int:
    """An .xlsx to fill in: sheet "Danh sách" with the campaign's header row (first the columns the roster
    needs, then the optional ones), the unit column offering the addressed units' codes as a drop-down list;
    sheet "Đơn vị" listing those units (code, name, group). Returns how many units it lists."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.datavalidation import DataValidation

    follow_up = lc.require_follow_up()
    columns = follow_up.columns
    headers = [columns.staff_id[0], columns.name[0], columns.position[0], columns.unit[0], columns.email[0]]
    widths = [14, 30, 30, 16, 34]
    wb = Workbook()
    ws = wb.active
    ws.title = ROSTER_SHEET
    ws.append(headers)
    for i, width in enumerate(widths):
        ws.column_dimensions[chr(ord("A") + i)].width = width
        ws.cell(row=1, column=i + 1).font = Font(bold=True)
    ws.freeze_panes = "A2"
    listed = units if units is not None else [addressee.unit for addressee in lc.addressees]
    sheet = wb.create_sheet(UNITS_SHEET)
    sheet.append(["Mã đơn vị", "Tên đơn vị", "Nhóm"])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for unit in listed:
        sheet.append([unit.code, unit.name, lc.groups[unit.group].label if unit.group in lc.groups else unit.group])
    for letter, width in (("A", 14), ("B", 48), ("C", 36)):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    count = len(listed)
    if count:
        pick = DataValidation(type="list", formula1=f"='{UNITS_SHEET}'!$A$2:$A${count + 1}", allow_blank=True,
                              showErrorMessage=False)
        pick.prompt = f"Chọn mã đơn vị (trang {UNITS_SHEET}), hoặc gõ mã hay tên đơn vị"
        pick.showInputMessage = True
        ws.add_data_validation(pick)
        pick.add(f"D2:D{ROSTER_ROWS + 1}")
    wb.save(path)
    return count


def roster_is_empty_problem(lc: LoadedCampaign, path: Path) -> Problem:
    """How validate says that the roster is still the empty form ``congvan new`` wrote."""
    return Problem(str(path), "", _("no staff on the roster yet: fill in sheet '{sheet}' (one row per official who "
                                    "must answer; the units are on sheet '{units}'), then run congvan validate "
                                    "{campaign}").format(sheet=ROSTER_SHEET, units=UNITS_SHEET, campaign=lc.name))


__all__ = ["Changes", "ConfigError", "Scaffold", "ScaffoldError", "new_campaign", "write_roster_workbook"]
