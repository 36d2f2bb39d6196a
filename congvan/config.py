"""The configuration a coordinator writes: authorities, units, campaigns (YAML under ``config/``).

Loading validates everything it can and reports *every* problem at once, each naming its file and
field, so a coordinator fixes a campaign in one pass instead of one error per run.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from congvan.errors import ConfigError, Problem
from congvan.text import clean, has_header_break

# --- value types ---------------------------------------------------------------------------------


def _text(value: Any) -> Any:
    return clean(value).strip() if isinstance(value, str) else value


def _header_safe(value: str) -> str:
    if has_header_break(value):
        raise ValueError("contains a line break (CR/LF); it would end up in a mail header")
    return value


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


def check_address(value: str) -> str:
    """A plain addr-spec (local@domain.tld); display names live in their own fields."""
    _header_safe(value)
    local, at, domain = value.rpartition("@")
    if not at or not local:
        raise ValueError(f"{value!r} is not a mail address (expected name@domain)")
    if not _LOCAL.match(local) or len(local) > 64:
        raise ValueError(f"{value!r} is not a valid mail address (bad characters before '@')")
    if not _DOMAIN.match(domain):
        raise ValueError(f"{value!r} is not a valid mail address (bad or incomplete domain {domain!r})")
    return value


_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def _code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError(f"{value!r} is not a valid code (letters, digits, '-' or '_', at most 32)")
    return value


def _strip_list_marks(value: Any) -> Any:
    """'- Như trên;' → 'Như trên': the template adds the dash and the closing punctuation."""
    if isinstance(value, str):
        value = _text(value)
        value = re.sub(r"^[-–—]\s*", "", value)
        value = re.sub(r"\s*[;.]$", "", value)
    return value


def _strip_luu(value: Any) -> Any:
    value = _strip_list_marks(value)
    if isinstance(value, str):
        value = re.sub(r"^Lưu\s*:\s*", "", value)
    return value


def _starts_with_vt(value: str) -> str:
    if not re.match(r"^VT\b", value):
        raise ValueError(f"{value!r} must start with 'VT' (the Văn thư keeps the first copy)")
    return value


Text = Annotated[str, BeforeValidator(_text), AfterValidator(_non_empty)]
HeaderText = Annotated[str, BeforeValidator(_text), AfterValidator(_non_empty), AfterValidator(_header_safe)]
Address = Annotated[str, BeforeValidator(_text), AfterValidator(check_address)]
Code = Annotated[str, BeforeValidator(_text), AfterValidator(_code)]
ListItem = Annotated[str, BeforeValidator(_strip_list_marks), AfterValidator(_non_empty)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- authorities.yaml ----------------------------------------------------------------------------


class Signer(_Model):
    name: HeaderText
    lines: list[Text] = Field(min_length=1)


class Authority(_Model):
    name: HeaderText
    header: list[Text] = Field(min_length=1)
    parent: Text | None = None
    abbreviation: Code
    place: Text
    drafting_unit: Code
    email: Address
    signers: dict[str, Signer] = Field(min_length=1)


class AuthoritiesFile(_Model):
    authorities: dict[str, Authority] = Field(min_length=1)


# --- units.yaml ----------------------------------------------------------------------------------


class Group(_Model):
    label: Text


class Head(_Model):
    name: HeaderText
    title: HeaderText
    email: Address


class Unit(_Model):
    code: Code
    name: HeaderText
    group: str
    email: Address
    head: Head


class UnitsFile(_Model):
    groups: dict[str, Group] = Field(default_factory=dict)
    units: list[Unit] = Field(min_length=1)


# --- campaigns/NAME.yaml -------------------------------------------------------------------------


class RecipientRef(_Model):
    """One "Kính gửi" entry: a unit, a group of units, or a named body (with an optional address)."""

    unit: str | None = None
    group: str | None = None
    name: HeaderText | None = None
    email: Address | None = None

    def kind(self) -> str:
        given = [k for k in ("unit", "group", "name") if getattr(self, k) is not None]
        return given[0] if len(given) == 1 else ""


_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _summary_lines(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Campaign(_Model):
    title: Text
    authority: str
    signer: str
    template: str = "cong_van.docx"
    drafting_unit: Code | None = None
    date: dt.date | None = None
    summary: Annotated[list[HeaderText], BeforeValidator(_summary_lines)] = Field(min_length=1)
    kinh_gui: list[RecipientRef] = Field(min_length=1)
    body: list[Text] = Field(min_length=1)
    noi_nhan: list[ListItem] = Field(default_factory=list)
    luu: Annotated[str, BeforeValidator(_strip_luu), AfterValidator(_starts_with_vt)]
    fields: dict[str, Text] = Field(default_factory=dict)

    @property
    def subject(self) -> str:
        """The summary on one line: "V/v …" as a mail subject."""
        return "V/v " + " ".join(self.summary)


M = TypeVar("M", bound=BaseModel)


# --- loading -------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; a lost unit must be an error."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _read_yaml(path: Path, shown: str, problems: list[Problem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(shown, "", "file not found"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(shown, "", f"cannot be read: {exc}"))
        return None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark else ""
        problems.append(Problem(shown, where, f"{exc.problem or exc}".strip()))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(shown, "", str(exc)))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(shown, "", "expected a mapping of fields at the top level"))
        return None
    return data


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _parse(model: type[M], data: Any, shown: str, problems: list[Problem]) -> M | None:
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(Problem(shown, _loc(tuple(err["loc"])), msg))
        return None


@dataclass(frozen=True)
class Addressee:
    """A unit the dispatch goes to, and the "Kính gửi" entry that brought it in."""

    unit: Unit
    via: str


@dataclass(frozen=True)
class LoadedCampaign:
    """A campaign with everything it refers to resolved."""

    name: str
    path: Path
    campaign: Campaign
    authority_key: str
    authority: Authority
    signer: Signer
    units: tuple[Unit, ...]
    groups: dict[str, Group]
    kinh_gui: tuple[str, ...]  # the lines printed after "Kính gửi:"
    addressees: tuple[Addressee, ...]  # units that receive the dispatch, each once
    extra_recipients: tuple[RecipientRef, ...]  # named bodies with their own address

    @property
    def drafting_unit(self) -> str:
        return self.campaign.drafting_unit or self.authority.drafting_unit

    @property
    def symbol(self) -> str:
        """The ký hiệu of a công văn: issuer-drafting unit, e.g. 'UBND-KSTTHC'."""
        return f"{self.authority.abbreviation}-{self.drafting_unit}"

    def units_in(self, group: str) -> Iterator[Unit]:
        return (u for u in self.units if u.group == group)


_CAMPAIGN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def campaign_path(config_dir: Path, name: str) -> Path:
    if not _CAMPAIGN_NAME.match(name) or ".." in name:
        raise ConfigError([Problem(name, "", "not a campaign name (a file stem under config/campaigns/)")])
    return config_dir / "campaigns" / f"{name}.yaml"


def list_campaigns(config_dir: Path) -> list[str]:
    return sorted(p.stem for p in (config_dir / "campaigns").glob("*.yaml"))


def load_campaign(config_dir: Path, name: str) -> LoadedCampaign:
    """Load and cross-check a campaign; raise ConfigError listing every problem found."""
    problems: list[Problem] = []
    path = campaign_path(config_dir, name)
    shown_auth = str(config_dir / "authorities.yaml")
    shown_units = str(config_dir / "units.yaml")
    shown_camp = str(path)

    auths = _parse(AuthoritiesFile, _read_yaml(config_dir / "authorities.yaml", shown_auth, problems),
                   shown_auth, problems)
    units_file = _parse(UnitsFile, _read_yaml(config_dir / "units.yaml", shown_units, problems),
                        shown_units, problems)
    camp = _parse(Campaign, _read_yaml(path, shown_camp, problems), shown_camp, problems)

    if units_file is not None:
        problems.extend(_check_units(units_file, shown_units))
    if camp is None:
        raise ConfigError(problems)

    authority = signer = None
    if auths is not None:
        authority = auths.authorities.get(camp.authority)
        if authority is None:
            known = ", ".join(sorted(auths.authorities))
            problems.append(Problem(shown_camp, "authority",
                                    f"unknown authority {camp.authority!r} (known: {known})"))
        else:
            signer = authority.signers.get(camp.signer)
            if signer is None:
                known = ", ".join(sorted(authority.signers))
                problems.append(Problem(shown_camp, "signer",
                                        f"unknown signer {camp.signer!r} of {camp.authority} (known: {known})"))

    kinh_gui: list[str] = []
    addressees: list[Addressee] = []
    extra: list[RecipientRef] = []
    if units_file is not None:
        by_code = {u.code.upper(): u for u in units_file.units}
        taken: set[str] = set()
        for i, ref in enumerate(camp.kinh_gui):
            field = f"kinh_gui[{i}]"
            kind = ref.kind()
            if not kind:
                problems.append(Problem(shown_camp, field, "give exactly one of unit, group or name"))
            elif kind == "unit":
                unit = by_code.get(str(ref.unit).upper())
                if unit is None:
                    problems.append(Problem(shown_camp, f"{field}.unit", f"unknown unit {ref.unit!r}"))
                    continue
                kinh_gui.append(unit.name)
                if unit.code not in taken:
                    taken.add(unit.code)
                    addressees.append(Addressee(unit, via=unit.name))
            elif kind == "group":
                group = units_file.groups.get(str(ref.group))
                if group is None:
                    known = ", ".join(sorted(units_file.groups))
                    problems.append(Problem(shown_camp, f"{field}.group",
                                            f"unknown group {ref.group!r} (known: {known})"))
                    continue
                members = [u for u in units_file.units if u.group == ref.group]
                if not members:
                    problems.append(Problem(shown_camp, f"{field}.group",
                                            f"group {ref.group!r} has no units in {shown_units}"))
                kinh_gui.append(group.label)
                for unit in members:
                    if unit.code not in taken:
                        taken.add(unit.code)
                        addressees.append(Addressee(unit, via=group.label))
            else:
                kinh_gui.append(str(ref.name))
                if ref.email:
                    extra.append(ref)

    for key in camp.fields:
        if not _FIELD_NAME.match(key):
            problems.append(Problem(shown_camp, f"fields.{key}",
                                    "field names are lowercase ASCII letters, digits and '_'"))

    if problems:
        raise ConfigError(problems)
    assert authority is not None and signer is not None and units_file is not None
    return LoadedCampaign(
        name=name, path=path, campaign=camp, authority_key=camp.authority, authority=authority,
        signer=signer, units=tuple(units_file.units), groups=dict(units_file.groups),
        kinh_gui=tuple(kinh_gui), addressees=tuple(addressees), extra_recipients=tuple(extra),
    )


def _check_units(units_file: UnitsFile, shown: str) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    for i, unit in enumerate(units_file.units):
        key = unit.code.upper()
        if key in first_seen:
            problems.append(Problem(shown, f"units[{i}].code",
                                    f"duplicate unit code {unit.code!r} (also units[{first_seen[key]}])"))
        else:
            first_seen[key] = i
        if unit.group not in units_file.groups:
            known = ", ".join(sorted(units_file.groups))
            problems.append(Problem(shown, f"units[{i}].group", f"unknown group {unit.group!r} (known: {known})"))
    return problems
