"""The pydantic models of the YAML under ``config/``: ``authorities.yaml``, ``units.yaml`` and
``campaigns/NAME.yaml``. Each field's description is its entry in the configuration reference
(``congvan.config_reference``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

from congvan.config.values import (
    Address,
    Code,
    FileName,
    Headers,
    HeaderText,
    ListItem,
    MailName,
    Ref,
    Text,
    _starts_with_vt,
    _strip_luu,
    _summary_lines,
)
from congvan.i18n import _


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
# left out of the field path shown (``messages._loc``).
_ROLE, _NAMED = "<role>", "<named>"


def _cc_kind(value: Any) -> str:
    return _NAMED if isinstance(value, dict | NamedAddress) else _ROLE


CcEntry = Annotated[Annotated[Literal["head", "mailbox"], Tag(_ROLE)] | Annotated[NamedAddress, Tag(_NAMED)],
                    Discriminator(_cc_kind)]


# --- follow-up (docs/design.md §1): roster, responses, calendar and the escalation ladder ----------------

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
