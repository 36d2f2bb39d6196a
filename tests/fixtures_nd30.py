"""Broken công văn built at test time: each function copies a good rendered .docx and breaks one
Decree-30 rule by editing its XML (document, styles or header parts) through python-docx + lxml.

``BREAKS`` maps a fixture name to (the edit, the set of rule ids the checker must report).
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
from docx.oxml import OxmlElement
from docx.oxml.ns import qn

Doc = Any  # docx.document.Document (python-docx ships no type hints)


# --- helpers -------------------------------------------------------------------------------------


def _text(p: Any) -> str:
    return "".join(t.text or "" for t in p.iter(qn("w:t")))


def paragraph(doc: Doc, match: str | re.Pattern[str], nth: int = 0) -> Any:
    """The nth w:p (body, tables included) whose text starts with ``match`` (or matches the regex)."""
    found = [p for p in doc.element.body.iter(qn("w:p"))
             if (re.search(match, _text(p)) if isinstance(match, re.Pattern) else _text(p).startswith(match))]
    if len(found) <= nth:
        raise LookupError(f"no paragraph #{nth} starting {match!r}")
    return found[nth]


def body_paragraph(doc: Doc, nth: int) -> Any:
    """The nth paragraph of the letter's body (style 'CV Nội dung')."""
    paras = [p for p in doc.element.body.iter(qn("w:p")) if p.pPr is not None and p.pPr.pStyle is not None
             and p.pPr.pStyle.val == "CVNộidung"]
    return paras[nth]


def replace_text(p: Any, old: str | re.Pattern[str], new: str) -> None:
    """Replace text inside one w:t of a paragraph."""
    for t in p.iter(qn("w:t")):
        value = t.text or ""
        replaced = old.sub(new, value, count=1) if isinstance(old, re.Pattern) else value.replace(old, new, 1)
        if replaced != value:
            t.text = replaced
            return
    raise LookupError(f"{old!r} not in {_text(p)!r}")


def set_text(p: Any, new: str) -> None:
    ts = list(p.iter(qn("w:t")))
    ts[0].text = new
    for t in ts[1:]:
        t.text = ""


def run_props(p: Any) -> list[Any]:
    """rPr of every run of a paragraph (created when missing)."""
    return [r.get_or_add_rPr() for r in p.iter(qn("w:r"))]


def set_prop(rpr: Any, tag: str, **attrs: str) -> Any:
    el = rpr.find(qn(tag))
    if el is None:
        el = OxmlElement(tag)
        rpr.append(el)
    for key, val in attrs.items():
        el.set(qn(f"w:{key}"), val)
    return el


def p_props(p: Any, tag: str, **attrs: str) -> Any:
    ppr = p.get_or_add_pPr()
    return set_prop(ppr, tag, **attrs)


def style_element(doc: Doc, style_id: str) -> Any:
    for st in doc.styles.element.iter(qn("w:style")):
        if st.get(qn("w:styleId")) == style_id:
            return st
    raise LookupError(style_id)


def style_rpr(doc: Doc, style_id: str) -> Any:
    st = style_element(doc, style_id)
    rpr = st.find(qn("w:rPr"))
    if rpr is None:
        rpr = OxmlElement("w:rPr")
        st.append(rpr)
    return rpr


def sect_pr(doc: Doc) -> Any:
    return doc.element.body.find(qn("w:sectPr"))


def set_margin(doc: Doc, **attrs: str) -> None:
    set_prop(sect_pr(doc), "w:pgMar", **attrs)


# --- the breaks ----------------------------------------------------------------------------------


def left_margin_20mm(doc: Doc) -> None:
    set_margin(doc, left="1134")


def top_margin_15mm(doc: Doc) -> None:
    set_margin(doc, top="850")


def letter_paper(doc: Doc) -> None:
    set_prop(sect_pr(doc), "w:pgSz", w="12240", h="15840")


def arial_run(doc: Doc) -> None:
    for rpr in run_props(body_paragraph(doc, 1)):
        set_prop(rpr, "w:rFonts", ascii="Arial", hAnsi="Arial")


def arial_body_style(doc: Doc) -> None:
    """Through the style chain, not the run: every body paragraph is then in Arial."""
    set_prop(style_rpr(doc, "CVNộidung"), "w:rFonts", ascii="Arial", hAnsi="Arial", cs="Arial", eastAsia="Arial")


def vntime_run(doc: Doc) -> None:
    for rpr in run_props(body_paragraph(doc, 0)):
        set_prop(rpr, "w:rFonts", ascii=".VnTime", hAnsi=".VnTime", cs=".VnTime", eastAsia=".VnTime")


def red_text(doc: Doc) -> None:
    for rpr in run_props(body_paragraph(doc, 2)):
        set_prop(rpr, "w:color", val="FF0000")


def nfd_text(doc: Doc) -> None:
    p = body_paragraph(doc, 3)
    for t in p.iter(qn("w:t")):
        t.text = unicodedata.normalize("NFD", t.text or "")


def motto_13(doc: Doc) -> None:
    """Quốc hiệu stays 13, the motto drops to 13 (still within its own 13–14 range)."""
    rpr = style_rpr(doc, "CVTiêungữ")
    set_prop(rpr, "w:sz", val="26")
    set_prop(rpr, "w:szCs", val="26")


def month_03(doc: Doc) -> None:
    replace_text(paragraph(doc, re.compile(r", ngày")), re.compile(r"tháng \d+"), "tháng 03")


def day_unpadded(doc: Doc) -> None:
    replace_text(paragraph(doc, re.compile(r", ngày")), re.compile(r"ngày\s*\d*\s*tháng"), "ngày 7 tháng")


def february_30(doc: Doc) -> None:
    replace_text(paragraph(doc, re.compile(r", ngày")), re.compile(r"ngày\s*\d*\s*tháng \d+"), "ngày 30 tháng 02")


def vv_colon(doc: Doc) -> None:
    replace_text(paragraph(doc, "V/v "), "V/v ", "V/v: ")


def vv_colon_bold(doc: Doc) -> None:
    p = paragraph(doc, "V/v ")
    replace_text(p, "V/v ", "V/v: ")
    for rpr in run_props(p):
        set_prop(rpr, "w:b")


def cong_van_title(doc: Doc) -> None:
    kg = paragraph(doc, "Kính gửi")
    title = OxmlElement("w:p")
    run = OxmlElement("w:r")
    set_prop(run.get_or_add_rPr(), "w:b")
    text = OxmlElement("w:t")
    text.text = "CÔNG VĂN"
    run.append(text)
    title.append(run)
    p_props(title, "w:jc", val="center")
    kg.addprevious(title)


def kinh_gui_caps(doc: Doc) -> None:
    replace_text(paragraph(doc, "Kính gửi"), "Kính gửi", "KÍNH GỬI")


def kinh_gui_caps_property(doc: Doc) -> None:
    """Stored in normal case, shown in capitals by w:caps."""
    for rpr in run_props(paragraph(doc, "Kính gửi")):
        set_prop(rpr, "w:caps")


def kinh_gui_bold_style(doc: Doc) -> None:
    set_prop(style_rpr(doc, "CVKínhgửi"), "w:b", val="1")


def recipient_no_semicolon(doc: Doc) -> None:
    p = paragraph(doc, "- Văn phòng Đoàn")
    replace_text(p, ";", "")


def noi_nhan_14(doc: Doc) -> None:
    for rpr in run_props(paragraph(doc, "Nơi nhận")):
        set_prop(rpr, "w:sz", val="28")
        set_prop(rpr, "w:szCs", val="28")


def noi_nhan_item_12(doc: Doc) -> None:
    for rpr in run_props(paragraph(doc, "- Như trên")):
        set_prop(rpr, "w:sz", val="24")


def luu_without_colon(doc: Doc) -> None:
    set_text(paragraph(doc, "- Lưu:"), "- Lưu VT")


def body_left_aligned(doc: Doc) -> None:
    p_props(body_paragraph(doc, 1), "w:jc", val="left")


def body_indent_2cm(doc: Doc) -> None:
    p_props(body_paragraph(doc, 1), "w:ind", firstLine="1134")


def body_double_spaced(doc: Doc) -> None:
    p_props(body_paragraph(doc, 1), "w:spacing", line="480", lineRule="auto")


def body_zero_gap(doc: Doc) -> None:
    p_props(body_paragraph(doc, 2), "w:spacing", before="0", after="0")


def name_italic(doc: Doc) -> None:
    for rpr in run_props(paragraph(doc, "Phạm Ngọc Nghị")):
        set_prop(rpr, "w:i")


def name_upper(doc: Doc) -> None:
    set_text(paragraph(doc, "Phạm Ngọc Nghị"), "PHẠM NGỌC NGHỊ")


def authority_lowercase(doc: Doc) -> None:
    set_text(paragraph(doc, "CHỦ TỊCH"), "Chủ tịch")


def authority_prefix_without_dot(doc: Doc) -> None:
    set_text(paragraph(doc, "CHỦ TỊCH"), "KT CHỦ TỊCH")


def deputy_title_lowercase(doc: Doc) -> None:
    """ "KT. CHỦ TỊCH" above a title line "Phó chủ tịch" that should be UPPER."""
    chair = paragraph(doc, "CHỦ TỊCH")
    authority = copy.deepcopy(chair)
    set_text(authority, "KT. CHỦ TỊCH")
    chair.addprevious(authority)
    set_text(chair, "Phó chủ tịch")


def number_unpadded(doc: Doc) -> None:
    set_text(paragraph(doc, "Số:"), "Số: 5/UBND-KSTTHC")


def quoc_hieu_not_bold(doc: Doc) -> None:
    set_prop(style_rpr(doc, "CVQuốchiệu"), "w:b", val="0")


def motto_en_dash(doc: Doc) -> None:
    p = paragraph(doc, "Độc lập")
    set_text(p, "Độc lập – Tự do – Hạnh phúc")


def issuer_not_bold(doc: Doc) -> None:
    for p in (paragraph(doc, "ỦY BAN NHÂN DÂN"), paragraph(doc, "TỈNH ")):
        for rpr in run_props(p):
            set_prop(rpr, "w:b", val="0")


def no_title_page(doc: Doc) -> None:
    sect = sect_pr(doc)
    sect.remove(sect.find(qn("w:titlePg")))


def page_number_on_first_page(doc: Doc) -> None:
    p = doc.sections[0].first_page_header.paragraphs[0]._p
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), " PAGE ")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    p.append(field)


def page_start_3(doc: Doc) -> None:
    sect = sect_pr(doc)
    num = OxmlElement("w:pgNumType")
    num.set(qn("w:start"), "3")
    sect.find(qn("w:cols")).addprevious(num)


@dataclass(frozen=True)
class Break:
    edit: Callable[[Doc], None]
    rules: frozenset[str]


BREAKS: dict[str, Break] = {
    name: Break(edit, frozenset(rules)) for name, (edit, rules) in {
        "left_margin_20mm": (left_margin_20mm, {"P3"}),
        "top_margin_15mm": (top_margin_15mm, {"P2"}),
        "letter_paper": (letter_paper, {"P1"}),
        "arial_run": (arial_run, {"F1"}),
        "arial_body_style": (arial_body_style, {"F1"}),
        "vntime_run": (vntime_run, {"F1", "F2"}),
        "red_text": (red_text, {"F3"}),
        "nfd_text": (nfd_text, {"F4"}),
        "motto_13": (motto_13, {"F5"}),
        "month_03": (month_03, {"H11"}),
        "day_unpadded": (day_unpadded, {"H11"}),
        "february_30": (february_30, {"H11"}),
        "vv_colon": (vv_colon, {"H14"}),
        "vv_colon_bold": (vv_colon_bold, {"H14"}),
        "cong_van_title": (cong_van_title, {"H15"}),
        "kinh_gui_caps": (kinh_gui_caps, {"R1"}),
        "kinh_gui_caps_property": (kinh_gui_caps_property, {"R1"}),
        "kinh_gui_bold_style": (kinh_gui_bold_style, {"R1"}),
        "recipient_no_semicolon": (recipient_no_semicolon, {"R2"}),
        "noi_nhan_14": (noi_nhan_14, {"R4"}),
        "noi_nhan_item_12": (noi_nhan_item_12, {"R6"}),
        "luu_without_colon": (luu_without_colon, {"R7"}),
        "body_left_aligned": (body_left_aligned, {"B1"}),
        "body_indent_2cm": (body_indent_2cm, {"B2"}),
        "body_double_spaced": (body_double_spaced, {"B3"}),
        "body_zero_gap": (body_zero_gap, {"B4"}),
        "name_italic": (name_italic, {"S3"}),
        "name_upper": (name_upper, {"S3"}),
        "authority_lowercase": (authority_lowercase, {"S1"}),
        "authority_prefix_without_dot": (authority_prefix_without_dot, {"S1"}),
        "deputy_title_lowercase": (deputy_title_lowercase, {"S2"}),
        "number_unpadded": (number_unpadded, {"H8"}),
        "quoc_hieu_not_bold": (quoc_hieu_not_bold, {"H1"}),
        "motto_en_dash": (motto_en_dash, {"H2"}),
        "issuer_not_bold": (issuer_not_bold, {"H5"}),
        "no_title_page": (no_title_page, {"P7"}),
        "page_number_on_first_page": (page_number_on_first_page, {"P7"}),
        "page_start_3": (page_start_3, {"P8"}),
    }.items()
}


def broken_copy(good: Path, name: str, out_dir: Path) -> Path:
    """A copy of ``good`` with the named break applied, written under ``out_dir``."""
    doc = docx.Document(str(good))
    BREAKS[name].edit(doc)
    out = out_dir / f"{good.stem}__{name}.docx"
    doc.save(str(out))
    return out
