"""The follow-up letters and mails of the escalation ladder: who they go to and what they say.

A ``letter`` step is a numbered công văn from a .docx template (cong_van_don_doc.docx, …) addressed to
the unit's head ("Kính gửi: Giám đốc Sở …"), citing the dispatch ("Tiếp theo Công văn số …") and
listing the officials who have not answered; a ``mail`` step is a plain reminder from a mail template.
Both go out threaded under the dispatch the unit received (In-Reply-To/References).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from congvan.compliance import UnitCompliance
from congvan.config import LadderStep, LoadedCampaign, NamedAddress, Signer, Unit
from congvan.documents import heading
from congvan.errors import ConfigError, Problem
from congvan.i18n import _
from congvan.recipients import PlannedMessage, Recipient
from congvan.vndate import short_date

if TYPE_CHECKING:  # the register's SQLAlchemy stays out of `validate`
    from congvan.register import Allocation

DEFAULT_SUMMARY = {
    "letter": "đôn đốc thực hiện",
    "report": "báo cáo kết quả thực hiện",
}


@dataclass(frozen=True)
class Citation:
    """A letter cited in the text: "Công văn số 01/UBND-KSTTHC ngày 10/02/2023"."""

    so_ky_hieu: str
    issued_on: dt.date


def step_summary(lc: LoadedCampaign, step: LadderStep) -> list[str]:
    """The step's V/v lines: its own ``summary``, else a phrase plus the dispatch's summary."""
    if step.summary:
        return list(step.summary)
    return [f"{DEFAULT_SUMMARY.get(step.kind, 'nhắc')} {' '.join(lc.campaign.summary)}"]


def step_subject(lc: LoadedCampaign, step: LadderStep) -> str:
    return "V/v " + " ".join(step_summary(lc, step))


def signer_of(lc: LoadedCampaign, step: LadderStep) -> Signer:
    key = step.signer or lc.campaign.signer
    try:
        return lc.authority.signers[key]
    except KeyError:
        raise ConfigError([Problem(str(lc.path), f"follow_up.ladder.{step.name}.signer",
                                   _("unknown signer {signer!r} of {authority} (known: {known})").format(
                                       signer=key, authority=lc.authority_key,
                                       known=", ".join(sorted(lc.authority.signers))))]) from None


def unit_of(lc: LoadedCampaign, code: str) -> Unit:
    return next(u for u in lc.units if u.code == code)


def step_messages(lc: LoadedCampaign, step: LadderStep, unit: Unit | None) -> list[PlannedMessage]:
    """One message for the step: To the role it names, Cc the step's cc's (unit roles or named bodies)."""
    def role(name: str, kind: str) -> list[Recipient]:
        if name == "leadership":
            return [Recipient(p.name, p.email, kind) for p in lc.campaign.follow_up.leadership] \
                if lc.campaign.follow_up else []
        assert unit is not None, f"{name} needs a unit"
        if name == "head":
            return [Recipient(unit.head.name, unit.head.email, kind, unit.code)]
        return [Recipient(unit.name, unit.email, kind, unit.code)]  # mailbox

    to = role(step.to, "to")
    cc: list[Recipient] = []
    for entry in step.cc:
        if isinstance(entry, NamedAddress):
            cc.append(Recipient(entry.name, entry.email, "cc"))
        elif unit is not None:
            cc.extend(role(entry, "cc"))
    return [PlannedMessage(to=tuple(to), cc=tuple(cc))] if to else []


def noi_nhan(lc: LoadedCampaign, step: LadderStep, unit: Unit | None) -> list[str]:
    """"Như trên" and every copy, as they are named in the letter's "Nơi nhận"."""
    lines = ["Như trên"]
    for entry in step.cc:
        if isinstance(entry, NamedAddress):
            lines.append(entry.name)
        elif entry == "mailbox" and unit is not None and step.to != "mailbox":
            lines.append(f"Văn phòng {unit.name}" if not unit.name.startswith("Văn phòng") else unit.name)
        elif entry == "head" and unit is not None and step.to != "head":
            lines.append(unit.head.title)
    return lines


def letter_context(lc: LoadedCampaign, step: LadderStep, unit: Unit, compliance: UnitCompliance, *,
                   dispatch: Citation, previous: Citation | None, allocation: Allocation | None,
                   as_of: dt.date, new_deadline: dt.date) -> dict[str, Any]:
    """What cong_van_don_doc.docx / cong_van_giai_trinh.docx need. Without an allocation: a draft."""
    auth, follow_up, signer = lc.authority, lc.campaign.follow_up, signer_of(lc, step)
    assert follow_up is not None
    summary = step_summary(lc, step)
    # The campaign's own fields first, as for the dispatch: a template may use {{ han_chot }} and the like.
    return dict(lc.campaign.fields) | heading(lc, symbol=lc.symbol, allocation=allocation, planned=as_of) | {
        "trich_yeu": "\n".join(summary),
        "tieu_de": "V/v " + " ".join(summary),
        "kinh_gui": [unit.head.title],
        "noi_nhan": noi_nhan(lc, step, unit),
        "luu": f"VT, {lc.drafting_unit}",
        "tham_quyen": list(signer.lines),
        "nguoi_ky": signer.name,
        "cv_goc": dispatch.so_ky_hieu,
        "ngay_cv_goc": short_date(dispatch.issued_on),
        "co_quan_goc": auth.name,
        "trich_yeu_goc": " ".join(lc.campaign.summary),
        "cv_truoc": previous.so_ky_hieu if previous else "",
        "ngay_cv_truoc": short_date(previous.issued_on) if previous else "",
        "ngay_so_lieu": short_date(as_of),
        "don_vi": unit.name,
        "nguoi_dung_dau": unit.head.title,
        "so_chua": len(compliance.missing),
        "so_phai": compliance.required,
        "han_cu": short_date(follow_up.deadline),
        "han_moi": short_date(new_deadline),
        "danh_sach": [{"ten": o.name, "chuc_vu": o.position} for o in compliance.missing],
    }


def letter_filename(lc: LoadedCampaign, step: LadderStep, unit: str | None, allocation: Allocation | None) -> str:
    who = unit or "ALL"
    if allocation is None:
        return f"{lc.name}_{step.name}_{who}_du-thao.docx"
    symbol = re.sub(r"[^A-Za-z0-9-]", "_", allocation.symbol)
    return f"{lc.name}_{step.name}_{who}_{allocation.number_text}-{symbol}_{allocation.year}.docx"


def reminder_context(lc: LoadedCampaign, unit: Unit, compliance: UnitCompliance, *, dispatch: Citation,
                     as_of: dt.date, sender_email: str) -> dict[str, Any]:
    """What a plain reminder mail (templates/mail/STEP.txt|.html) is given."""
    follow_up = lc.campaign.follow_up
    assert follow_up is not None
    return {
        "recipient": unit.name,
        "authority": lc.authority.name,
        "cv_goc": dispatch.so_ky_hieu,
        "ngay_cv_goc": short_date(dispatch.issued_on),
        "trich_yeu_goc": " ".join(lc.campaign.summary),
        "han": short_date(follow_up.deadline),
        "ngay_so_lieu": short_date(as_of),
        "so_chua": len(compliance.missing),
        "so_phai": compliance.required,
        "danh_sach": [{"ten": o.name, "chuc_vu": o.position} for o in compliance.missing],
        "sender_email": sender_email,
    }


def letter_template(templates_dir: Path, lc: LoadedCampaign, step: LadderStep) -> Path:
    name = step.template
    if "/" in name or "\\" in name or name.startswith(".") or not name.endswith(".docx"):
        raise ConfigError([Problem(str(lc.path), f"follow_up.ladder.{step.name}.template",
                                   _("{name!r} must be a .docx file name inside the templates folder").format(
                                       name=name))])
    return templates_dir / name
