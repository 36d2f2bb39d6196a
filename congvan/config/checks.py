"""Cross-checks between the files of ``config/``, on the data as read, so a file with other problems is still
checked: the campaign's authority, signer, units and groups; groups and unit codes of ``units.yaml``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from congvan.config.values import _text
from congvan.errors import Problem, human_field
from congvan.i18n import _
from congvan.text import one_line

_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _key(value: Any) -> str | None:
    return _text(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class _Roster:
    """What units.yaml says about groups and unit codes, read leniently. None: unreadable."""

    groups: frozenset[str] | None
    units: tuple[tuple[int, str | None, str | None], ...] | None  # (index, code, group)

    @classmethod
    def read(cls, data: Any) -> _Roster:
        if not isinstance(data, dict):
            return cls(None, None)
        raw_groups, raw_units = data.get("groups", {}), data.get("units")
        groups = frozenset(k for k in raw_groups if isinstance(k, str)) if isinstance(raw_groups, dict) else None
        units = None
        if isinstance(raw_units, list):
            units = tuple((i, _key(u.get("code")), _key(u.get("group")))
                          for i, u in enumerate(raw_units) if isinstance(u, dict))
        return cls(groups, units)

    def codes(self) -> set[str] | None:
        return None if self.units is None else {code.upper() for _unit, code, _group in self.units if code}

    def members(self, group: str) -> int:
        return sum(1 for _unit, _code, g in self.units or () if g == group)

    def problems(self, shown: str) -> list[Problem]:
        problems: list[Problem] = []
        if self.units is None:
            return problems
        first_seen: dict[str, int] = {}
        for i, code, group in self.units:
            if code:
                key = code.upper()
                if key in first_seen:
                    problems.append(Problem(shown, f"units[{i}].code", _(
                        "duplicate unit code {code!r} (also {other}; codes are compared ignoring case)").format(
                        code=code, other=human_field(f"units[{first_seen[key]}]"))))
                else:
                    first_seen[key] = i
            if group and self.groups is not None and group not in self.groups:
                problems.append(Problem(shown, f"units[{i}].group", _("unknown group {group!r} (known: {known})")
                                        .format(group=group, known=_known(self.groups))))
        for group in sorted(self.groups or ()):
            if not self.members(group):
                problems.append(Problem(shown, f"groups.{one_line(group)}", _("no unit belongs to this group")))
        return problems


def _known(keys: Any) -> str:
    return ", ".join(one_line(str(k)) for k in sorted(keys, key=str)) or _("none")


def _check_references(camp: dict[str, Any], auths: Any, roster: _Roster, shown: str,
                      shown_units: str) -> list[Problem]:
    problems: list[Problem] = []
    authority, signer = _key(camp.get("authority")), _key(camp.get("signer"))
    all_auths = auths.get("authorities") if isinstance(auths, dict) else None
    if authority and isinstance(all_auths, dict):
        if authority not in all_auths:
            problems.append(Problem(shown, "authority", _("unknown authority {authority!r} (known: {known})").format(
                authority=authority, known=_known(all_auths))))
        else:
            signers = all_auths[authority].get("signers") if isinstance(all_auths[authority], dict) else None
            if signer and isinstance(signers, dict) and signer not in signers:
                problems.append(Problem(shown, "signer", _("unknown signer {signer!r} of {authority} (known: {known})")
                                        .format(signer=signer, authority=authority, known=_known(signers))))

    refs = camp.get("kinh_gui")
    codes = roster.codes()
    for i, ref in enumerate(refs if isinstance(refs, list) else []):
        if not isinstance(ref, dict):
            continue
        unit, group = _key(ref.get("unit")), _key(ref.get("group"))
        if unit and codes is not None and unit.upper() not in codes:
            problems.append(Problem(shown, f"kinh_gui[{i}].unit", _("unknown unit {unit!r} (not in {file})").format(
                unit=unit, file=shown_units)))
        if group and roster.groups is not None:
            if group not in roster.groups:
                problems.append(Problem(shown, f"kinh_gui[{i}].group", _("unknown group {group!r} (known: {known})")
                                        .format(group=group, known=_known(roster.groups))))
            elif roster.units is not None and not roster.members(group):
                problems.append(Problem(shown, f"kinh_gui[{i}].group", _("group {group!r} has no units in {file}")
                                        .format(group=group, file=shown_units)))

    fields = camp.get("fields")
    for key in fields if isinstance(fields, dict) else ():
        if not isinstance(key, str) or not _FIELD_NAME.fullmatch(key):
            problems.append(Problem(shown, f"fields.{one_line(str(key))}",
                                    _("field names are lowercase ASCII letters, digits and '_'")))
    return problems
