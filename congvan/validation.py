"""`congvan validate`: check a whole campaign before anything leaves, and report every problem."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from congvan.config import LoadedCampaign, load_campaign
from congvan.documents import dispatch_context, template_path
from congvan.errors import ConfigError, Problem, TemplateError
from congvan.render import load_template


@dataclass(frozen=True)
class Validated:
    campaign: LoadedCampaign
    template: Path
    fields: frozenset[str]

    def summary(self) -> str:
        lc = self.campaign
        return (f"{lc.name}: OK: {len(lc.addressees)} units to address ({len(lc.kinh_gui)} 'Kính gửi' "
                f"entries), signed by {lc.signer.name} ({' / '.join(lc.signer.lines)}), "
                f"template {self.template.name} ({len(self.fields)} fields)")


def validate_campaign(config_dir: Path, templates_dir: Path, name: str) -> Validated:
    """Load the campaign and check its template against it; ConfigError lists every problem."""
    lc = load_campaign(config_dir, name)
    # Values congvan computes itself win over 'fields:'; a field of the same name would be ignored.
    bare = replace(lc, campaign=lc.campaign.model_copy(update={"fields": {}}))
    reserved = sorted(set(lc.campaign.fields) & set(dispatch_context(bare)))
    if reserved:
        raise ConfigError([Problem(str(lc.path), f"fields.{key}",
                                   f"{key!r} is set by congvan itself; a value here would be ignored "
                                   "(rename the field here and in the template)") for key in reserved])
    path = template_path(templates_dir, lc)
    try:
        template = load_template(path)
    except TemplateError as exc:
        raise ConfigError([Problem(str(lc.path), "template", str(exc))]) from None
    missing = template.missing(dispatch_context(lc))
    if missing:
        raise ConfigError([Problem(str(lc.path), "fields",
                                f"{path} needs field(s) the config lacks: {', '.join(sorted(missing))} "
                                f"(add them under 'fields:')")])
    return Validated(campaign=lc, template=path, fields=template.fields)
