"""Checking a PDF before it leaves: pages, text and fonts, read back with poppler-utils.

LibreOffice's exit codes and messages cannot be trusted (docs/design.md §4.4), so the PDF itself is the
evidence: it exists, is not empty, has at least one page and contains the strings the caller names
(``pdftotext``, one run for both), and uses only Liberation Serif or Times New Roman, embedded (``pdffonts``).
A DejaVu font in the list means LibreOffice fell back because a glyph was missing: with Liberation v1 it
happens for ơ, ư and most letters with two diacritics, so the letter would print in two typefaces.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from congvan.errors import PdfError
from congvan.i18n import _

# Families allowed, compared with spaces removed against the font's PostScript name (subset tag dropped):
# "LiberationSerif-Bold", "TimesNewRomanPSMT", "TimesNewRomanPS-BoldMT".
ALLOWED_FONTS: tuple[str, ...] = ("LiberationSerif", "TimesNewRoman")
TOOL_TIMEOUT_S = 60.0
POPPLER_HINT = "apt-get install poppler-utils"

_SUBSET_TAG = re.compile(r"^[A-Z]{6}\+")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class PdfInfo:
    """What verification read from a PDF: its page count and its fonts (base names, sorted)."""

    pages: int
    fonts: tuple[str, ...]


@dataclass(frozen=True)
class _Font:
    name: str
    embedded: bool


def normalize_text(text: str) -> str:
    """NFC with every run of whitespace made one space: pdftotext breaks lines where the layout does."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def verify_pdf(pdf: Path, expect_text: Iterable[str] = (), *, allowed_fonts: Iterable[str] = ALLOWED_FONTS,
               shown: Path | None = None) -> PdfInfo:
    """Check ``pdf`` and return its page count and fonts; any failure is a one-line ``PdfError``.

    ``shown`` is the name used in messages (the pool verifies a temporary file that becomes ``shown``).
    """
    label = shown or pdf
    if not pdf.is_file():
        raise PdfError(_("{label}: no PDF was produced").format(label=label))
    if pdf.stat().st_size == 0:
        raise PdfError(_("{label}: the PDF is empty").format(label=label))
    fonts = _fonts(pdf, label)
    _check_fonts(fonts, tuple(f.replace(" ", "") for f in allowed_fonts), label)
    pages = _pages_with_text(pdf, expect_text, label)
    return PdfInfo(pages=pages, fonts=tuple(sorted({f.name for f in fonts})))


def verify_text(pdf: Path, expect_text: Iterable[str] = (), *, shown: Path | None = None) -> int:
    """The page count of ``pdf``, after checking it is a PDF whose text has every string of ``expect_text``
    (``verify_pdf`` without the fonts, for a letter cut from a joined PDF whose fonts were checked)."""
    label = shown or pdf
    if not pdf.is_file() or pdf.stat().st_size == 0:
        raise PdfError(_("{label}: no PDF was produced").format(label=label))
    return _pages_with_text(pdf, expect_text, label)


def _pages_with_text(pdf: Path, expect_text: Iterable[str], label: Path) -> int:
    # One pass of pdftotext gives both the text and the page count (it ends every page with a form feed):
    # two poppler runs a letter instead of three (pdfinfo), a third of the verification cost.
    text = _run("pdftotext", ["-enc", "UTF-8", str(pdf), "-"], label)
    pages = text.count("\f")
    if pages < 1:
        raise PdfError(_("{label}: the PDF has no pages").format(label=label))
    expected = [normalize_text(s) for s in expect_text]
    if expected:
        _check_text(normalize_text(text), expected, label)
    return pages


@dataclass(frozen=True)
class Pages:
    """A PDF cut into one file per page, with each page's text."""

    files: list[Path]
    texts: list[str]


def split_pages(pdf: Path, folder: Path, pages: int) -> Pages:
    """One PDF per page of ``pdf`` in ``folder`` (one ``pdfseparate`` run) and each page's text (one
    ``pdftotext`` run, pages ended by form feeds)."""
    label = pdf
    texts = _run("pdftotext", ["-enc", "UTF-8", str(pdf), "-"], label).split("\f")[:pages]
    _run("pdfseparate", [str(pdf), str(folder / "page-%d.pdf")], label)
    files = [folder / f"page-{n}.pdf" for n in range(1, pages + 1)]
    if len(texts) != pages or not all(f.is_file() for f in files):
        raise PdfError(_("{label}: could not cut it into its {pages} pages").format(label=label, pages=pages))
    return Pages(files, texts)


def unite(pages: list[Path], out: Path) -> None:
    """``out``: the pages one after the other (a rename for one page, ``pdfunite`` for more)."""
    if len(pages) == 1:
        pages[0].replace(out)
    else:
        _run("pdfunite", [*(str(p) for p in pages), str(out)], out)


def _run(tool: str, args: list[str], label: Path) -> str:
    try:
        proc = subprocess.run([tool, *args], capture_output=True, timeout=TOOL_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise PdfError(_("{tool} not found, cannot verify {label}: {hint}").format(tool=tool, label=label,
                                                                                    hint=POPPLER_HINT)) from None
    except subprocess.TimeoutExpired:
        raise PdfError(_("{label}: {tool} gave no answer within {seconds:g} s").format(
            label=label, tool=tool, seconds=TOOL_TIMEOUT_S)) from None
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PdfError(_("{label}: not a readable PDF ({tool}: {detail})").format(
            label=label, tool=tool, detail=detail[0] if detail else f"exit {proc.returncode}"))
    return proc.stdout.decode("utf-8", "replace")


def _fonts(pdf: Path, label: Path) -> list[_Font]:
    """Parse ``pdffonts``: the name is the first column (its width is given by the dashes under the header),
    "emb" is the fifth field from the right (type and encoding may contain spaces, the last five never do)."""
    lines = _run("pdffonts", [str(pdf)], label).splitlines()
    if len(lines) < 2 or not lines[1].startswith("-"):
        raise PdfError(_("{label}: cannot read the font list (pdffonts printed {lines})").format(label=label,
                                                                                                 lines=lines[:1]))
    name_width = len(lines[1].split(" ")[0])
    fonts = []
    for line in lines[2:]:
        fields = line.split()
        if len(fields) < 7:
            continue
        name = line[:name_width].strip() if line[name_width:name_width + 1] == " " else fields[0]
        fonts.append(_Font(name=_SUBSET_TAG.sub("", name), embedded=fields[-5] == "yes"))
    return fonts


def _check_fonts(fonts: list[_Font], allowed: tuple[str, ...], label: Path) -> None:
    for font in fonts:
        key = font.name.replace(" ", "")
        if not key.startswith(allowed):
            raise PdfError(_("{label}: font {font} is not {allowed} (LibreOffice fell back: is fonts-liberation2 "
                             "installed, and the font set in the .docx?)").format(
                label=label, font=font.name, allowed=" or ".join(allowed)))
        if not font.embedded:
            raise PdfError(_("{label}: font {font} is not embedded").format(label=label, font=font.name))


def _check_text(text: str, expected: list[str], label: Path) -> None:
    for wanted in expected:
        if wanted not in text:
            raise PdfError(_("{label}: the PDF text lacks {wanted!r}").format(label=label, wanted=wanted))
