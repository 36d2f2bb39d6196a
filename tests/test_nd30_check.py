"""The Decree-30 checker: the shipped template renders clean, and each broken copy trips its rule."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.shared import Pt
from fixtures_nd30 import BREAKS, ENCODED_BREAKS, ENCODINGS, broken_copy, encoded_copy

from congvan.compliance import Official, UnitCompliance
from congvan.config import load_campaign
from congvan.documents import render_dispatch
from congvan.letters import Citation, letter_context
from congvan.nd30 import Checker, Violation, check, format_violation, read_document
from congvan.nd30.formatting import ReadCache
from congvan.register import Allocation
from congvan.render import load_template

ROOT = Path(__file__).resolve().parent.parent
ISSUED = Allocation(number=5, year=2023, register="UBND", symbol="UBND-KSTTHC",
                    issued_on=dt.date(2023, 2, 7), key="k", document_id=1, created=True)


@pytest.fixture(scope="module")
def good_docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    lc = load_campaign(ROOT / "config", "par-index-2022")
    out = tmp_path_factory.mktemp("nd30")
    return {
        "draft": render_dispatch(lc, templates_dir=ROOT / "templates", out_dir=out),
        "issued": render_dispatch(lc, templates_dir=ROOT / "templates", out_dir=out, allocation=ISSUED),
    }


@pytest.mark.parametrize("kind", ["draft", "issued"])
def test_rendered_dispatch_is_clean(good_docs: dict[str, Path], kind: str) -> None:
    assert [format_violation(v) for v in check(good_docs[kind])] == []


@pytest.mark.parametrize("kind", ["draft", "issued"])
@pytest.mark.parametrize("name", sorted(BREAKS))
def test_each_break_trips_its_rule(good_docs: dict[str, Path], tmp_path: Path, name: str, kind: str) -> None:
    broken = broken_copy(good_docs[kind], name, tmp_path)
    violations = check(broken)
    assert {v.rule for v in violations} == BREAKS[name].rules, [format_violation(v) for v in violations]


@pytest.mark.parametrize("kind", ["draft", "issued"])
@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_compliant_encodings_pass(good_docs: dict[str, Path], tmp_path: Path, name: str, kind: str) -> None:
    """The same compliant layout typed the ways people type it in Word: what the reader sees passes."""
    encoded = encoded_copy(good_docs[kind], name, tmp_path)
    assert [format_violation(v) for v in check(encoded)] == []


@pytest.mark.parametrize("name", sorted(ENCODED_BREAKS))
def test_each_encoded_break_trips_its_rule(good_docs: dict[str, Path], tmp_path: Path, name: str) -> None:
    """Reading through an encoding does not excuse a broken rule inside it."""
    broken = encoded_copy(good_docs["issued"], name, tmp_path)
    violations = check(broken)
    assert {v.rule for v in violations} == ENCODED_BREAKS[name].rules, [format_violation(v) for v in violations]


def test_month_03_message(good_docs: dict[str, Path], tmp_path: Path) -> None:
    broken = broken_copy(good_docs["issued"], "month_03", tmp_path)
    assert [format_violation(v) for v in check(broken)] == [
        "H11: 'Đắk Lắk, ngày 07 tháng 03 năm 2023': expected month without leading zero (tháng 3)"
    ]


def test_format_violation_is_one_line() -> None:
    v = Violation("H11", "Đắk Lắk, ngày 05 tháng 03 năm 2023", "month without leading zero (tháng 3)")
    line = format_violation(v)
    assert line == "H11: 'Đắk Lắk, ngày 05 tháng 03 năm 2023': expected month without leading zero (tháng 3)"
    assert re.fullmatch(r"[A-Z]\d+: '.*': expected .+", line)


def test_long_text_is_shortened(good_docs: dict[str, Path], tmp_path: Path) -> None:
    broken = broken_copy(good_docs["issued"], "body_left_aligned", tmp_path)
    (v,) = check(broken)
    assert len(v.text) <= 60 and v.text.endswith("…")
    assert "\n" not in format_violation(v)


def test_effective_formatting_follows_styles_caps_and_theme(tmp_path: Path) -> None:
    """docDefaults (theme font; python-docx's minor font is Cambria) → default paragraph style →
    basedOn chain → character style → run; w:caps shows as capitals; cells are located."""
    document = docx.Document()
    base = document.styles.add_style("Base", WD_STYLE_TYPE.PARAGRAPH)
    base.font.size, base.font.bold = Pt(13), True
    child = document.styles.add_style("Child", WD_STYLE_TYPE.PARAGRAPH)
    child.base_style, child.font.italic = base, True
    caps = document.styles.add_style("Caps", WD_STYLE_TYPE.CHARACTER)
    caps.font.all_caps = True
    styled = document.add_paragraph(style=child)
    styled.add_run("kính gửi", style=caps)
    styled.add_run(" thường").bold = False
    document.add_paragraph("plain")
    document.add_table(rows=1, cols=2).cell(0, 1).paragraphs[0].add_run("in a cell")
    path = tmp_path / "styles.docx"
    document.save(str(path))

    first, plain, _empty_cell, cell = read_document(path).paragraphs
    caps_run, direct = first.runs
    assert (caps_run.size, caps_run.bold, caps_run.italic, caps_run.display) == (13, True, True, "KÍNH GỬI")
    assert (direct.size, direct.bold, direct.italic, direct.caps) == (13, False, True, False)
    assert (plain.style_id, plain.size, plain.inked[0].font_ascii) == ("Normal", 11, "Cambria")  # minor theme font
    assert (cell.location.table, cell.location.row, cell.location.col, cell.text) == (0, 0, 1, "in a cell")


def test_one_checker_for_many_letters_gives_the_full_checks_verdicts(good_docs: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    """Issue 13: a Checker reads what letters share once. Through one Checker, good letters first (so every
    shared paragraph is remembered), then every broken copy and every re-encoding: each verdict and each
    model is exactly the full check's (a fresh reader per letter)."""
    checker = Checker()
    docs = [good_docs["draft"], good_docs["issued"]]
    for kind in ("draft", "issued"):
        out = tmp_path / kind
        out.mkdir()
        docs += [broken_copy(good_docs[kind], name, out) for name in sorted(BREAKS)]
        docs += [encoded_copy(good_docs[kind], name, out) for name in [*ENCODINGS, *ENCODED_BREAKS]]
    docs += [good_docs["issued"]]  # and a good letter after the broken ones
    cache = ReadCache()
    for path in docs:
        assert checker.check(path) == Checker(cache=False).check(path), path.name
        assert read_document(path, cache) == read_document(path), path.name
    assert checker.check(docs[-1]) == []
    assert {v.rule for v in checker.check(broken_copy(good_docs["issued"], "body_zero_gap", tmp_path))} == {"B4"}


def test_follow_up_letters_through_one_checker(tmp_path: Path) -> None:
    """Letters from one template, each with its own head, unit and list of officials (a table whose rows
    differ per letter): clean, and judged as the full check judges them."""
    lc = load_campaign(ROOT / "config", "par-index-2022")
    assert lc.campaign.follow_up is not None
    step = next(s for s in lc.campaign.follow_up.ladder if s.kind == "letter")
    template = load_template(ROOT / "templates" / (step.template or ""))
    checker = Checker()
    for i, unit in enumerate(lc.units[:4]):
        missing = tuple(Official(f"S{i}{k}", f"Nguyễn Văn {k}", "Chuyên viên", unit.code) for k in range(1 + i))
        uc = UnitCompliance(unit.code, unit.name, required=9, responded=9 - len(missing), missing=missing,
                            threshold=1.0)
        allocation = Allocation(number=i + 2, year=2023, register="UBND", symbol=lc.symbol,
                                issued_on=dt.date(2023, 2, 27), key=f"t/{i}", document_id=i, created=True)
        ctx = letter_context(lc, step, unit, uc, dispatch=Citation("01/UBND-KSTTHC", dt.date(2023, 2, 10)),
                             previous=None, allocation=allocation, as_of=dt.date(2023, 2, 27),
                             new_deadline=dt.date(2023, 3, 1))
        letter = template.render_to(ctx, tmp_path / f"{i}.docx")
        assert [format_violation(v) for v in checker.check(letter)] == []
        assert Checker(cache=False).check(letter) == []
        assert any(unit.head.title in p.flat for p in read_document(letter).paragraphs)


def test_numbering_indents_sit_over_the_style_only_when_the_paragraph_is_numbered(tmp_path: Path) -> None:
    """Word's order: a list named by the style lies under the style's own indents; numbering put on the
    paragraph lies over them; the paragraph's own w:ind comes last."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from fixtures_nd30 import set_prop

    document = docx.Document()
    numbering = document.part.numbering_part.element
    abstract = OxmlElement("w:abstractNum")
    abstract.set(qn("w:abstractNumId"), "77")
    lvl = OxmlElement("w:lvl")
    lvl.set(qn("w:ilvl"), "0")
    set_prop(set_prop(lvl, "w:pPr"), "w:ind", left="0", firstLine="720")
    abstract.append(lvl)
    numbering.insert(0, abstract)
    num = OxmlElement("w:num")
    num.set(qn("w:numId"), "77")
    set_prop(num, "w:abstractNumId", val="77")
    numbering.append(num)
    listed = document.styles.add_style("Listed", WD_STYLE_TYPE.PARAGRAPH)
    listed.paragraph_format.first_line_indent = 360 * 635  # 360 twips, in EMU
    set_prop(set_prop(listed.element.get_or_add_pPr(), "w:numPr"), "w:numId", val="77")
    plain = document.styles.add_style("Plain", WD_STYLE_TYPE.PARAGRAPH)
    plain.paragraph_format.first_line_indent = 360 * 635
    document.add_paragraph("by style", style=listed)
    direct = document.add_paragraph("numbered here", style=plain)
    set_prop(set_prop(direct._p.get_or_add_pPr(), "w:numPr"), "w:numId", val="77")
    own = document.add_paragraph("own indent", style=plain)
    set_prop(set_prop(own._p.get_or_add_pPr(), "w:numPr"), "w:numId", val="77")
    set_prop(own._p.get_or_add_pPr(), "w:ind", firstLine="567")
    path = tmp_path / "numbering.docx"
    document.save(str(path))

    by_style, numbered_here, own_indent = read_document(path).paragraphs
    assert (by_style.first_line, by_style.numbered) == (360, True)
    assert (numbered_here.first_line, numbered_here.numbered) == (720, True)
    assert own_indent.first_line == 567
