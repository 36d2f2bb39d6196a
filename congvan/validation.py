"""`congvan validate`: check a whole campaign before anything leaves, and report every problem."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from congvan.config import LadderStep, LoadedCampaign, load_campaign
from congvan.documents import dispatch_context, template_path
from congvan.errors import ConfigError, Problem, SourceDataError, TemplateError
from congvan.i18n import _
from congvan.mail_bodies import check_bodies, missing_bodies
from congvan.render import load_template


@dataclass(frozen=True)
class Validated:
    campaign: LoadedCampaign
    template: Path
    fields: frozenset[str]
    warnings: tuple[str, ...] = ()  # what will not stop a run but is probably not meant (shown by `validate`)

    def summary(self) -> str:
        lc = self.campaign
        text = _("{campaign}: OK: {units} units to address ({entries} 'Kính gửi' entries), signed by {signer} "
                 "({lines}), template {template} ({fields} fields)").format(
            campaign=lc.name, units=len(lc.addressees), entries=len(lc.kinh_gui), signer=lc.signer.name,
            lines=" / ".join(lc.signer.lines), template=self.template.name, fields=len(self.fields))
        follow_up = lc.campaign.follow_up
        if follow_up is not None:
            steps = ", ".join(f"{s.name} ({s.offset:+d})" for s in follow_up.ladder)
            text += _("; follow-up: deadline {deadline}, roster {roster}, ladder {steps}").format(
                deadline=f"{follow_up.deadline:%d/%m/%Y}", roster=follow_up.roster, steps=steps)
        return text


def _needs_fields(template: Path | str, missing: set[str]) -> str:
    return _("{template} needs field(s) the config lacks: {fields} (add them under 'fields:')").format(
        template=template, fields=", ".join(sorted(missing)))


def validate_campaign(config_dir: Path, templates_dir: Path, name: str) -> Validated:
    """Load the campaign and check its template against it; ConfigError lists every problem."""
    lc = load_campaign(config_dir, name)
    # Values congvan computes itself win over 'fields:'; a field of the same name would be ignored.
    bare = replace(lc, campaign=lc.campaign.model_copy(update={"fields": {}}))
    reserved = sorted(set(lc.campaign.fields) & set(dispatch_context(bare)))
    if reserved:
        raise ConfigError([Problem(str(lc.path), f"fields.{key}",
                                   _("{key!r} is set by congvan itself; a value here would be ignored (rename the "
                                     "field here and in the template)").format(key=key)) for key in reserved])
    path = template_path(templates_dir, lc)
    try:
        template = load_template(path)
    except TemplateError as exc:
        raise ConfigError([Problem(str(lc.path), "template", str(exc))]) from None
    missing = template.missing(dispatch_context(lc))
    if missing:
        raise ConfigError([Problem(str(lc.path), "fields", _needs_fields(path, missing))])
    problems: list[Problem] = []
    try:  # render once in memory: a template that fails or reaches for Python's internals stops here
        template.render_bytes(dispatch_context(lc))
    except TemplateError as exc:
        problems.append(Problem(str(lc.path), "template", str(exc)))
    problems += _mail_template_problems(templates_dir, lc)
    problems += _signer_problems(lc)
    warnings: list[str] = []
    problems += _follow_up_problems(config_dir, templates_dir, lc, warnings)
    problems += _shared_path_problems(config_dir, lc, warnings)
    warnings += _wrap_warnings(templates_dir, lc, path)
    if problems:
        raise ConfigError(problems)
    return Validated(campaign=lc, template=path, fields=template.fields, warnings=tuple(warnings))


def _signer_problems(lc: LoadedCampaign) -> list[Problem]:
    """The signer lines of every letter the campaign issues, by the checker's own S1–S3 (the words only: the
    template supplies the formatting): "KT CHỦ TỊCH" without its dot fails here, not at the dispatch."""
    from congvan.nd30.rules import signer_text_problems

    used = {lc.campaign.signer: "signer"}
    for step in lc.campaign.follow_up.ladder if lc.campaign.follow_up else []:
        if step.kind != "mail" and step.signer is not None:
            used.setdefault(step.signer, f"follow_up.ladder '{step.name}'.signer")
    problems = []
    for key, field in used.items():
        signer = lc.authority.signers.get(key)
        if signer is None:
            continue  # an unknown signer is reported on its own
        for v in signer_text_problems(list(signer.lines), signer.name):
            message = (f"signer {key!r} of {lc.authority_key} (authorities.yaml) breaks Decree 30: {v.rule} "
                       f"{v.text!r}: expected {v.expected}")
            problems.append(Problem(str(lc.path), field, message))
    return problems


def _shared_path_problems(config_dir: Path, lc: LoadedCampaign, warnings: list[str]) -> list[Problem]:
    """Another campaign's roster or responses folder: a copied campaign still pointing at the old one's files.
    A shared responses folder is an error (one survey's exports would count for the other); a shared roster
    is a warning (the same officials may be asked twice, on purpose)."""
    import yaml

    from congvan.config import list_campaigns

    follow_up = lc.campaign.follow_up
    if follow_up is None:
        return []
    mine = {"roster": (config_dir / follow_up.roster).resolve(),
            "responses": (config_dir / follow_up.responses).resolve() if follow_up.responses else None}
    problems: list[Problem] = []
    for other in list_campaigns(config_dir):
        if other == lc.name:
            continue
        try:
            data = yaml.safe_load((config_dir / "campaigns" / f"{other}.yaml").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        theirs = data.get("follow_up") if isinstance(data, dict) else None
        if not isinstance(theirs, dict):
            continue
        for key in ("roster", "responses"):
            value = theirs.get(key)
            if not isinstance(value, str) or mine[key] is None or (config_dir / value).resolve() != mine[key]:
                continue
            text = _("{value} is also the {key} of campaign {other}: give this campaign its own "
                     "(congvan new NAME --from {other} makes one)").format(value=value, key=key, other=other)
            if key == "responses":
                problems.append(Problem(str(lc.path), "follow_up.responses", text))
            else:
                warnings.append(f"{lc.path}: follow_up.roster: {text}")
    return problems


def _wrap_warnings(templates_dir: Path, lc: LoadedCampaign, dispatch_template: Path) -> list[str]:
    """Summary lines wider than the header cell of the template that prints them (``congvan.wrap``)."""
    from congvan.wrap import overlong_lines

    found: list[tuple[str, Path, list[str]]] = [("summary", dispatch_template, list(lc.campaign.summary))]
    for step in lc.campaign.follow_up.ladder if lc.campaign.follow_up else []:
        if step.kind == "letter" and step.summary:
            found.append((f"follow_up.ladder '{step.name}'.summary", templates_dir / step.template, list(step.summary)))
    warnings = []
    for field, template, lines in found:
        for i, printed, width, room in overlong_lines(template, lines):
            warnings.append(_("{file}: {field} line {line}: {printed!r} is about {width:.0f} mm wide at the size of "
                              "{template}, its header cell holds {room:.0f} mm: Word will wrap it; split it into "
                              "shorter lines").format(file=lc.path, field=field, line=i + 1, printed=printed,
                                                      width=width, template=template.name, room=room))
    return warnings


def _mail_template_problems(templates_dir: Path, lc: LoadedCampaign) -> list[Problem]:
    """The mail bodies this campaign will use, loaded (and so checked) before anything is numbered."""
    covering = lc.campaign.mail_templates
    names = {covering.dispatch: "mail_templates.dispatch"}
    for i, step in enumerate(lc.campaign.follow_up.ladder if lc.campaign.follow_up else []):
        key = {"letter": covering.letter, "report": covering.report}.get(step.kind, step.template)
        field = f"mail_templates.{step.kind}" if step.kind != "mail" else f"follow_up.ladder[{i}].template"
        names.setdefault(key, field)
    problems = []
    for name, field in names.items():
        missing = missing_bodies(templates_dir, name)
        if missing and field.startswith("mail_templates."):
            problems += [Problem(str(lc.path), field, _("mail template not found: {file}").format(file=m))
                         for m in missing]
        if missing:
            continue  # a step's missing template is reported with the step
        try:
            check_bodies(templates_dir, name)
        except TemplateError as exc:
            problems.append(Problem(str(lc.path), field, str(exc)))
    return problems


def _letter_field_problems(templates_dir: Path, lc: LoadedCampaign, step: LadderStep, where: str) -> list[Problem]:
    """Fields a letter template uses that neither congvan nor the campaign's ``fields:`` provide."""
    from congvan.compliance import UnitCompliance
    from congvan.letters import Citation, letter_context

    follow_up = lc.campaign.follow_up
    assert follow_up is not None
    if step.signer is not None and step.signer not in lc.authority.signers:
        return []  # reported on its own
    try:
        template = load_template(templates_dir / step.template)
    except TemplateError as exc:
        return [Problem(str(lc.path), f"{where}.template", str(exc))]
    unit = lc.addressees[0].unit if lc.addressees else lc.units[0]
    sample = letter_context(lc, step, unit, UnitCompliance(unit.code, unit.name, 1, 0, (), follow_up.threshold),
                            dispatch=Citation("01/" + lc.symbol, follow_up.deadline), previous=None,
                            allocation=None, as_of=follow_up.deadline, new_deadline=follow_up.deadline)
    missing = template.missing(sample)
    if not missing:
        return []
    return [Problem(str(lc.path), f"{where}.template", _needs_fields(step.template, missing))]


def _follow_up_problems(config_dir: Path, templates_dir: Path, lc: LoadedCampaign,
                        warnings: list[str] | None = None) -> list[Problem]:
    """The ladder's templates and signers, and the roster file, checked before the first mail leaves."""
    follow_up = lc.campaign.follow_up
    if follow_up is None:
        return []
    from congvan import roster

    shown = str(lc.path)
    problems: list[Problem] = []
    for i, step in enumerate(follow_up.ladder):
        where = f"follow_up.ladder[{i}]"
        if step.kind == "mail":
            problems += [Problem(shown, f"{where}.template", _("mail template not found: {file}").format(file=missing))
                         for missing in missing_bodies(templates_dir, step.template)]
        elif not (templates_dir / step.template).is_file() or not step.template.endswith(".docx"):
            problems.append(Problem(shown, f"{where}.template", _("{template!r} is not a .docx template in {folder}")
                                    .format(template=step.template, folder=templates_dir)))
        elif step.kind == "letter":
            problems += _letter_field_problems(templates_dir, lc, step, where)
        if step.signer is not None and step.signer not in lc.authority.signers:
            problems.append(Problem(shown, f"{where}.signer", _("unknown signer {signer!r} of {authority} (known: "
                                                                "{known})").format(
                signer=step.signer, authority=lc.authority_key, known=", ".join(sorted(lc.authority.signers)))))
        if step.kind == "report" and step.to != "leadership":
            problems.append(Problem(shown, f"{where}.to", _("a report goes to leadership")))
        if step.kind != "report" and step.to == "leadership":
            problems.append(Problem(shown, f"{where}.to", _("only a report step goes to leadership")))
    if any(s.kind == "report" for s in follow_up.ladder) and not follow_up.leadership:
        problems.append(Problem(shown, "follow_up.leadership",
                                _("the ladder has a report step but nobody to send it to")))
    path = roster.roster_path(config_dir, lc)
    if not path.is_file():
        problems.append(Problem(shown, "follow_up.roster", _("file not found: {path}").format(path=path)))
    else:
        try:
            parsed = roster.read_roster(lc, path)
        except SourceDataError as exc:
            problems.append(Problem(shown, "follow_up.roster", str(exc)))
        else:
            if parsed.rows == 0:
                from congvan.scaffold import roster_is_empty_problem

                problems.append(roster_is_empty_problem(lc, path))
            else:
                problems += [Problem(str(path), "", line) for line in parsed.errors]
                if warnings is not None:
                    warnings += parsed.warnings
    folder = roster.responses_dir(config_dir, lc)
    if folder is not None and not folder.is_dir():
        problems.append(Problem(shown, "follow_up.responses", _(
            "folder not found: {folder} (create it and save the survey's exports there, or remove "
            "follow_up.responses)").format(folder=folder)))
    return problems
