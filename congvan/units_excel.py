"""``units.yaml`` ⇄ an Excel table (`congvan units export` / `congvan units import`).

The văn thư keeps the units as a table; congvan keeps them as YAML (the stored form, validated by the
pydantic models of ``congvan.config``). The workbook has two sheets: "Đơn vị" (one row per unit: code,
name, group, mailbox, fallback mailbox, head's name, title and e-mail) and "Nhóm" (group key and label).

Import validates exactly as loading ``units.yaml`` does (the same models, duplicate codes, unknown or
empty groups) and, beyond it, that every campaign's ``kinh_gui`` still finds its units and groups;
every problem names its sheet, row (from 1, as Excel shows) and column. ``units.yaml`` is written only
when nothing is wrong, atomically, under the comment block the file had. Export then import gives the
same units.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from congvan.config import UnitsFile, list_campaigns, pydantic_message
from congvan.config.checks import _check_references, _Roster
from congvan.config.yaml_reader import _read_yaml
from congvan.errors import ConfigError, Problem, SourceDataError, human_field
from congvan.i18n import _
from congvan.render import write_atomically
from congvan.text import clean, one_line

if TYPE_CHECKING:
    from congvan.xlsx_reader import Sheet

UNITS_SHEET = "Đơn vị"
GROUPS_SHEET = "Nhóm"
HEADER_SCAN_ROWS = 10
# field path in units.yaml -> (header as exported, other headers accepted), in the sheet's column order
UNIT_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("Mã đơn vị", "Mã", "code"),
    "name": ("Tên đơn vị", "name"),
    "group": ("Nhóm", "Mã nhóm", "group"),
    "email": ("Hộp thư chung", "Email đơn vị", "Email", "email", "mailbox"),
    "fallback_email": ("Hộp thư dự phòng", "Email dự phòng", "fallback_email", "fallback mailbox"),
    "head.name": ("Họ tên thủ trưởng", "Thủ trưởng", "head name", "head.name"),
    "head.title": ("Chức danh thủ trưởng", "Chức danh", "head title", "head.title"),
    "head.email": ("Email thủ trưởng", "head email", "head.email"),
}
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "key": ("Mã nhóm", "Khóa nhóm", "Nhóm", "key", "group"),
    "label": ("Tên nhóm", "Tên in trên dòng Kính gửi", "label"),
}
WIDTHS = {"code": 12, "name": 44, "group": 16, "email": 34, "fallback_email": 30, "head.name": 26,
          "head.title": 44, "head.email": 40}


@dataclass(frozen=True)
class Imported:
    path: Path
    units: int
    groups: int
    changed: bool

    def summary(self) -> str:
        if not self.changed:
            return _("{path}: {units} units in {groups} groups, unchanged").format(
                path=self.path, units=self.units, groups=self.groups)
        return _("{path}: {units} units in {groups} groups written").format(
            path=self.path, units=self.units, groups=self.groups)


def _key(text: str) -> str:
    return " ".join(clean(text).split()).casefold()


def _cell(value: Any) -> str:
    """A cell as trimmed NFC text; a whole number Excel stored as 1023.0 becomes '1023'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean(str(value)).strip()


def read_units(config_dir: Path) -> UnitsFile:
    """``units.yaml`` as the models read it; ``ConfigError`` listing every problem."""
    problems: list[Problem] = []
    shown = str(config_dir / "units.yaml")
    data = _read_yaml(config_dir / "units.yaml", shown, problems)
    parsed = None
    if data is not None:
        try:
            parsed = UnitsFile.model_validate(data)
        except ValidationError as exc:
            problems += [Problem(shown, ".".join(map(str, e["loc"])), str(e["msg"])) for e in exc.errors()]
    if problems or parsed is None:
        raise ConfigError(problems)
    return parsed


# --- export -----------------------------------------------------------------------------------------


def export_units(config_dir: Path, out: Path) -> int:
    """Write the units and groups of ``units.yaml`` as a workbook; returns the number of units."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    units_file = read_units(config_dir)
    wb = Workbook()
    ws = wb.active
    ws.title = UNITS_SHEET
    ws.append([headers[0] for headers in UNIT_COLUMNS.values()])
    for unit in units_file.units:
        ws.append([unit.code, unit.name, unit.group, unit.email, unit.fallback_email or "", unit.head.name,
                   unit.head.title, unit.head.email])
    for i, field in enumerate(UNIT_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = WIDTHS[field]
        ws.cell(row=1, column=i).font = Font(bold=True)
    ws.freeze_panes = "B2"
    groups = wb.create_sheet(GROUPS_SHEET)
    groups.append([headers[0] for headers in GROUP_COLUMNS.values()])
    for key, group in units_file.groups.items():
        groups.append([key, group.label])
    for cell in groups[1]:
        cell.font = Font(bold=True)
    groups.column_dimensions["A"].width = 18
    groups.column_dimensions["B"].width = 50
    groups.freeze_panes = "A2"
    if units_file.groups:
        pick = DataValidation(type="list", formula1=f"='{GROUPS_SHEET}'!$A$2:$A${len(units_file.groups) + 1}",
                              allow_blank=False, showErrorMessage=True, errorTitle="Nhóm",
                              error=f"Chọn một mã nhóm có trong sheet {GROUPS_SHEET}")
        ws.add_data_validation(pick)
        pick.add(f"C2:C{max(len(units_file.units) + 200, 500)}")
    buffer = io.BytesIO()
    wb.save(buffer)
    write_atomically(out, buffer.getvalue())
    return len(units_file.units)


# --- import -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sheet:
    title: str
    header_row: int
    columns: dict[str, int]  # field -> 0-based column index
    rows: list[tuple[int, list[Any]]]  # (Excel row number, cells)

    def where(self, file: str, row: int, field: str | None = None, headers: dict[str, tuple[str, ...]] | None = None,
              ) -> str:
        text = _("{file}, sheet '{sheet}', row {row}").format(file=file, sheet=self.title, row=row)
        if field is not None and headers is not None and field in headers:
            text += _(", column '{column}'").format(column=headers[field][0])
        return text


def _find_sheet(sheets: list[Sheet], name: str, index: int) -> Sheet | None:
    for sheet in sheets:
        if _key(sheet.title) == _key(name):
            return sheet
    return sheets[index] if len(sheets) > index else None


def _read_sheet(ws: Sheet, rows: list[tuple[object, ...]], headers: dict[str, tuple[str, ...]], required: str,
                file: str) -> _Sheet:
    wanted = {_key(h): field for field, names in headers.items() for h in names}
    for number, cells in enumerate(rows[:HEADER_SCAN_ROWS], start=1):
        found: dict[str, int] = {}
        for i, cell in enumerate(cells):
            field = wanted.get(_key(_cell(cell)))
            if field is not None and field not in found:
                found[field] = i
        if required in found:
            data = [(n, list(c)) for n, c in enumerate(rows[number:], start=number + 1)]
            return _Sheet(_cell(ws.title), number, found, data)
    raise SourceDataError(_("{file}, sheet '{sheet}': no header row with '{header}' in the first {rows} rows "
                            "(expected: {expected})").format(file=file, sheet=_cell(ws.title),
                                                             header=headers[required][0], rows=HEADER_SCAN_ROWS,
                                                             expected=", ".join(h[0] for h in headers.values())))


def _value(sheet: _Sheet, cells: list[Any], field: str) -> str:
    i = sheet.columns.get(field)
    return _cell(cells[i]) if i is not None and i < len(cells) else ""


def read_workbook(path: Path) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The workbook as the data ``units.yaml`` would hold, where each field path came from
    (``units[3].head.email`` → "file, sheet 'Đơn vị', row 5, column 'Email thủ trưởng'"), and the
    problems only the sheet shows (a group key given twice)."""
    from congvan.xlsx_reader import XlsxBook

    file = one_line(path.name)
    if path.suffix.lower() != ".xlsx":
        raise SourceDataError(_("{path}: not an Excel workbook (.xlsx)").format(path=one_line(str(path))))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceDataError(_("{path}: file not found").format(path=one_line(str(path)))) from None
    except OSError as exc:
        raise SourceDataError(_("{path}: cannot be read as an Excel workbook ({error})").format(
            path=one_line(str(path)), error=exc)) from None
    with XlsxBook(data, file) as book:
        units_sheet = _find_sheet(book.sheets, UNITS_SHEET, 0)
        if units_sheet is None:
            raise SourceDataError(_("{file}: the workbook has no worksheet").format(file=file))
        units = _read_sheet(units_sheet, list(book.rows(units_sheet)), UNIT_COLUMNS, "code", file)
        groups_sheet = _find_sheet(book.sheets, GROUPS_SHEET, 1)
        if groups_sheet is None or groups_sheet is units_sheet:
            raise SourceDataError(_("{file}: no sheet '{sheet}' (group key and label, one row per group)").format(
                file=file, sheet=GROUPS_SHEET))
        groups = _read_sheet(groups_sheet, list(book.rows(groups_sheet)), GROUP_COLUMNS, "key", file)

    where: dict[str, str] = {}
    duplicates: list[str] = []
    data_groups: dict[str, Any] = {}
    for row, cells in groups.rows:
        key, label = _value(groups, cells, "key"), _value(groups, cells, "label")
        if not key and not label:
            continue
        if key in data_groups:
            first = where[f"groups.{key}"].rpartition(", ")[2]
            duplicates.append(_("{where}: duplicate group {key!r} (also {first})").format(
                where=groups.where(file, row, "key", GROUP_COLUMNS), key=key, first=first))
            continue
        data_groups[key] = {"label": label} if label else {}
        where[f"groups.{key}"] = groups.where(file, row)
        where[f"groups.{key}.label"] = groups.where(file, row, "label", GROUP_COLUMNS)
    data_units: list[dict[str, Any]] = []
    for row, cells in units.rows:
        values = {field: _value(units, cells, field) for field in UNIT_COLUMNS}
        if not any(values.values()):
            continue
        i = len(data_units)
        unit: dict[str, Any] = {k: values[k] for k in ("code", "name", "group", "email") if values[k]}
        head = {k: values[f"head.{k}"] for k in ("name", "title", "email") if values[f"head.{k}"]}
        unit["head"] = head
        if values["fallback_email"]:
            unit["fallback_email"] = values["fallback_email"]
        data_units.append(unit)
        where[f"units[{i}]"] = units.where(file, row)
        for field in UNIT_COLUMNS:
            where[f"units[{i}].{field}"] = units.where(file, row, field, UNIT_COLUMNS)
    return {"groups": data_groups, "units": data_units}, where, duplicates


def _problems(data: dict[str, Any], where: dict[str, str], file: str, config_dir: Path) -> list[str]:
    problems: list[str] = []
    try:
        UnitsFile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = ""
            for part in err["loc"]:
                path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
            place = where.get(path) or where.get(path.rpartition(".")[0]) or where.get(path.partition(".")[0]) or file
            message = _("required, but the cell is empty") if err["type"] == "missing" else \
                pydantic_message(err).removeprefix("Value error, ")
            problems.append(f"{place}: {message}")
    roster = _Roster.read(data)
    for p in roster.problems(file):
        place = where.get(p.field) or file
        message = p.message
        for i in range(len(data["units"])):  # "units[7]" in a message → the row it is on
            row = re.search(r"(\d+)$", where.get(f"units[{i}]", ""))
            if row:
                message = message.replace(f"{human_field(f'units[{i}]')};",
                                          _("row {row}").format(row=row.group(1)) + ";")
        problems.append(f"{place}: {message}")
    # The campaigns must still find their units and groups.
    auth_problems: list[Problem] = []
    auths = _read_yaml(config_dir / "authorities.yaml", str(config_dir / "authorities.yaml"), auth_problems)
    for name in list_campaigns(config_dir):
        shown = str(config_dir / "campaigns" / f"{name}.yaml")
        camp = _read_yaml(config_dir / "campaigns" / f"{name}.yaml", shown, [])
        if camp is None:
            continue
        for p in _check_references(camp, auths, roster, shown, file):
            if p.field.startswith("kinh_gui"):
                problems.append(_("{problem}: the campaign would lose it").format(problem=p))
    return problems


def import_units(config_dir: Path, path: Path) -> Imported:
    """Replace ``units.yaml`` with the workbook's units and groups, if every row is valid.

    ``ConfigError`` (nothing written) lists every problem, each with its sheet, row and column.
    """
    data, where, problems = read_workbook(path)
    file = one_line(path.name)
    problems += _problems(data, where, file, config_dir)
    if problems:
        raise ConfigError([Problem(*_split(line)) for line in problems])
    target = config_dir / "units.yaml"
    text = _header_comment(target) + units_yaml(data)
    old = target.read_text(encoding="utf-8") if target.is_file() else None
    if old is not None and _same(old, text):
        return Imported(target, len(data["units"]), len(data["groups"]), changed=False)
    write_atomically(target, text.encode("utf-8"), durable=True)
    return Imported(target, len(data["units"]), len(data["groups"]), changed=True)


def _split(line: str) -> tuple[str, str, str]:
    """A problem line "file, sheet 'X', row 5, column 'Y': message" as a Problem (file, field, message)."""
    where, _sep, message = line.partition(": ")
    return where, "", message


def _same(old: str, new: str) -> bool:
    try:
        return bool(yaml.safe_load(old) == yaml.safe_load(new))
    except yaml.YAMLError:
        return False


def _header_comment(path: Path) -> str:
    """The comment block the file starts with (kept as the văn thư or a colleague wrote it)."""
    if not path.is_file():
        return "# Recipient units, written by `congvan units import`.\n\n"
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or (not line.strip() and lines):
            lines.append(line)
            if not line.strip():
                break
        else:
            break
    text = "\n".join(lines).rstrip("\n")
    return text + "\n\n" if text else ""


def _quoted(value: str) -> str:
    """A YAML double-quoted scalar (always quoted: names such as "Ea H'leo" or "Sở TN & MT" read back as written)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scalar(value: str) -> str:
    """Plain when YAML reads it back as the same string, else double-quoted."""
    try:
        plain_ok = yaml.safe_load(value) == value and "#" not in value and ": " not in value and value == value.strip()
    except yaml.YAMLError:
        plain_ok = False
    return value if plain_ok and value else _quoted(value)


def units_yaml(data: dict[str, Any]) -> str:
    """``units.yaml`` in the layout the sample uses: groups, then one block per unit."""
    out = ["groups:"]
    for key, group in data["groups"].items():
        out += [f"  {_scalar(key)}:", f"    label: {_quoted(group['label'])}"]
    out += ["", "units:"]
    for unit in data["units"]:
        out.append(f"  - code: {_scalar(unit['code'])}")
        out.append(f"    name: {_quoted(unit['name'])}")
        out.append(f"    group: {_scalar(unit['group'])}")
        out.append(f"    email: {_scalar(unit['email'])}")
        if unit.get("fallback_email"):
            out.append(f"    fallback_email: {_scalar(unit['fallback_email'])}")
        head = unit["head"]
        out += ["    head:", f"      name: {_quoted(head['name'])}", f"      title: {_quoted(head['title'])}",
                f"      email: {_scalar(head['email'])}"]
    return "\n".join(out) + "\n"


