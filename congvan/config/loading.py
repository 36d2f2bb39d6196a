"""Loading a campaign: its files read, parsed and cross-checked with every problem reported at once
(``ConfigError``), then resolved into a ``LoadedCampaign`` against its authority, signer, units and groups."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from congvan.config.checks import _check_references, _Roster
from congvan.config.messages import _parse
from congvan.config.models import (
    AuthoritiesFile,
    Authority,
    Campaign,
    FollowUp,
    Group,
    RecipientRef,
    Signer,
    Unit,
    UnitsFile,
)
from congvan.config.yaml_reader import _located, _read_yaml
from congvan.errors import ConfigError, Problem
from congvan.i18n import _
from congvan.text import one_line


@dataclass(frozen=True)
class Addressee:
    """A unit the dispatch goes to, and the "Kính gửi" entry that brought it in."""

    unit: Unit
    via: str


@dataclass(frozen=True)
class LoadedCampaign:
    """A campaign with everything it refers to resolved."""

    def require_follow_up(self) -> FollowUp:
        """The campaign's follow-up; ``ConfigError`` naming the file when it has none."""
        if self.campaign.follow_up is None:
            raise ConfigError([Problem(str(self.path), "follow_up", _(
                "the campaign has no follow_up section (deadline, roster, ladder): nothing to follow up"))])
        return self.campaign.follow_up

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
    if not _CAMPAIGN_NAME.fullmatch(name) or ".." in name:
        raise ConfigError([Problem(one_line(name), "", _("not a campaign name (a file stem under config/campaigns/)"))])
    return config_dir / "campaigns" / f"{name}.yaml"


def list_campaigns(config_dir: Path) -> list[str]:
    return sorted(p.stem for p in (config_dir / "campaigns").glob("*.yaml"))


def load_authorities(config_dir: Path) -> dict[str, Authority]:
    """The issuing authorities of ``authorities.yaml``; ConfigError listing every problem."""
    problems: list[Problem] = []
    shown = str(config_dir / "authorities.yaml")
    parsed = _parse(AuthoritiesFile, _read_yaml(config_dir / "authorities.yaml", shown, problems), shown, problems)
    if problems or parsed is None:
        raise ConfigError(_located(problems))
    return dict(parsed.authorities)


def load_campaign(config_dir: Path, name: str) -> LoadedCampaign:
    """Load and cross-check a campaign; raise ConfigError listing every problem found.

    References between the files (authority, signer, groups, units) are checked on what the files
    say even when a file has other problems, so one run reports them all.
    """
    problems: list[Problem] = []
    path = campaign_path(config_dir, name)
    shown_auth = str(config_dir / "authorities.yaml")
    shown_units = str(config_dir / "units.yaml")
    shown_camp = str(path)

    auth_data = _read_yaml(config_dir / "authorities.yaml", shown_auth, problems)
    units_data = _read_yaml(config_dir / "units.yaml", shown_units, problems)
    if not path.exists():
        known = ", ".join(list_campaigns(config_dir)) or _("none")
        problems.append(Problem(shown_camp, "", _("file not found: no campaign {name!r} (known: {known})").format(
            name=name, known=known)))
        camp_data = None
    else:
        camp_data = _read_yaml(path, shown_camp, problems)

    auths = _parse(AuthoritiesFile, auth_data, shown_auth, problems)
    units_file = _parse(UnitsFile, units_data, shown_units, problems)
    camp = _parse(Campaign, camp_data, shown_camp, problems)

    roster = _Roster.read(units_data)
    problems.extend(roster.problems(shown_units))
    if camp_data is not None:
        problems.extend(_check_references(camp_data, auth_data, roster, shown_camp, shown_units))

    if problems:
        raise ConfigError(_located(problems))
    assert auths is not None and units_file is not None and camp is not None
    authority = auths.authorities[camp.authority]
    signer = authority.signers[camp.signer]

    kinh_gui: list[str] = []
    addressees: list[Addressee] = []
    extra: list[RecipientRef] = []
    by_code = {u.code.upper(): u for u in units_file.units}
    taken: set[str] = set()
    for ref in camp.kinh_gui:
        if ref.unit is not None:
            members = [by_code[ref.unit.upper()]]
            via = members[0].name
        elif ref.group is not None:
            members = [u for u in units_file.units if u.group == ref.group]
            via = units_file.groups[ref.group].label
        else:
            kinh_gui.append(str(ref.name))
            if ref.email:
                extra.append(ref)
            continue
        kinh_gui.append(via)
        for unit in members:
            if unit.code.upper() not in taken:
                taken.add(unit.code.upper())
                addressees.append(Addressee(unit, via=via))

    return LoadedCampaign(
        name=name, path=path, campaign=camp, authority_key=camp.authority, authority=authority,
        signer=signer, units=tuple(units_file.units), groups=dict(units_file.groups),
        kinh_gui=tuple(kinh_gui), addressees=tuple(addressees), extra_recipients=tuple(extra),
    )
