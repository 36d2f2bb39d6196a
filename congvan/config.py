"""The configuration a coordinator writes: authorities, units, campaigns (YAML under ``config/``).

Loading validates everything it can and reports *every* problem at once, each naming its file and
field, so a coordinator fixes a campaign in one pass instead of one error per run.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from congvan.errors import ConfigError, Problem, human_field
from congvan.i18n import N_, _, language
from congvan.text import clean, header_break, one_line

# --- value types ---------------------------------------------------------------------------------


def _text(value: Any) -> Any:
    return clean(value).strip() if isinstance(value, str) else value


def _header_safe(value: str) -> str:
    found = header_break(value)
    if found is not None:
        raise ValueError(_("contains a line break ({found}); it would end up in a mail header").format(found=found))
    return value


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError(_("must not be empty"))
    return value


_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


def check_address(value: str) -> str:
    """A plain addr-spec (local@domain.tld); display names live in their own fields."""
    _header_safe(value)
    local, at, domain = value.rpartition("@")
    if not at or not local:
        raise ValueError(_("{value!r} is not a mail address (expected name@domain)").format(value=value))
    if not _LOCAL.match(local) or len(local) > 64:
        raise ValueError(_("{value!r} is not a valid mail address (bad characters before '@')").format(value=value))
    if not _DOMAIN.match(domain):
        raise ValueError(_("{value!r} is not a valid mail address (bad or incomplete domain {domain!r})").format(
            value=value, domain=domain))
    return value


_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def _code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError(_("{value!r} is not a valid code (letters, digits, '-' or '_', at most 32)").format(
            value=value))
    return value


def _file_name(value: str) -> str:
    """A template named by a step is a file in the templates folder, never a path out of it."""
    if "/" in value or "\\" in value or value.startswith("."):
        raise ValueError(_("{value!r} must be a file name inside the templates folder (no folders, no leading '.')")
                         .format(value=value))
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
        raise ValueError(_("{value!r} must start with 'VT' (the Văn thư keeps the first copy)").format(value=value))
    return value


Text = Annotated[str, BeforeValidator(_text), AfterValidator(_non_empty)]
HeaderText = Annotated[str, BeforeValidator(_text), AfterValidator(_non_empty), AfterValidator(_header_safe)]
Address = Annotated[str, BeforeValidator(_text), AfterValidator(check_address)]
Code = Annotated[str, BeforeValidator(_text), AfterValidator(_code)]
FileName = Annotated[str, BeforeValidator(_text), AfterValidator(_non_empty), AfterValidator(_file_name)]
ListItem = Annotated[str, BeforeValidator(_strip_list_marks), AfterValidator(_non_empty)]
# A reference to a key defined elsewhere (a group, an authority, a signer, a unit code).
Ref = Annotated[str, BeforeValidator(_text), AfterValidator(_non_empty)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- authorities.yaml ----------------------------------------------------------------------------


class Signer(_Model):
    name: HeaderText = Field(description="Họ và tên người ký, in đậm dưới chữ ký.")
    lines: list[Text] = Field(min_length=1, description=(
        "Các dòng thẩm quyền ký và chức vụ in phía trên tên người ký, chữ in hoa, mỗi phần tử một dòng, ví dụ [KT. "
        "CHỦ TỊCH, PHÓ CHỦ TỊCH]; ký thay thì dòng đầu bắt đầu bằng TM., KT., TL., TUQ. hoặc Q. (có dấu chấm)."))


class Authority(_Model):
    name: HeaderText = Field(description="Tên đầy đủ của cơ quan ban hành; là tên người gửi của thư điện tử.")
    header: list[Text] = Field(min_length=1, description=(
        "Tên cơ quan ban hành in ở góc trên bên trái văn bản, mỗi phần tử một dòng (chữ in hoa, in đậm), ví dụ [ỦY "
        "BAN NHÂN DÂN, TỈNH ĐẮK LẮK]."))
    parent: Text | None = Field(default=None, description=(
        "Tên cơ quan chủ quản in phía trên tên cơ quan ban hành (không in đậm), nếu có, ví dụ UBND TỈNH ĐẮK LẮK."))
    abbreviation: Code = Field(description=(
        "Chữ viết tắt tên cơ quan trong ký hiệu văn bản, ví dụ UBND trong “Số: 01/UBND-KSTTHC”."))
    place: Text = Field(description="Địa danh ghi trước ngày tháng năm ban hành, ví dụ Đắk Lắk.")
    drafting_unit: Code = Field(description=(
        "Chữ viết tắt đơn vị soạn thảo trong ký hiệu văn bản, ví dụ KSTTHC; một chiến dịch có thể ghi đơn vị khác "
        "bằng drafting_unit của chiến dịch."))
    email: Address = Field(description=(
        "Địa chỉ thư điện tử của Văn thư cơ quan: địa chỉ gửi đi khi không đặt CONGVAN_SMTP_FROM."))
    signers: dict[str, Signer] = Field(min_length=1, description=(
        "Những người ký, mỗi người một khóa tự đặt (ví dụ chu-tich, pho-chu-tich); chiến dịch và các bước đôn đốc "
        "chọn người ký bằng khóa này."))
    books: dict[Literal["cong_van", "bao_cao"], Code] = Field(default_factory=dict, description=(
        "Sổ văn bản đi riêng theo loại văn bản, nếu cơ quan đăng ký công văn và báo cáo ở hai sổ khác nhau, ví dụ "
        "{bao_cao: ubnd-daklak-bc}: báo cáo được đánh số theo sổ ubnd-daklak-bc. Không ghi thì mọi văn bản của cơ "
        "quan dùng chung một sổ, mang tên khóa của cơ quan."))


class AuthoritiesFile(_Model):
    authorities: dict[str, Authority] = Field(min_length=1, description=(
        "Các cơ quan ban hành, mỗi cơ quan một khóa tự đặt (ví dụ ubnd-daklak); chiến dịch chọn cơ quan bằng khóa "
        "này."))


# --- units.yaml ----------------------------------------------------------------------------------


class Group(_Model):
    label: Text = Field(description="Tên nhóm in trên dòng “Kính gửi”, ví dụ “Các sở, ban, ngành”.")


class Head(_Model):
    name: HeaderText = Field(description=(
        "Họ và tên người đứng đầu đơn vị: tên người nhận của thư gửi công văn đôn đốc, giải trình."))
    title: HeaderText = Field(description=(
        "Chức danh người đứng đầu, ghi sau “Kính gửi:” trong công văn đôn đốc, giải trình, ví dụ Giám đốc Sở Tư "
        "pháp."))
    email: Address = Field(description="Địa chỉ thư điện tử của người đứng đầu: nơi nhận công văn đôn đốc, giải trình.")


class Unit(_Model):
    code: Code = Field(description=(
        "Mã đơn vị, không trùng nhau (không phân biệt chữ hoa, chữ thường); dùng trong kinh_gui của chiến dịch và "
        "trong cột “Đơn vị” của danh sách cán bộ."))
    name: HeaderText = Field(description=(
        "Tên đơn vị: in trên dòng “Kính gửi” khi chiến dịch gửi riêng đơn vị này, và là tên người nhận của thư gửi "
        "hộp thư chung."))
    group: Ref = Field(description="Khóa của nhóm (trong groups) mà đơn vị thuộc về.")
    email: Address = Field(description="Hộp thư chung (văn thư) của đơn vị: nơi nhận công văn và thư nhắc nhở.")
    head: Head = Field(description="Người đứng đầu đơn vị (Thủ trưởng, Chủ tịch UBND).")
    fallback_email: Address | None = Field(default=None, description=(
        "Địa chỉ dự phòng: khi công văn gửi hộp thư chung bị trả lại (bounce), công văn đó (cùng số) được gửi một "
        "lần tới địa chỉ này; không ghi thì gửi tới địa chỉ của người đứng đầu."))


class UnitsFile(_Model):
    groups: dict[str, Group] = Field(default_factory=dict, description=(
        "Các nhóm đơn vị, mỗi nhóm một khóa tự đặt (ví dụ so-ban-nganh); nhóm nào cũng phải có ít nhất một đơn vị."))
    units: list[Unit] = Field(min_length=1, description="Danh sách các đơn vị nhận văn bản.")


# --- campaigns/NAME.yaml -------------------------------------------------------------------------


class RecipientRef(_Model):
    """One "Kính gửi" entry: a unit, a group of units, or a named body (with an optional address)."""

    unit: Ref | None = Field(default=None, description=(
        "Mã một đơn vị trong units.yaml: in tên đơn vị và gửi thư cho đơn vị đó."))
    group: Ref | None = Field(default=None, description=(
        "Khóa một nhóm trong units.yaml: in tên nhóm và gửi thư cho từng đơn vị trong nhóm."))
    name: HeaderText | None = Field(default=None, description=(
        "Tên một cơ quan không có trong units.yaml, in đúng như viết."))
    email: Address | None = Field(default=None, description=(
        "Chỉ đi cùng name: địa chỉ để gửi thư cho cơ quan đó; không ghi thì chỉ in tên."))

    @model_validator(mode="after")
    def _one_kind(self) -> RecipientRef:
        given = [k for k in ("unit", "group", "name") if getattr(self, k) is not None]
        if len(given) != 1:
            got = _("got {fields}").format(fields=" and ".join(given)) if given else _("got none")
            raise ValueError(_("give exactly one of unit, group or name ({got})").format(got=got))
        if self.email is not None and self.name is None:
            raise ValueError(_("email is only for a named body (name:); a unit's address is in units.yaml"))
        return self


class NamedAddress(_Model):
    """Someone outside units.yaml who gets a copy: a name for the To line and an address."""

    name: HeaderText = Field(description=(
        "Tên cơ quan hoặc người nhận, hiện trên thư (và trong “Nơi nhận” của công văn đôn đốc, giải trình)."))
    email: Address = Field(description="Địa chỉ thư điện tử.")


# A Cc entry is a role of the unit or a named body. The discriminator makes pydantic report the problems
# of the kind given only (not "should be 'head' or 'mailbox'" beside a bad name); its tags, in "<>", are
# left out of the field path shown (``_loc``).
_ROLE, _NAMED = "<role>", "<named>"


def _cc_kind(value: Any) -> str:
    return _NAMED if isinstance(value, dict | NamedAddress) else _ROLE


CcEntry = Annotated[Annotated[Literal["head", "mailbox"], Tag(_ROLE)] | Annotated[NamedAddress, Tag(_NAMED)],
                    Discriminator(_cc_kind)]


def _summary_lines(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# --- follow-up (docs/design.md §1): roster, responses, calendar and the escalation ladder ----------------


def _headers(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Headers = Annotated[list[Text], BeforeValidator(_headers), Field(min_length=1)]


class Columns(_Model):
    """Which column headers of a roster or response export hold which value. A header matches when it
    equals one of these after NFC, trimming and ignoring case; the English names are always accepted."""

    staff_id: Headers = Field(default=["Mã cán bộ"], description=(
        "Tiêu đề cột mã cán bộ, trong danh sách cán bộ và trong tệp kết quả khảo sát (bắt buộc có ở cả hai)."))
    name: Headers = Field(default=["Họ và tên"], description=(
        "Tiêu đề cột họ và tên trong danh sách cán bộ (bắt buộc có)."))
    position: Headers = Field(default=["Chức vụ"], description=(
        "Tiêu đề cột chức vụ trong danh sách cán bộ (không bắt buộc có; chức vụ được in trong danh sách chưa trả "
        "lời)."))
    unit: Headers = Field(default=["Đơn vị", "Mã đơn vị"], description=(
        "Tiêu đề cột đơn vị trong danh sách cán bộ (bắt buộc có); ô ghi mã hoặc tên đơn vị như trong units.yaml."))
    email: Headers = Field(default=["Email"], description=(
        "Tiêu đề cột thư điện tử trong danh sách cán bộ (không bắt buộc có)."))
    completed_at: Headers = Field(default=["Thời gian hoàn thành"], description=(
        "Tiêu đề cột thời gian hoàn thành phiếu trong tệp kết quả khảo sát (bắt buộc có); ô trống là chưa hoàn "
        "thành."))


class CalendarExtras(_Model):
    """Days the national calendar (the ``holidays`` package) does not know about."""

    days_off: list[dt.date] = Field(default_factory=list, description=(
        "Những ngày nghỉ thêm của chiến dịch mà lịch nghỉ lễ quốc gia không có (ví dụ ngày nghỉ riêng của tỉnh), "
        "dạng YYYY-MM-DD."))
    working_days: list[dt.date] = Field(default_factory=list, description=(
        "Những ngày làm việc bù (thường là thứ Bảy), dạng YYYY-MM-DD; cũng dùng để sửa một ngày nghỉ mà lịch quốc "
        "gia ghi sai."))


class LadderStep(_Model):
    """One rung of the escalation ladder, for each unit still non-compliant when its day comes.

    ``offset`` counts working days from the deadline (negative: a warning before it). ``kind``: a plain
    ``mail`` from ``templates/mail/TEMPLATE.txt|.html``; a numbered ``letter`` from the .docx
    ``template``; or the compliance ``report`` to leadership (once per campaign, not per unit).
    """

    name: Code = Field(description=(
        "Tên bước, không trùng trong thang (ví dụ nhac-nho, don-doc); hiện trong kết quả congvan status và congvan "
        "escalate."))
    offset: int = Field(description=(
        "Số ngày làm việc tính từ hạn trả lời (deadline): số âm là trước hạn, 0 là đúng ngày hạn, 1 là ngày làm việc "
        "kế tiếp."))
    kind: Literal["mail", "letter", "report"] = Field(description=(
        "Loại bước: mail là thư nhắc (không số, không đính kèm); letter là công văn có số, làm từ mẫu .docx; report "
        "là báo cáo gửi lãnh đạo, một lần cho cả chiến dịch."))
    to: Literal["head", "mailbox", "leadership"] = Field(default="head", description=(
        "Gửi tới: head (người đứng đầu đơn vị), mailbox (hộp thư chung của đơn vị) hoặc leadership (lãnh đạo; chỉ "
        "dùng cho bước report, và bước report chỉ gửi leadership)."))
    cc: list[CcEntry] = Field(default_factory=list, description=(
        "Đồng gửi (Cc): head, mailbox, hoặc một cơ quan ghi {name, email}; các nơi này cũng được ghi vào “Nơi nhận” "
        "của công văn."))
    template: FileName = Field(description=(
        "Mẫu của bước: với mail là tên mẫu thư trong templates/mail/ (nhac_nho dùng nhac_nho.txt và nhac_nho.html); "
        "với letter và report là tên tệp .docx trong templates/."))
    signer: Ref | None = Field(default=None, description=(
        "Khóa người ký (trong signers của cơ quan ban hành) cho công văn, báo cáo của bước này; không ghi thì dùng "
        "người ký của chiến dịch."))
    summary: Annotated[list[HeaderText], BeforeValidator(_summary_lines)] | None = Field(default=None, description=(
        "Trích yếu “V/v …” của công văn bước này, mỗi phần tử một dòng in; không ghi thì ghép một cụm từ mặc định "
        "với trích yếu của công văn gốc."))
    min_gap: int = Field(default=1, ge=0, description=(
        "Số ngày làm việc tối thiểu kể từ bước trước đã gửi cho cùng đơn vị; chưa đủ thì bước này chờ đến lần chạy "
        "sau."))
    extend: int = Field(default=3, ge=1, description=(
        "Với công văn: hạn mới ({{ han_moi }}) là ngày gửi cộng thêm ngần này ngày làm việc."))
    approval: Literal["signer", "none"] | None = Field(default=None, description=(
        "Trình ký: signer là văn bản phải được người ký duyệt (congvan approve) trước khi lấy số và gửi; none là gửi "
        "ngay khi đến hạn. Không ghi thì công văn (letter) và báo cáo (report) phải duyệt, thư nhắc (mail) thì không."))

    @property
    def needs_approval(self) -> bool:
        """Numbered documents wait for the signer's approval unless the step says ``approval: none``."""
        return (self.approval or ("none" if self.kind == "mail" else "signer")) == "signer"


class FollowUp(_Model):
    deadline: dt.date = Field(description="Hạn trả lời; các bước của thang tính ngày làm việc từ ngày này.")
    closes: dt.date | None = Field(default=None, description=(
        "Ngày kết thúc theo dõi: sau ngày này không gửi thêm bước nào; không ghi thì thang chạy đến hết."))
    threshold: float = Field(default=1.0, gt=0, le=1, description=(
        "Tỷ lệ cán bộ của một đơn vị phải trả lời để đơn vị được coi là hoàn thành: 1.0 là tất cả, 0.8 là 80%."))
    roster: str = Field(description=(
        "Tệp danh sách cán bộ phải trả lời (.xlsx hoặc .csv), đường dẫn tính từ thư mục config."))
    responses: str | None = Field(default=None, description=(
        "Thư mục (tính từ thư mục config) lưu các tệp kết quả tải về từ hệ thống khảo sát; mỗi lần chạy hằng ngày tự "
        "nhập các tệp chưa nhập."))
    columns: Columns = Field(default_factory=Columns, description=(
        "Tiêu đề cột của danh sách cán bộ và tệp kết quả, khi khác tiêu đề mặc định."))
    calendar: CalendarExtras = Field(default_factory=CalendarExtras, description=(
        "Ngày nghỉ thêm và ngày làm việc bù riêng của chiến dịch."))
    ladder: list[LadderStep] = Field(min_length=1, description=(
        "Các bước đôn đốc, xếp theo offset tăng dần (bước report có thể đứng ở bất cứ đâu)."))
    leadership: list[NamedAddress] = Field(default_factory=list, description=(
        "Lãnh đạo nhận báo cáo (bước report); bắt buộc có khi thang có bước report."))

    @model_validator(mode="after")
    def _ordered(self) -> FollowUp:
        offsets = [s.offset for s in self.ladder if s.kind != "report"]
        if offsets != sorted(offsets):
            raise ValueError(_("ladder steps must come in order of their offset (the level rises with it)"))
        names = [s.name for s in self.ladder]
        if len(set(names)) != len(names):
            raise ValueError(_("ladder step names must be unique"))
        if self.closes is not None and self.closes < self.deadline:
            raise ValueError(_("closes must not be before the deadline"))
        return self


_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _mail_name(value: str) -> str:
    """A mail template is named by its file stem in templates/mail/, never by a path."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value) or ".." in value:
        raise ValueError(_("{value!r} must be a mail template name: a file stem in templates/mail/ (letters, digits, "
                           "'.', '-', '_')").format(value=value))
    return value


MailName = Annotated[str, BeforeValidator(_text), AfterValidator(_mail_name)]


class MailTemplates(_Model):
    """The covering mails' templates (``templates/mail/NAME.txt`` and ``NAME.html``); ``congvan new`` gives a
    campaign its own copies, so editing them leaves other campaigns' mail as it was."""

    dispatch: MailName = Field(default="dispatch", description=(
        "Mẫu thư gửi kèm công văn (dispatch dùng templates/mail/dispatch.txt và dispatch.html)."))
    letter: MailName = Field(default="letter", description=(
        "Mẫu thư gửi kèm công văn đôn đốc, giải trình (bước letter)."))
    report: MailName = Field(default="report", description="Mẫu thư gửi kèm báo cáo (bước report).")


class Campaign(_Model):
    title: Text = Field(description="Tên chiến dịch, để nhận biết; không in trên văn bản.")
    authority: Ref = Field(description="Khóa cơ quan ban hành trong authorities.yaml.")
    signer: Ref = Field(description="Khóa người ký công văn, trong signers của cơ quan ban hành.")
    template: str = Field(default="cong_van.docx", description="Tên tệp mẫu công văn .docx trong thư mục templates/.")
    drafting_unit: Code | None = Field(default=None, description=(
        "Đơn vị soạn thảo trong ký hiệu văn bản, khi khác drafting_unit của cơ quan ban hành."))
    date: dt.date | None = Field(default=None, description=(
        "Ngày ban hành dự kiến: bản dự thảo in tháng và năm của ngày này. Văn bản ban hành mang ngày thực tế ban "
        "hành (ngày chạy congvan dispatch, hoặc --as-of)."))
    summary: Annotated[list[HeaderText], BeforeValidator(_summary_lines)] = Field(min_length=1, description=(
        "Trích yếu, mỗi phần tử một dòng in (dòng đầu được thêm “V/v”); tiêu đề thư điện tử ghép các dòng lại."))
    kinh_gui: list[RecipientRef] = Field(min_length=1, description=(
        "Các mục của “Kính gửi”: {unit: MÃ}, {group: KHÓA} hoặc {name: …, email: …}; một mục thì in cùng dòng “Kính "
        "gửi:”, nhiều mục thì mỗi mục một dòng “- …;”."))
    body: list[Text] = Field(min_length=1, description="Nội dung công văn, mỗi phần tử một đoạn, đúng như sẽ in.")
    noi_nhan: list[ListItem] = Field(default_factory=list, description=(
        "Các nơi nhận khác ghi ở “Nơi nhận”, “Như trên” đứng đầu; mẫu tự thêm dấu “-” đầu dòng và “;” cuối dòng."))
    luu: Annotated[str, BeforeValidator(_strip_luu), AfterValidator(_starts_with_vt)] = Field(description=(
        "Phần “Lưu”, bắt đầu bằng VT, ví dụ VT, KSTTHC (HLy 2); mẫu in thành dòng cuối “- Lưu: VT, KSTTHC (HLy 2).”."))
    fields: dict[str, Text] = Field(default_factory=dict, description=(
        "Giá trị thêm cho mẫu công văn đã sửa: mẫu có {{ han_chot }} thì ghi fields: {han_chot: …}; tên trường viết "
        "thường, không dấu, chỉ gồm chữ, số và “_”."))
    copies: list[NamedAddress] = Field(default_factory=list, description=(
        "Nơi nhận bản sao qua thư điện tử, không ghi ở “Kính gửi” (mỗi nơi một thư)."))
    pdf: bool = Field(default=True, description="Có tạo bản PDF (bản điện tử của văn bản) bằng LibreOffice hay không.")
    attach: list[Literal["pdf", "docx"]] = Field(default=["pdf"], min_length=1, description=(
        "Tệp đính kèm thư: pdf (bản điện tử đã ký số, mặc định), docx (bản Word chưa ký, sửa được) hoặc cả hai."))
    read_receipt: bool = Field(default=False, description=(
        "Xin xác nhận đã đọc (Disposition-Notification-To) trong thư gửi công văn; người nhận có thể từ chối. Mặc "
        "định không xin."))
    approval: Literal["signer", "none"] = Field(default="signer", description=(
        "Trình ký công văn: signer (mặc định) là congvan dispatch chỉ soạn dự thảo, chờ người ký duyệt bằng congvan "
        "approve rồi mới lấy số, ký số và gửi; none là gửi ngay (chỉ dùng khi đã duyệt trên giấy)."))
    mail_templates: MailTemplates = Field(default_factory=MailTemplates, description=(
        "Tên các mẫu thư gửi kèm trong templates/mail/, khi chiến dịch có mẫu riêng (congvan new tạo sẵn); không ghi "
        "thì dùng mẫu chung dispatch, letter, report."))
    follow_up: FollowUp | None = Field(default=None, description=(
        "Phần theo dõi, đôn đốc: danh sách cán bộ, hạn trả lời, thang đôn đốc; không ghi nếu chỉ gửi công văn."))

    @property
    def subject(self) -> str:
        """The summary on one line: "V/v …" as a mail subject."""
        return "V/v " + " ".join(self.summary)


M = TypeVar("M", bound=BaseModel)


# --- loading -------------------------------------------------------------------------------------

_MERGE_TAG = "tag:yaml.org,2002:merge"


# libyaml's parser when PyYAML has it (the wheels do): units.yaml of 2,000 units reads ten times faster.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """PyYAML keeps the last of two equal keys without a word; a lost unit must be an error."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        if key_node.tag == _MERGE_TAG:  # "<<: *anchor": its keys may be overridden on purpose
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {first}); one of them would be lost",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


def _timestamp_or_text(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> Any:
    """'2023-02-30' looks like a date but is none: keep the text, so validation names its field."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[str, str, int | None, int | None]:
    mark = exc.problem_mark or exc.context_mark
    message = _yaml_message(f"{exc.problem or exc}".strip())
    ctx = exc.context_mark
    if exc.context and ctx is not None and (mark is None or ctx.line != mark.line):
        message += " " + _("({context} started at line {line})").format(context=_yaml_message(exc.context),
                                                                       line=ctx.line + 1)
    if mark is None:
        return "", message, None, None
    return "", message, mark.line + 1, mark.column + 1


# PyYAML's words, as people read them (the rest of a parser message is kept as it is).
_YAML_WORDS = (
    N_("could not find expected ':'"), N_("mapping values are not allowed here"),
    N_("found character '\\t' that cannot start any token"), N_("expected <block end>, but found '<scalar>'"),
    N_("found unexpected end of stream"), N_("did not find expected key"), N_("did not find expected ',' or ']'"),
    N_("did not find expected ',' or '}'"), N_("while scanning a simple key"), N_("while parsing a block mapping"),
    N_("while scanning a quoted scalar"), N_("while parsing a flow sequence"), N_("while parsing a block collection"),
    N_("while parsing a flow mapping"), N_("did not find expected '-' indicator"),
    N_("found character that cannot start any token"), N_("while scanning a plain scalar"),
    N_("found undefined alias"), N_("while parsing a block node"), N_("expected <block end>, but found '-'"),
    N_("expected <block end>, but found '<block mapping start>'"), N_("found unknown escape character"),
    N_("expected <block end>, but found '<block sequence start>'"),
)


def _yaml_message(text: str) -> str:
    if text.startswith("duplicate key "):
        return text
    return _(text) if text in _YAML_WORDS else text


# Where a problem is in its file: the YAML nodes of each file read (by the name shown), so a problem found by
# pydantic or a cross-check gets the line and column of what it names.
_NODES: dict[str, yaml.Node] = {}
_PATH_PART = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


def _position(shown: str, loc: tuple[int | str, ...], *, partial: bool = False) -> tuple[int, int] | None:
    """Line and column (from 1) of what ``loc`` names in the file read as ``shown``; ``partial``: of the deepest
    part found (a missing field: its mapping), else None unless the whole path is found."""
    node = _NODES.get(shown)
    if node is None:
        return None
    at: yaml.Node = node
    for part in loc:
        if isinstance(part, str) and _is_tag(part):
            continue
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            found = (node.value[part], node.value[part])
        else:
            found = None
        if found is None:
            if not partial:
                return None
            break
        key, node = found
        at = node if isinstance(node, yaml.ScalarNode) else key
    return at.start_mark.line + 1, at.start_mark.column + 1


def _located(problems: list[Problem]) -> list[Problem]:
    """The problems, each with its line and column when its file was read and it names a field."""
    out = []
    for p in problems:
        if p.line is None and p.field:
            loc = tuple(int(m.group(1)) if m.group(1) is not None else m.group(2)
                        for m in _PATH_PART.finditer(p.field))
            where = _position(p.file, loc)
            if where is not None:
                p = Problem(p.file, p.field, p.message, *where)
        out.append(p)
    return out


def _read_yaml(path: Path, shown: str, problems: list[Problem]) -> Any:
    _NODES.pop(shown, None)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(shown, "", _("file not found")))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(shown, "", _("cannot be read: {error}").format(error=exc)))
        return None
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        problems.append(Problem(shown, *_yaml_problem(exc)))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(shown, "", str(exc)))
        return None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        problems.append(Problem(shown, "", _("expected a mapping of fields at the top level"), 1, 1))
        return None
    _NODES[shown] = node
    return data


def _is_tag(part: int | str) -> bool:
    """A union member's tag in an error location (``<named>``), not a field."""
    return isinstance(part, str) and part.startswith("<")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if _is_tag(part):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{one_line(part)}" if out else one_line(part))
    return out


def _tagged(tp: Any, tag: str) -> Any:
    """The member of a discriminated union that carries ``Tag(tag)``."""
    for member in get_args(_unwrap(tp)):
        if get_origin(member) is Annotated and any(isinstance(m, Tag) and m.tag == tag
                                                   for m in member.__metadata__):
            return member
    return None


def _unwrap(tp: Any) -> Any:
    """The type inside Annotated[...] and X | None."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names the model accepts at ``loc`` (the location of an unknown field)."""
    tp: Any = model
    for part in loc[:-1]:
        if isinstance(part, str) and _is_tag(part):
            tp = _tagged(tp, part)
            continue
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return []
            tp = info.annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


# pydantic's messages, by error type: its English template (the msgid) filled with the error's context.
_PYDANTIC = {
    "date_parsing": N_("Input should be a valid date in the format YYYY-MM-DD, {error}"),
    "date_from_datetime_parsing": N_("Input should be a valid date or datetime, {error}"),
    "date_type": N_("Input should be a valid date"),
    "datetime_parsing": N_("Input should be a valid datetime, {error}"),
    "string_type": N_("Input should be a valid string"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_type": N_("Input should be a valid integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "bool_type": N_("Input should be a valid boolean"),
    "list_type": N_("Input should be a valid list"),
    "dict_type": N_("Input should be a valid dictionary"),
    "model_type": N_("Input should be a valid dictionary or instance of {class_name}"),
    "too_short": N_("{field_type} should have at least {min_length} item after validation, not {actual_length}"),
    "too_long": N_("{field_type} should have at most {max_length} items after validation, not {actual_length}"),
    "string_too_short": N_("String should have at least {min_length} character"),
    "string_too_long": N_("String should have at most {max_length} characters"),
    "literal_error": N_("Input should be {expected}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "greater_than": N_("Input should be greater than {gt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "union_tag_invalid": N_("Input tag {tag} found using {discriminator} does not match any of the expected tags: "
                            "{expected_tags}"),
    "union_tag_not_found": N_("Unable to extract tag using discriminator {discriminator}"),
}

# The reasons pydantic gives inside a date error.
_DATE_REASONS = (N_("input is too short"), N_("input is too long"), N_("invalid character in year"),
                 N_("invalid character in month"), N_("invalid character in day"),
                 N_("month value is outside expected range of 1-12"), N_("day value is outside expected range"),
                 N_("invalid date separator, expected `-`"), N_("unexpected extra characters at the end of the input"))


def pydantic_message(err: Any) -> str:
    template = _PYDANTIC.get(err["type"])
    if template is None or language() == "en":
        return str(err["msg"])
    ctx = dict(err.get("ctx") or {})
    if err["type"] not in _PLURAL and template.format_map(_Keep(ctx)) != err["msg"]:
        return str(err["msg"])  # this pydantic words it otherwise: keep its own
    if str(ctx.get("error")) in _DATE_REASONS:
        ctx["error"] = _(str(ctx["error"]))
    return _(template).format_map(_Keep(ctx))


_PLURAL = ("too_short", "too_long", "string_too_short", "string_too_long")


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _message(model: type[BaseModel], err: Any) -> str:
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden" and loc:
        allowed = _fields_at(model, loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        if close:
            return _("unknown field {name!r} (did you mean {close!r}?)").format(name=loc[-1], close=close[0])
        return _("unknown field {name!r} (allowed: {allowed})").format(name=loc[-1], allowed=", ".join(allowed)) \
            if allowed else _("unknown field {name!r}").format(name=loc[-1])
    if err["type"] == "missing":
        return _("required field is missing")
    if err["type"] in ("value_error", "assertion_error"):
        return str(err["msg"]).removeprefix("Value error, ")
    return pydantic_message(err)


def _parse(model: type[M], data: Any, shown: str, problems: list[Problem]) -> M | None:
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = _position(shown, loc, partial=err["type"] == "missing") or (None, None)
            problems.append(Problem(shown, _loc(loc), _message(model, err), *where))
        return None


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


# --- cross-checks, on the data as read (so a file with other problems is still checked) ----------


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
