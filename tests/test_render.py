"""The sample dispatch, rendered from config, read back from the .docx."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import unicodedata
import zipfile
from pathlib import Path

import pytest
from docx.table import Table
from docx.text.paragraph import Paragraph
from docxtpl import DocxTemplate
from support import (
    ROOT,
    SEED,
    all_paragraphs,
    edit_yaml,
    effective,
    iter_blocks,
    open_docx,
    project_copy,
    xml_of,
)

from congvan.config import load_campaign
from congvan.documents import dispatch_context, render_dispatch
from congvan.errors import ConfigError, MissingFieldError, TemplateError
from congvan.register import Allocation
from congvan.render import compile_template, environment, load_template
from congvan.text import sanitize
from congvan.validation import validate_campaign

CONFIG, TEMPLATES = ROOT / "config", ROOT / "templates"


def seed_blocks() -> list[str]:
    """The sample as blocks, with the differences of a text extraction from the original undone:
    a paragraph split by the page break is joined, and the two places where the extraction departs
    from Decree 30 take the decree's form (H2: hyphen-minus in the motto; R7: "- Lưu: …" ends with ".",
    as the issue asks)."""
    text = SEED.read_text(encoding="utf-8").replace("**", "")
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    joined: list[str] = []
    for block in blocks:
        if joined and not re.search(r"[.:;)]$|\n|^[A-ZĐỦỘ ]+$", joined[-1]) and block[:1].islower():
            joined[-1] += " " + block
        else:
            joined.append(block)
    joined = [b.replace("Độc lập – Tự do – Hạnh phúc", "Độc lập - Tự do - Hạnh phúc") for b in joined]
    joined = [re.sub(r"(- Lưu: VT, KSTTHC \(HLy 2\))$", r"\1.", b) for b in joined]
    return joined


def rendered_blocks(path: Path) -> list[str]:
    """The rendered document in the seed's order: header left (issuer, Số, V/v), header right
    (national title, place and date), Kính gửi, recipients, body, Nơi nhận, signature."""
    document = open_docx(path)
    header, sign = document.tables
    text = lambda cell: [p.text for p in cell.paragraphs if p.text.strip()]  # noqa: E731
    issuer, national = text(header.cell(0, 0)), text(header.cell(0, 1))
    so, vv = text(header.cell(1, 0))
    (date_line,) = text(header.cell(1, 1))
    body = [p.text for p in document.paragraphs if p.text.strip()]
    kinh_gui, recipients = body[0], []
    for t in body[1:]:  # the "- …;" lines right after "Kính gửi:"
        if not t.startswith("- "):
            break
        recipients.append(t)
    content = body[1 + len(recipients):]
    noi_nhan, *items = text(sign.cell(0, 0))
    *authority, name = text(sign.cell(0, 1))
    return ["\n".join(issuer), so, vv, "\n".join(national), date_line, kinh_gui, "\n".join(recipients),
            *content, noi_nhan, "\n".join(items), *authority, name]


def squeeze(s: str) -> str:
    """Collapse runs of spaces: a draft's blank number and day are a gap, however wide."""
    return "\n".join(re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in s.split("\n"))


@pytest.fixture(scope="module")
def sample_draft(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lc = load_campaign(CONFIG, "par-index-2022")
    return render_dispatch(lc, templates_dir=TEMPLATES, out_dir=tmp_path_factory.mktemp("draft"))


def test_sample_text_round_trips_block_by_block(sample_draft: Path) -> None:
    expected = [squeeze(b) for b in seed_blocks()]
    got = [squeeze(b) for b in rendered_blocks(sample_draft)]
    assert len(got) == len(expected) == 20
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g == e, f"block {i} differs"


def test_draft_leaves_number_and_day_blank(sample_draft: Path) -> None:
    header = open_docx(sample_draft).tables[0]
    so = header.cell(1, 0).paragraphs[0].text
    assert re.fullmatch(r"Số: {3,}/UBND-KSTTHC", so)
    assert re.fullmatch(r"Đắk Lắk, ngày {3,}tháng 02 năm 2023", header.cell(1, 1).paragraphs[0].text)


def test_issued_letter_carries_number_and_date(tmp_path: Path) -> None:
    lc = load_campaign(CONFIG, "par-index-2022")
    allocation = Allocation(number=5, year=2023, register="UBND", symbol="UBND-KSTTHC",
                            issued_on=dt.date(2023, 2, 7), key="par-index-2022/dispatch",
                            document_id=1, created=True)
    path = render_dispatch(lc, templates_dir=TEMPLATES, out_dir=tmp_path, allocation=allocation)
    header = open_docx(path).tables[0]
    assert header.cell(1, 0).paragraphs[0].text == "Số: 05/UBND-KSTTHC"
    assert header.cell(1, 1).paragraphs[0].text == "Đắk Lắk, ngày 07 tháng 02 năm 2023"
    march = Allocation(number=123, year=2023, register="UBND", symbol="UBND-KSTTHC",
                       issued_on=dt.date(2023, 3, 15), key="k", document_id=2, created=True)
    path = render_dispatch(lc, templates_dir=TEMPLATES, out_dir=tmp_path, allocation=march)
    header = open_docx(path).tables[0]
    assert header.cell(1, 0).paragraphs[0].text == "Số: 123/UBND-KSTTHC"
    assert header.cell(1, 1).paragraphs[0].text == "Đắk Lắk, ngày 15 tháng 3 năm 2023"


# --- Decree 30 layout, read back from the .docx ---------------------------------------------------


def test_page_is_a4_with_decree_margins(sample_draft: Path) -> None:
    for section in open_docx(sample_draft).sections:
        assert abs(section.page_width.mm - 210) < 0.5 and abs(section.page_height.mm - 297) < 0.5
        assert 20 <= round(section.top_margin.mm, 1) <= 25
        assert 20 <= round(section.bottom_margin.mm, 1) <= 25
        assert 30 <= round(section.left_margin.mm, 1) <= 35
        assert 15 <= round(section.right_margin.mm, 1) <= 20


def test_every_paragraph_is_times_new_roman_in_all_four_slots_and_black(sample_draft: Path) -> None:
    document = open_docx(sample_draft)
    paragraphs = all_paragraphs(document)
    paragraphs += document.sections[0].header.paragraphs
    checked = 0
    for p in paragraphs:
        for i, _run in enumerate(p.runs):
            fmt = effective(p, i, document)
            assert fmt.fonts == dict.fromkeys(("ascii", "hAnsi", "eastAsia", "cs"), "Times New Roman"), p.text
            checked += 1
    assert checked >= 25  # every run of the header, recipients, body, Nơi nhận and signature
    document_xml = xml_of(sample_draft, "word/document.xml")
    colours = {c.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}val")
               for c in document_xml.iter("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}color")}
    assert colours <= {"auto", "000000"}


def _find(paragraphs: list[Paragraph], pattern: str) -> Paragraph:
    for p in paragraphs:
        if re.match(pattern, p.text):
            return p
    raise AssertionError(f"no paragraph matches {pattern!r}")


@pytest.mark.parametrize(("pattern", "size", "bold", "italic", "align"), [
    (r"^ỦY BAN NHÂN DÂN$", 13, True, False, "center"),
    (r"^TỈNH ĐẮK LẮK$", 13, True, False, "center"),
    (r"^CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM$", 13, True, False, "center"),
    (r"^Độc lập - Tự do - Hạnh phúc$", 14, True, False, "center"),
    (r"^Số:", 13, False, False, "center"),
    (r"^V/v ", 13, False, False, "center"),
    (r"^Đắk Lắk, ngày", 14, False, True, "center"),
    (r"^Kính gửi:$", 14, False, False, None),
    (r"^- Văn phòng Đoàn", 14, False, False, None),
    (r"^Nơi nhận:$", 12, True, True, None),
    (r"^- Như trên;$", 11, False, False, None),
    (r"^- Lưu: VT, KSTTHC \(HLy 2\)\.$", 11, False, False, None),
    (r"^CHỦ TỊCH$", 14, True, False, "center"),
    (r"^Phạm Ngọc Nghị$", 14, True, False, "center"),
])
def test_block_formatting(sample_draft: Path, pattern: str, size: float, bold: bool, italic: bool,
                          align: str | None) -> None:
    p = _find(all_paragraphs(open_docx(sample_draft)), pattern)
    fmt = effective(p)
    assert (fmt.size, fmt.bold, fmt.italic, fmt.caps) == (size, bold, italic, False)
    assert fmt.align in ((align,) if align else (None, "left", "start"))


def test_v_v_is_six_points_below_so(sample_draft: Path) -> None:
    paragraphs = all_paragraphs(open_docx(sample_draft))
    assert effective(_find(paragraphs, r"^V/v ")).before == 120
    assert "V/v:" not in "".join(p.text for p in paragraphs)
    assert not any(p.text.strip().upper() == "CÔNG VĂN" for p in paragraphs)


def test_body_paragraphs_are_justified_indented_and_spaced(sample_draft: Path) -> None:
    document = open_docx(sample_draft)
    body = [b for b in iter_blocks(document) if isinstance(b, Paragraph) and b.text.strip()]
    content = [p for p in body if not p.text.startswith(("Kính gửi", "- Văn phòng", "- Các sở", "- UBND"))]
    assert len(content) == 9
    for p in content:
        fmt = effective(p)
        assert (fmt.size, fmt.bold, fmt.italic, fmt.align) == (14, False, False, "both"), p.text[:40]
        assert fmt.first_line is not None and min(abs(fmt.first_line - 567), abs(fmt.first_line - 720)) <= 10
        assert fmt.line_rule in (None, "auto") and fmt.line is not None and 240 <= fmt.line <= 360
        assert fmt.before + fmt.after >= 120


def test_recipient_dashes_sit_under_the_colon(sample_draft: Path) -> None:
    paragraphs = all_paragraphs(open_docx(sample_draft))
    kg, first = _find(paragraphs, r"^Kính gửi:$"), _find(paragraphs, r"^- Văn phòng")
    colon_at = effective(kg).left + 1015  # width of "Kính gửi" at 14 pt in twips (17.9 mm)
    assert abs(effective(first).left - colon_at) <= 113  # ±0.2 cm (R3)


def test_header_and_signature_are_borderless_two_column_tables(sample_draft: Path) -> None:
    document = open_docx(sample_draft)
    tables = [b for b in iter_blocks(document) if isinstance(b, Table)]
    assert len(tables) == 2
    for t in tables:
        assert len(t.columns) == 2
        borders = t._tbl.tblPr.find("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}tblBorders")
        vals = {b.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}val") for b in borders}
        assert vals == {"nil"}
    # "Nơi nhận:" and the authority line are in the same row (R5).
    assert tables[1].cell(0, 0).paragraphs[0].text == "Nơi nhận:"
    assert "CHỦ TỊCH" in [p.text for p in tables[1].cell(0, 1).paragraphs]


def test_page_numbers_from_page_two_centred(sample_draft: Path) -> None:
    document = open_docx(sample_draft)
    section = document.sections[0]
    assert section.different_first_page_header_footer
    assert "PAGE" not in section.first_page_header._element.xml
    header = section.header.paragraphs[0]
    assert "PAGE" in header._p.xml
    fmt = effective(header, 0, document)
    assert (fmt.align, fmt.size, fmt.italic) == ("center", 14, False)
    settings = xml_of(sample_draft, "word/document.xml")
    ns = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    starts = [e.get(f"{ns}start") for e in settings.iter(f"{ns}pgNumType")]
    assert all(s in (None, "1") for s in starts)


# --- text as data ----------------------------------------------------------------------------------


def _hostile_project(tmp_path: Path) -> Path:
    root = project_copy(tmp_path)

    def units(data: dict) -> None:  # type: ignore[type-arg]
        data["units"][10]["name"] = "Sở Tài nguyên & Môi trường"
        data["groups"]["so-ban-nganh"]["label"] = "Các sở, ban, ngành <khối tỉnh> & \"đơn vị\" 'trực thuộc'"

    def campaign(data: dict) -> None:  # type: ignore[type-arg]
        data["kinh_gui"] = [{"unit": "STNMT"}, {"group": "so-ban-nganh"}, {"name": "UBND huyện Ea H'leo"},
                            {"name": "UBND huyện Krông Pắc"}]
        data["summary"] = ["tham gia <điều tra> & \"khảo sát\" 'PAR'"]
        data["body"] = ["Nếu a < b và b > c thì a & c; \"trích dẫn\" và 'nháy đơn' giữ nguyên./."]
        data["noi_nhan"] = ["Như trên", "Sở Tài nguyên & Môi trường"]

    edit_yaml(root / "config" / "units.yaml", units)
    edit_yaml(root / "config" / "campaigns" / "par-index-2022.yaml", campaign)
    return root


def test_markup_characters_come_out_exactly_as_given(tmp_path: Path) -> None:
    root = _hostile_project(tmp_path)
    lc = load_campaign(root / "config", "par-index-2022")
    path = render_dispatch(lc, templates_dir=root / "templates", out_dir=tmp_path / "out")
    texts = [p.text for p in all_paragraphs(open_docx(path))]
    assert "- Sở Tài nguyên & Môi trường;" in texts
    assert "- Các sở, ban, ngành <khối tỉnh> & \"đơn vị\" 'trực thuộc';" in texts
    assert "- UBND huyện Ea H'leo;" in texts
    assert "- UBND huyện Krông Pắc." in texts
    assert "V/v tham gia <điều tra> & \"khảo sát\" 'PAR'" in texts
    assert "Nếu a < b và b > c thì a & c; \"trích dẫn\" và 'nháy đơn' giữ nguyên./." in texts
    assert "- Sở Tài nguyên & Môi trường;" in texts and "Nơi nhận:" in texts  # nothing after it was lost


def test_nfd_input_comes_out_nfc_and_control_characters_are_dropped(tmp_path: Path) -> None:
    root = project_copy(tmp_path)
    nfd = unicodedata.normalize("NFD", "Quán triệt đến cán bộ, công chức Krông Pắc")
    assert nfd != unicodedata.normalize("NFC", nfd)

    def campaign(data: dict) -> None:  # type: ignore[type-arg]
        data["body"] = [nfd + "\x0b\x00\x1f./."]

    edit_yaml(root / "config" / "campaigns" / "par-index-2022.yaml", campaign)
    lc = load_campaign(root / "config", "par-index-2022")
    path = render_dispatch(lc, templates_dir=root / "templates", out_dir=tmp_path / "out")
    texts = [p.text for p in all_paragraphs(open_docx(path))]
    assert "Quán triệt đến cán bộ, công chức Krông Pắc./." in texts
    # The context sanitiser on its own, for values that do not come through config.
    assert sanitize({"a": [nfd + "\x08"]}) == {"a": [unicodedata.normalize("NFC", nfd)]}


def test_same_text_as_docxtpl_own_render(tmp_path: Path) -> None:
    """The compiled renderer is docxtpl's clean-up compiled once: the output matches a plain
    DocxTemplate render of the same context with the same environment, paragraph for paragraph."""
    root = _hostile_project(tmp_path)
    lc = load_campaign(root / "config", "par-index-2022")
    ours = render_dispatch(lc, templates_dir=root / "templates", out_dir=tmp_path / "ours")
    tpl = DocxTemplate(root / "templates" / "cong_van.docx")
    tpl.render(sanitize(dispatch_context(lc)), jinja_env=environment())
    buf = io.BytesIO()
    tpl.save(buf)
    buf.seek(0)
    theirs_doc = __import__("docx").Document(buf)
    assert [p.text for p in all_paragraphs(open_docx(ours))] == [p.text for p in all_paragraphs(theirs_doc)]
    # docxtpl escapes core properties twice under autoescape ("&amp;lt;" in the title); ours once.
    assert open_docx(ours).core_properties.title == lc.campaign.subject


def test_output_is_a_valid_package_with_no_leftover_tags(sample_draft: Path) -> None:
    with zipfile.ZipFile(sample_draft) as z:
        assert z.testzip() is None
        for name in z.namelist():
            data = z.read(name)
            if name.endswith((".xml", ".rels")):
                xml_of(sample_draft, name)  # parses strictly
                assert b"{{" not in data and b"{%" not in data, name


# --- template errors -------------------------------------------------------------------------------


def _template_with(tmp_path: Path, find: str, replace: str) -> Path:
    src = TEMPLATES / "cong_van.docx"
    out = tmp_path / "custom.docx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "word/document.xml":
                text = data.decode("utf-8")
                assert find in text
                data = text.replace(find, replace, 1).encode("utf-8")
            zout.writestr(info, data)
    return out


def test_field_the_config_lacks_is_named(tmp_path: Path) -> None:
    root = project_copy(tmp_path)
    custom = _template_with(tmp_path, "Nơi nhận:", "Nơi nhận: {{ han_chot }}")
    shutil.copy(custom, root / "templates" / "cong_van.docx")
    with pytest.raises(ConfigError) as info:
        validate_campaign(root / "config", root / "templates", "par-index-2022")
    assert "han_chot" in str(info.value) and "par-index-2022.yaml: fields" in str(info.value)
    compiled = compile_template(root / "templates" / "cong_van.docx")
    with pytest.raises(MissingFieldError) as missing:
        compiled.render_bytes({})
    assert "han_chot" in missing.value.fields and "nguoi_ky" in missing.value.fields

    def campaign(data: dict) -> None:  # type: ignore[type-arg]
        data["fields"] = {"han_chot": "trước ngày 20/02/2023"}

    edit_yaml(root / "config" / "campaigns" / "par-index-2022.yaml", campaign)
    checked = validate_campaign(root / "config", root / "templates", "par-index-2022")
    path = render_dispatch(checked.campaign, templates_dir=root / "templates", out_dir=tmp_path / "out")
    assert "Nơi nhận: trước ngày 20/02/2023" in [p.text for p in all_paragraphs(open_docx(path))]


def test_template_cannot_reach_python_internals(tmp_path: Path) -> None:
    custom = _template_with(tmp_path, "Nơi nhận:", "{{ nguoi_ky.__class__.__mro__ }}")
    compiled = compile_template(custom)
    lc = load_campaign(CONFIG, "par-index-2022")
    with pytest.raises(TemplateError, match=r"unsafe|not allowed"):
        compiled.render_bytes(dispatch_context(lc))


def test_broken_tag_is_a_template_error_naming_the_file(tmp_path: Path) -> None:
    custom = _template_with(tmp_path, "Nơi nhận:", "{{ nguoi_ky – x }}")
    with pytest.raises(TemplateError) as info:
        compile_template(custom)
    assert "custom.docx" in str(info.value)


def test_not_a_docx_is_a_template_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake.docx"
    fake.write_text("not a zip", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"not a \.docx"):
        load_template(fake)
    with pytest.raises(TemplateError, match="not found"):
        load_template(tmp_path / "missing.docx")


def test_a_copy_of_a_template_is_compiled_once_and_a_changed_one_again(tmp_path: Path) -> None:
    """Compiled templates are kept by their bytes: a copy elsewhere shares the compiled parts yet names its own file
    in errors; the same path with other bytes is compiled afresh, however its timestamps read."""
    first, copy = tmp_path / "a" / "cong_van.docx", tmp_path / "b" / "cong_van.docx"
    for path in (first, copy):
        path.parent.mkdir()
        shutil.copy2(TEMPLATES / "cong_van.docx", path)
    a, b = load_template(first), load_template(copy)
    assert b.parts is a.parts and (a.path, b.path) == (first, copy)
    with pytest.raises(MissingFieldError) as missing:
        b.render_bytes({})
    assert missing.value.template == copy

    changed = _template_with(tmp_path, "Nơi nhận:", "Nơi nhận: {{ han_chot }}")
    stat = copy.stat()
    shutil.copyfile(changed, copy)
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same timestamps: only the bytes tell
    again = load_template(copy)
    assert again.parts is not a.parts and "han_chot" in again.fields and "han_chot" not in a.fields


def test_mail_templates_are_compiled_once_per_source_and_an_include_stays_in_its_folder(tmp_path: Path) -> None:
    from congvan.mail_bodies import _template as mail_template
    from congvan.mail_bodies import render_bodies

    one, two = project_copy(tmp_path / "one") / "templates", project_copy(tmp_path / "two") / "templates"
    folder = lambda root: (root / "mail").resolve()  # noqa: E731
    assert mail_template(folder(one), "nhac_nho.txt", False) is mail_template(folder(two), "nhac_nho.txt", False)
    assert mail_template(folder(one), "nhac_nho.txt", False) is not mail_template(folder(one), "nhac_nho.html", True)

    for root, who in ((one, "Sở Tài nguyên & Môi trường"), (two, "UBND huyện Ea H'leo")):
        (root / "mail" / "ky_ten.txt").write_text(who, encoding="utf-8")
        (root / "mail" / "hoi.txt").write_text("Kính gửi {% include 'ky_ten.txt' %}\n", encoding="utf-8")
        (root / "mail" / "hoi.html").write_text("<p>{{ x }}</p>\n", encoding="utf-8")
    assert render_bodies(one, "hoi", {"x": 1})[0] == "Kính gửi Sở Tài nguyên & Môi trường\n"
    assert render_bodies(two, "hoi", {"x": 1})[0] == "Kính gửi UBND huyện Ea H'leo\n"


def test_signature_never_stands_alone_on_a_page(sample_draft: Path) -> None:
    """The last body paragraph keeps with the signature table, whose row cannot split."""
    document = open_docx(sample_draft)
    blocks = list(iter_blocks(document))
    sign = next(i for i, b in enumerate(blocks) if isinstance(b, Table) and b._tbl is document.tables[1]._tbl)
    last_body = blocks[sign - 1]
    assert isinstance(last_body, Paragraph) and last_body.text.endswith("./.")
    assert last_body.paragraph_format.keep_with_next or last_body.style.paragraph_format.keep_with_next
    ns = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    assert document.tables[1].rows[0]._tr.find(f"{ns}trPr/{ns}cantSplit") is not None


def test_the_content_cache_keeps_the_most_recently_used_and_never_a_failure() -> None:
    from congvan.content_cache import ContentCache

    cache: ContentCache[int] = ContentCache(2)
    made: list[bytes] = []

    def make(data: bytes) -> int:
        made.append(data)
        if data == b"hong":
            raise TemplateError("broken", template=Path("hong.docx"))
        return len(data)

    assert [cache.get(d, make) for d in (b"a", b"bb", b"a", b"ccc", b"a", b"bb")] == [1, 2, 1, 3, 1, 2]
    assert made == [b"a", b"bb", b"ccc", b"bb"]  # "a" used again before "ccc" came: "bb" was the one let go
    for _ in range(2):
        with pytest.raises(TemplateError):
            cache.get(b"hong", make)
    assert made[-2:] == [b"hong", b"hong"]  # tried again each time
