"""Many letters of one template converted as one document, then split back into one PDF per letter.

Why: LibreOffice spends most of a one-page letter on opening it (measured on this 2-core machine: 112 ms of
CPU to load a letter, 20 ms to export it, 11 ms to close it); twenty letters opened as one document cost about
23 ms each in all. So a batch is joined into one .docx, each letter its own section that starts a new page
and restarts the page numbers (Decree 30 numbers pages from the second page of each letter), converted
once, and the PDF is cut at the first page of each letter with ``pdfseparate`` (and ``pdfunite`` for a
letter of several pages).

Joining is safe only when the letters come from one package: every part but ``word/document.xml`` must be
byte-identical in all of them (same styles, numbering, headers, relationships), the body must end with its
section properties after a paragraph. Otherwise ``join_documents`` returns False and the caller converts
the letters one by one; the same happens when the split cannot find each letter's first page.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

from lxml import etree

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
DOCUMENT = "word/document.xml"
# Children of w:sectPr that come after w:pgNumType in the schema: it is inserted before the first found.
_AFTER_PGNUMTYPE = ("cols", "formProt", "vAlign", "noEndnote", "titlePg", "textDirection", "bidi", "rtlGutter",
                    "docGrid", "printerSettings", "sectPrChange")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False)


def _w(tag: str) -> str:
    return f"{{{W}}}{tag}"


def _restart_numbering(sect: etree._Element) -> None:
    """Page numbers of this section start at 1, as they do when the letter is alone."""
    found = sect.find(_w("pgNumType"))
    if found is None:
        found = etree.Element(_w("pgNumType"))
        after = next((child for child in sect if etree.QName(child).localname in _AFTER_PGNUMTYPE), None)
        if after is None:
            sect.append(found)
        else:
            after.addprevious(found)
    found.set(_w("start"), "1")


def _end_section_in(paragraph: etree._Element, sect: etree._Element) -> None:
    """Make ``paragraph`` the last of a section with properties ``sect`` (w:pPr/w:sectPr, schema order)."""
    ppr = paragraph.find(_w("pPr"))
    if ppr is None:
        ppr = etree.Element(_w("pPr"))
        paragraph.insert(0, ppr)
    change = ppr.find(_w("pPrChange"))
    if change is not None:
        change.addprevious(sect)
    else:
        ppr.append(sect)


def join_documents(docs: Sequence[Path], out: Path) -> bool:
    """Write ``out``: the letters ``docs`` one after the other, each its own section; False if they cannot be
    joined safely (then nothing is written)."""
    if len(docs) < 2:
        return False
    packages: list[dict[str, bytes]] = []
    try:
        for path in docs:
            with zipfile.ZipFile(path) as z:
                packages.append({name: z.read(name) for name in z.namelist()})
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, EOFError):
        return False  # a damaged letter: converted alone, it fails alone with its own message
    first = packages[0]
    shared = {name: data for name, data in first.items() if name != DOCUMENT}
    if DOCUMENT not in first or any({n: d for n, d in p.items() if n != DOCUMENT} != shared for p in packages[1:]):
        return False
    try:
        roots = [etree.fromstring(p[DOCUMENT], _PARSER) for p in packages]
    except etree.XMLSyntaxError:
        return False
    bodies = [root.find(_w("body")) for root in roots]
    for body in bodies:
        if body is None or len(body) < 2 or body[-1].tag != _w("sectPr") or body[-2].tag != _w("p"):
            return False
    for body in bodies:
        _restart_numbering(body[-1])  # type: ignore[index]
    target = bodies[0]
    assert target is not None
    for body in bodies[1:]:
        assert body is not None
        # The previous letter's last paragraph now ends its section, with that letter's own properties.
        ended = target[-1]
        target.remove(ended)
        _end_section_in(target[-1], ended)
        for child in list(body):  # this letter's paragraphs and tables, then its section properties
            target.append(child)
    data = etree.tostring(roots[0], xml_declaration=True, encoding="UTF-8", standalone=True)
    part = out.with_name(out.name + ".part")
    with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
        for name in first:
            z.writestr(name, data if name == DOCUMENT else first[name])
    part.replace(out)
    return True


def first_pages(pages: Sequence[str], markers: Sequence[str]) -> list[int] | None:
    """The index of each letter's first page: the first page after the previous letter's first page that
    shows the letter's marker (its "Số: 05/UBND-KSTTHC"). None if a letter's marker is not found or the
    first letter does not start on the first page."""
    starts: list[int] = []
    page = 0
    for marker in markers:
        while page < len(pages) and marker not in pages[page]:
            page += 1
        if page >= len(pages):
            return None
        starts.append(page)
        page += 1
    return starts if starts and starts[0] == 0 else None
