"""Broken công văn built at test time: each function copies a good rendered .docx and breaks one
Decree-30 rule by editing its XML (document, styles or header parts) through python-docx + lxml.

``BREAKS`` maps a fixture name to (the edit, the set of rule ids the checker must report).

``ENCODINGS`` re-encodes the same compliant layout the way people type it in Word (automatic
numbering, one paragraph with line breaks, a header grid, shapes for the short lines, empty
paragraphs for spacing): each must still pass. ``ENCODED_BREAKS`` breaks a rule inside such an
encoding: each must still fail with its rule id.
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
from lxml import etree

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


# --- compliant layouts encoded the way people type them in Word ----------------------------------


def _ps(p: Any, style_id: str) -> None:
    p_props(p, "w:pStyle", val=style_id)


def _add_break(p: Any, count: int = 1) -> None:
    for _ in range(count):
        run = OxmlElement("w:r")
        run.append(OxmlElement("w:br"))
        p.append(run)


def _move_runs(src: Any, dst: Any, **props: dict[str, str]) -> None:
    """Append src's runs to dst (direct run properties ``props`` added: tag → attributes), drop src."""
    for r in list(src.iter(qn("w:r"))):
        rpr = r.get_or_add_rPr()
        for tag, attrs in props.items():
            set_prop(rpr, f"w:{tag}", **attrs)
        dst.append(r)
    src.getparent().remove(src)


def numbered_body(doc: Doc, first_line: str = "720") -> None:
    """The "1.", "2.", "3." paragraphs numbered by Word: a numbering level carries the first-line indent,
    the paragraphs' own style has none (a list style based on the body style)."""
    numbering = doc.part.numbering_part.element
    abstract = OxmlElement("w:abstractNum")
    abstract.set(qn("w:abstractNumId"), "90")
    lvl = OxmlElement("w:lvl")
    lvl.set(qn("w:ilvl"), "0")
    for tag, val in (("w:start", "1"), ("w:numFmt", "decimal"), ("w:suff", "space"), ("w:lvlText", "%1."),
                     ("w:lvlJc", "left")):
        el = OxmlElement(tag)
        el.set(qn("w:val"), val)
        lvl.append(el)
    ppr = OxmlElement("w:pPr")
    set_prop(ppr, "w:ind", left="0", firstLine=first_line)
    lvl.append(ppr)
    abstract.append(lvl)
    first_num = numbering.find(qn("w:num"))
    if first_num is not None:
        first_num.addprevious(abstract)
    else:
        numbering.append(abstract)
    num = OxmlElement("w:num")
    num.set(qn("w:numId"), "90")
    set_prop(num, "w:abstractNumId", val="90")
    numbering.append(num)

    body_style = style_element(doc, "CVNộidung")
    item_style = copy.deepcopy(body_style)
    item_style.set(qn("w:styleId"), "CVĐiểm")
    item_style.find(qn("w:name")).set(qn("w:val"), "CV Điểm")
    item_ppr = item_style.find(qn("w:pPr"))
    ind = item_ppr.find(qn("w:ind")) if item_ppr is not None else None
    if ind is not None:
        item_ppr.remove(ind)
    set_prop(item_ppr, "w:ind", firstLine="0")
    body_style.addnext(item_style)
    for n in ("1", "2", "3"):
        p = paragraph(doc, f"{n}. ")
        replace_text(p, f"{n}. ", "")
        _ps(p, "CVĐiểm")
        num_pr = p_props(p, "w:numPr")
        set_prop(num_pr, "w:ilvl", val="0")
        set_prop(num_pr, "w:numId", val="90")


def numbered_body_2cm(doc: Doc) -> None:
    numbered_body(doc, first_line="1134")


def one_paragraph_blocks(doc: Doc) -> None:
    """Issuer, national title + motto and signature block each typed as one paragraph with line breaks."""
    issuer = [p for p in doc.element.body.iter(qn("w:p")) if p.pPr is not None and p.pPr.pStyle is not None
              and p.pPr.pStyle.val == "CVCơquanbanhành"]
    for other in issuer[1:]:
        _add_break(issuer[0])
        _move_runs(other, issuer[0])
    qh = paragraph(doc, "CỘNG HÒA")
    _add_break(qh)
    _move_runs(paragraph(doc, "Độc lập"), qh, sz={"val": "28"}, szCs={"val": "28"})
    authority = paragraph(doc, "CHỦ TỊCH")
    _add_break(authority, 4)  # room for the signature
    _move_runs(paragraph(doc, "Phạm Ngọc Nghị"), authority)


def one_paragraph_motto_en_dash(doc: Doc) -> None:
    one_paragraph_blocks(doc)
    replace_text(paragraph(doc, "CỘNG HÒA"), "Độc lập - Tự do", "Độc lập – Tự do")


def one_paragraph_name_italic(doc: Doc) -> None:
    one_paragraph_blocks(doc)
    runs = list(paragraph(doc, "CHỦ TỊCH").iter(qn("w:r")))
    set_prop(runs[-1].get_or_add_rPr(), "w:i")


def _fill(tc: Any, paragraphs: list[Any]) -> None:
    for p in tc.findall(qn("w:p")):
        tc.remove(p)
    for p in paragraphs:
        tc.append(copy.deepcopy(p))
    if not paragraphs:
        tc.append(OxmlElement("w:p"))


def grid_header(doc: Doc, issuer_bold: bool = True) -> None:
    """The header as a grid, one row per line pair: parent body | national title; issuer | motto;
    Số | place and date; "V/v …" alone in the last row."""
    tbl = doc.element.body.find(qn("w:tbl"))
    top, bottom = tbl.findall(qn("w:tr"))
    (issuer_cell, title_cell), (so_cell, date_cell) = top.findall(qn("w:tc")), bottom.findall(qn("w:tc"))
    issuer_paras = issuer_cell.findall(qn("w:p"))
    title_paras = title_cell.findall(qn("w:p"))
    so_paras = so_cell.findall(qn("w:p"))
    parent = copy.deepcopy(issuer_paras[0])
    _ps(parent, "CVCơquanchủquản")
    set_text(parent, "UBND TỈNH ĐẮK LẮK")
    office = copy.deepcopy(issuer_paras[0])
    set_text(office, "SỞ NỘI VỤ")
    if not issuer_bold:
        for rpr in run_props(office):
            set_prop(rpr, "w:b", val="0")
    rows = []
    for template, cells in ((top, ([parent], title_paras[:1])),
                            (top, ([office, issuer_paras[-1]], title_paras[1:])),
                            (bottom, (so_paras[:1], date_cell.findall(qn("w:p")))),
                            (bottom, (so_paras[1:], []))):
        row = copy.deepcopy(template)
        for tc, content in zip(row.findall(qn("w:tc")), cells, strict=True):
            _fill(tc, content)
        rows.append(row)
    for old in (top, bottom):
        tbl.remove(old)
    for row in rows:
        tbl.append(row)


def grid_header_issuer_not_bold(doc: Doc) -> None:
    grid_header(doc, issuer_bold=False)


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_WPS = "http://schemas.microsoft.com/office/word/2010/wordprocessingShape"
_WP = "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"
_A = "http://schemas.openxmlformats.org/drawingml/2006/main"
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_V = "urn:schemas-microsoft-com:vml"


def _line_shape(shape_id: int, width_emu: int) -> Any:
    """A run holding a straight line anchored in its paragraph, as Word writes it (DrawingML with a VML
    fallback)."""
    xml = f"""<w:r xmlns:w="{W_NS}" xmlns:mc="{_MC}" xmlns:wp="{_WP}" xmlns:a="{_A}" xmlns:wps="{_WPS}"
      xmlns:v="{_V}"><w:rPr><w:noProof/></w:rPr><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing>
      <wp:anchor distT="0" distB="0" distL="114300" distR="114300" simplePos="0" relativeHeight="{shape_id}"
        behindDoc="0" locked="0" layoutInCell="1" allowOverlap="1"><wp:simplePos x="0" y="0"/>
        <wp:positionH relativeFrom="column"><wp:align>center</wp:align></wp:positionH>
        <wp:positionV relativeFrom="paragraph"><wp:posOffset>215900</wp:posOffset></wp:positionV>
        <wp:extent cx="{width_emu}" cy="0"/><wp:effectExtent l="0" t="0" r="0" b="0"/><wp:wrapNone/>
        <wp:docPr id="{shape_id}" name="Line {shape_id}"/><wp:cNvGraphicFramePr/>
        <a:graphic><a:graphicData uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape">
          <wps:wsp><wps:cNvCnPr/><wps:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="{width_emu}" cy="0"/></a:xfrm>
            <a:prstGeom prst="line"><a:avLst/></a:prstGeom><a:ln w="9525"><a:solidFill><a:srgbClr val="000000"/>
            </a:solidFill></a:ln></wps:spPr><wps:bodyPr/></wps:wsp></a:graphicData></a:graphic>
      </wp:anchor></w:drawing></mc:Choice><mc:Fallback><w:pict>
        <v:line id="Line {shape_id}" from="0,0" to="{width_emu / 12700:.1f}pt,0" strokeweight=".75pt"/>
      </w:pict></mc:Fallback></mc:AlternateContent></w:r>"""
    return etree.fromstring(xml)


def shape_rules(doc: Doc) -> None:
    """The short lines under the issuer's name and the motto drawn as shapes anchored in those
    paragraphs, instead of bordered empty paragraphs."""
    for rule_style in ("CVGạchdướicơquan", "CVGạchdướitiêungữ"):
        for p in [p for p in doc.element.body.iter(qn("w:p")) if p.pPr is not None and p.pPr.pStyle is not None
                  and p.pPr.pStyle.val == rule_style]:
            p.getparent().remove(p)
    issuer_last = [p for p in doc.element.body.iter(qn("w:p")) if p.pPr is not None
                   and p.pPr.pStyle is not None and p.pPr.pStyle.val == "CVCơquanbanhành"][-1]
    issuer_last.append(_line_shape(901, 18 * 36000))
    paragraph(doc, "Độc lập").append(_line_shape(902, 60 * 36000))


def shape_rules_motto_italic(doc: Doc) -> None:
    shape_rules(doc)
    for rpr in run_props(paragraph(doc, "Độc lập")):
        set_prop(rpr, "w:i")


def empty_paragraph_spacing(doc: Doc, line: str | None = None) -> None:
    """No spacing before/after on the body paragraphs; an empty paragraph typed between each two."""
    body = [p for p in doc.element.body.iter(qn("w:p")) if p.pPr is not None and p.pPr.pStyle is not None
            and p.pPr.pStyle.val in ("CVNộidung", "CVNộidungcuối")]
    for p in body:
        p_props(p, "w:spacing", before="0", after="0")
    for p in body[1:]:
        blank = OxmlElement("w:p")
        _ps(blank, "CVNộidung")
        attrs = {"before": "0", "after": "0"}
        if line is not None:
            attrs |= {"line": line, "lineRule": "exact"}
        p_props(blank, "w:spacing", **attrs)
        p.addprevious(blank)


def empty_paragraph_spacing_2pt(doc: Doc) -> None:
    """The empty paragraphs squeezed to a 2 pt line: too little space between body paragraphs."""
    empty_paragraph_spacing(doc, line="40")


ENCODINGS: dict[str, Callable[[Doc], None]] = {
    "numbered_body": numbered_body,
    "one_paragraph_blocks": one_paragraph_blocks,
    "grid_header": grid_header,
    "shape_rules": shape_rules,
    "empty_paragraph_spacing": empty_paragraph_spacing,
}

ENCODED_BREAKS: dict[str, Break] = {
    name: Break(edit, frozenset(rules)) for name, (edit, rules) in {
        "numbered_body_2cm": (numbered_body_2cm, {"B2"}),
        "one_paragraph_motto_en_dash": (one_paragraph_motto_en_dash, {"H2"}),
        "one_paragraph_name_italic": (one_paragraph_name_italic, {"S3"}),
        "grid_header_issuer_not_bold": (grid_header_issuer_not_bold, {"H5"}),
        "shape_rules_motto_italic": (shape_rules_motto_italic, {"H2"}),
        "empty_paragraph_spacing_2pt": (empty_paragraph_spacing_2pt, {"B4"}),
    }.items()
}


def encoded_copy(good: Path, name: str, out_dir: Path) -> Path:
    """A copy of ``good`` re-encoded by ``ENCODINGS[name]`` or broken by ``ENCODED_BREAKS[name]``."""
    doc = docx.Document(str(good))
    edit = ENCODINGS[name] if name in ENCODINGS else ENCODED_BREAKS[name].edit
    edit(doc)
    out = out_dir / f"{good.stem}__{name}.docx"
    doc.save(str(out))
    return out
