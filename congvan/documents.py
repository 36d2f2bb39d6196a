"""The dispatch as a document: its template context, draft or issued, and where it is written."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from congvan.config import LoadedCampaign
from congvan.errors import ConfigError, Problem
from congvan.i18n import _
from congvan.vndate import draft_date, long_date

if TYPE_CHECKING:  # the register's SQLAlchemy stays out of `validate` and `render --draft`
    from congvan.register import Allocation

# A draft leaves the number for the Văn thư to write in: "Số:       /UBND-KSTTHC".
DRAFT_NUMBER_GAP = "      "


def heading(lc: LoadedCampaign, *, symbol: str, allocation: Allocation | None, planned: dt.date) -> dict[str, Any]:
    """The header block every letter shares: issuer, number and symbol, place and date. Without an
    allocation it is a draft: the number and the day are left for the Văn thư to write in."""
    auth = lc.authority
    if allocation is None:
        so, ky_hieu, ngay_thang = DRAFT_NUMBER_GAP, symbol, draft_date(planned)
    else:
        so, ky_hieu, ngay_thang = allocation.number_text, allocation.symbol, long_date(allocation.issued_on)
    return {"co_quan": auth.name, "co_quan_chu_quan": auth.parent or "", "co_quan_ban_hanh": list(auth.header),
            "so": so, "ky_hieu": ky_hieu, "dia_danh": auth.place, "ngay_thang": ngay_thang}


def dispatch_context(lc: LoadedCampaign, *, allocation: Allocation | None = None,
                     planned: dt.date | None = None) -> dict[str, Any]:
    """What cong_van.docx needs. Without an allocation the letter is a draft."""
    camp = lc.campaign
    context: dict[str, Any] = dict(camp.fields)
    context.update(heading(lc, symbol=lc.symbol, allocation=allocation,
                           planned=camp.date or planned or dt.date.today()))
    context.update(
        trich_yeu="\n".join(camp.summary),
        tieu_de=camp.subject,
        kinh_gui=list(lc.kinh_gui),
        noi_dung=list(camp.body),
        noi_nhan=list(camp.noi_nhan),
        luu=camp.luu,
        tham_quyen=list(lc.signer.lines),
        nguoi_ky=lc.signer.name,
    )
    return context


def template_path(templates_dir: Path, lc: LoadedCampaign) -> Path:
    name = lc.campaign.template
    if "/" in name or "\\" in name or name.startswith(".") or not name.endswith(".docx"):
        raise ConfigError([Problem(str(lc.path), "template",
                                   _("{name!r} must be a .docx file name inside the templates folder").format(
                                       name=name))])
    return templates_dir / name


def dispatch_filename(lc: LoadedCampaign, allocation: Allocation | None) -> str:
    if allocation is None:
        return f"{lc.name}_du-thao.docx"
    safe_symbol = re.sub(r"[^A-Za-z0-9-]", "_", allocation.symbol)
    return f"{lc.name}_{allocation.number_text}-{safe_symbol}_{allocation.year}.docx"


def render_dispatch(lc: LoadedCampaign, *, templates_dir: Path, out_dir: Path,
                    allocation: Allocation | None = None, planned: dt.date | None = None) -> Path:
    """Render the campaign's dispatch (a draft unless an allocation from the register is given)."""
    from congvan.render import load_template  # docxtpl and jinja: not for `status`, which needs dispatch_key

    template = load_template(template_path(templates_dir, lc))
    context = dispatch_context(lc, allocation=allocation, planned=planned)
    return template.render_to(context, out_dir / dispatch_filename(lc, allocation))


def dispatch_key(campaign: str) -> str:
    """The register's document key of a campaign's dispatch: a rerun reuses its number."""
    return f"{campaign}/dispatch"


DRY_RUN_FOLDER = "chay-thu"


def drafts_dir(output_dir: Path, campaign: str, *, dry_run: bool = False) -> Path:
    """Every draft of a campaign in one place: ``outputs/drafts/CAMPAIGN/`` (what waits for the signer, and the
    check before a number is taken), its ``chay-thu/`` for dry runs (never mistaken for what was submitted)."""
    folder = output_dir / "drafts" / campaign
    return folder / DRY_RUN_FOLDER if dry_run else folder
