"""The text lines of a PDF's pages with their boxes, as poppler lays them out (``pdftotext -bbox-layout``).

Signing places its images from the lines of a letter's last page (``congvan/signing/layout.py``). The PDF stage
cuts each letter out of a joined conversion whose pages it already reads, so it reads their layout too, in one
``pdftotext -bbox-layout`` run for the group, and hands each letter's last page to signing as a ``LastPage``
tied to the letter's exact bytes (their SHA-256): signing then needs no poppler run of its own, and falls back
to one when the bytes it signs are not those (changed since, or no layout handed over).

A box is ``(x0, y0, x1, y1)`` in PDF points, origin bottom left, as a signature field's /Rect.
"""

from __future__ import annotations

import hashlib
import subprocess
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Box = tuple[float, float, float, float]
Size = tuple[float, float]


@dataclass(frozen=True)
class Line:
    text: str
    box: Box  # PDF coordinates

    @property
    def centre_x(self) -> float:
        return (self.box[0] + self.box[2]) / 2


@dataclass(frozen=True)
class LastPage:
    """The last page of the PDF whose bytes hash to ``sha256``: its index (0-based), size and lines."""

    sha256: str
    index: int
    size: Size
    lines: tuple[Line, ...]

    def describes(self, data: bytes) -> bool:
        """Whether this is the layout of ``data``, byte for byte."""
        return hashlib.sha256(data).hexdigest() == self.sha256


def last_page(data: bytes, index: int, layout: tuple[Size, list[Line]]) -> LastPage:
    """``layout``, the last page (``index``) of the PDF whose bytes are ``data``, tied to them."""
    size, lines = layout
    return LastPage(hashlib.sha256(data).hexdigest(), index, size, tuple(lines))


def read_pages(pdf: Path, wanted: Iterable[int], *, timeout: float = 60.0) -> dict[int, tuple[Size, list[Line]]]:
    """The layout of the pages numbered ``wanted`` (0-based) of ``pdf``, one ``pdftotext -bbox-layout`` run;
    empty when poppler cannot read it (a layout is a help handed over, never needed: signing reads its own)."""
    try:
        xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, check=True,
                             timeout=timeout).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return some_pages(xml, wanted)


def parse_xml(xml: bytes) -> Any:
    """pdftotext's XHTML, parsed without entities or network."""
    from lxml import etree

    return etree.fromstring(xml, parser=etree.XMLParser(recover=True, resolve_entities=False, no_network=True))


def page_layout(page: Any) -> tuple[Size, list[Line]]:
    """A ``<page>`` element's size and lines (words joined by a space, NFC), boxes in PDF coordinates."""
    width, height = float(page.get("width", "0")), float(page.get("height", "0"))
    lines = []
    for line in page.iter("{*}line"):
        words = [w.text or "" for w in line.iter("{*}word")]
        x0, y0 = float(line.get("xMin", "0")), float(line.get("yMin", "0"))
        x1, y1 = float(line.get("xMax", "0")), float(line.get("yMax", "0"))
        lines.append(Line(unicodedata.normalize("NFC", " ".join(words)), (x0, height - y1, x1, height - y0)))
    return (width, height), lines


def some_pages(xml: bytes, wanted: Iterable[int]) -> dict[int, tuple[Size, list[Line]]]:
    """The layout of the pages numbered ``wanted`` (0-based) of a whole document's ``pdftotext -bbox-layout``
    output; only those pages are parsed (a joined conversion's last pages: half of its 40 or so)."""
    bounds: list[tuple[int, int]] = []
    at = 0
    while (start := xml.find(b"<page ", at)) >= 0 and (end := xml.find(b"</page>", start)) >= 0:
        at = end + len(b"</page>")
        bounds.append((start, at))
    found = {}
    for index in sorted(set(wanted)):
        if 0 <= index < len(bounds):
            start, end = bounds[index]
            found[index] = page_layout(parse_xml(xml[start:end]))
    return found


__all__ = ["Box", "LastPage", "Line", "Size", "last_page", "page_layout", "parse_xml", "read_pages", "some_pages"]
