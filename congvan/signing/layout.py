"""Where the signature images go, read from the rendered PDF's own text (``pdftotext -bbox-layout``, poppler).

Decree 30, Appendix I, part I, II.7(d) and II.8(a): the signer's image centred between the title line and the
name; the seal at its real size covering about a third of the signer's image, on its left. A box here is
``(x0, y0, x1, y1)`` in PDF points, origin bottom left, as a signature field's /Rect.
"""

from __future__ import annotations

import functools
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from congvan.errors import SigningError
from congvan.i18n import _
from congvan.textlayout import Box, LastPage, Line, page_layout, parse_xml

MM = 72 / 25.4

SIGNATURE_MAX_WIDTH = 60 * MM  # the image never spreads wider than a signature column
SIGNATURE_MAX_HEIGHT = 30 * MM
GAP_PAD = 2.0                  # points kept clear above the name and below the title
SEAL_INFO_HEIGHT = 16        # two lines of 6 pt under the seal: the organisation and the signing time
SEAL_OVERLAP = 1 / 3           # of the signer's image's width, from its left edge


@dataclass(frozen=True)
class SignatureBlock:
    """The title line and the name line of the signature block, on ``page`` (0-based)."""

    page: int
    page_size: tuple[float, float]
    title: Line
    name: Line


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def page_lines(pdf: Path, page: int | None = None) -> tuple[int, tuple[float, float], list[Line]]:
    """The text lines of one page (the last when ``page`` is None): index, (width, height), lines."""
    args = ["pdftotext", "-bbox-layout"]
    if page is not None:
        args += ["-f", str(page + 1), "-l", str(page + 1)]
    try:
        out = subprocess.run([*args, str(pdf), "-"], capture_output=True, check=True, timeout=60).stdout
    except FileNotFoundError:
        raise SigningError(_("pdftotext (poppler-utils) is not installed"), subject=str(pdf)) from None
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["failed"]
        raise SigningError(_("the PDF's text cannot be read: {error}").format(error=detail[0]), subject=str(pdf)) \
            from None
    pages = parse_xml(out).findall(".//{*}page")
    if not pages:
        raise SigningError(_("the PDF has no page"), subject=str(pdf))
    index = page if page is not None else len(pages) - 1
    size, lines = page_layout(pages[-1])
    return index, size, lines


def find_signature_block(pdf: Path, *, title: str, name: str, known: LastPage | None = None,
                         data: bytes | None = None) -> SignatureBlock:
    """The last line reading ``title`` on the last page, with the line reading ``name`` under it. The last page
    is ``known`` when it is the layout of ``data``, the PDF's bytes (handed over by the PDF stage); else read
    from ``pdf`` by poppler."""
    if known is not None and data is not None and known.describes(data):
        index, size, lines = known.index, known.size, list(known.lines)
    else:
        index, size, lines = page_lines(pdf)
    want_title, want_name = _norm(title), _norm(name)
    for t in reversed([ln for ln in lines if _norm(ln.text) == want_title]):
        under = [ln for ln in lines if _norm(ln.text) == want_name and ln.box[3] <= t.box[1] + 1]
        if under:
            nearest = max(under, key=lambda ln: ln.box[3])
            return SignatureBlock(index, size, t, nearest)
    raise SigningError(_("no signature block on the last page: no line {title!r} with {name!r} under it").format(
        title=title, name=name), subject=str(pdf))


def signature_box(block: SignatureBlock, aspect: float) -> Box:
    """The signer's image: as tall as the space between title and name allows (up to 30 mm, 60 mm wide),
    centred in that space and on the title line."""
    top, bottom = block.title.box[1] - GAP_PAD, block.name.box[3] + GAP_PAD
    room = top - bottom
    if room < 5 * MM:
        raise SigningError(_("only {room:.0f} mm between {title!r} and {name!r}: no room for the signature image")
                           .format(room=room / MM, title=block.title.text, name=block.name.text),
                           subject=_("page {page}").format(page=block.page + 1))
    height = min(room, SIGNATURE_MAX_HEIGHT)
    width = height * aspect
    if width > SIGNATURE_MAX_WIDTH:
        width, height = SIGNATURE_MAX_WIDTH, SIGNATURE_MAX_WIDTH / aspect
    cx, cy = (block.title.centre_x + block.name.centre_x) / 2, (top + bottom) / 2
    return (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)


def seal_box(signature: Box, diameter_mm: float) -> tuple[Box, Box]:
    """The organisation's field: the seal at its real diameter, its right edge a third of the way into the
    signer's image, centred on it vertically, with room under it for the signature information. Returns
    (field box, seal box)."""
    d = diameter_mm * MM
    right = signature[0] + (signature[2] - signature[0]) * SEAL_OVERLAP
    cy = (signature[1] + signature[3]) / 2
    seal = (right - d, cy - d / 2, right, cy + d / 2)
    return (seal[0], seal[1] - SEAL_INFO_HEIGHT, seal[2], seal[3]), seal


def attachment_box(page_size: tuple[float, float], width: float, height: float) -> Box:
    """Top right corner of the first page, inside a 20 mm right margin and 8 mm from the top edge."""
    w, h = page_size
    right, top = w - 20 * MM, h - 8 * MM
    return (right - width, top - height, right, top)


def system_font() -> Path:
    """Times New Roman where installed, else Liberation Serif (metric-compatible; v2 has all of Vietnamese)."""
    for family in ("Times New Roman", "Liberation Serif"):
        try:
            out = subprocess.run(["fc-match", "-f", "%{family}\t%{file}", f"{family}:style=Regular"],
                                 capture_output=True, text=True, check=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            break
        found, _sep, file = out.partition("\t")
        if family.lower() in found.lower() and file.lower().endswith((".ttf", ".otf")):
            return Path(file)
    fallback = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")
    if fallback.is_file():
        return fallback
    raise SigningError(_("neither Times New Roman nor Liberation Serif (fonts-liberation2) is installed"),
                       subject=_("fonts"))


# Latin, Vietnamese (precomposed and combining marks), punctuation: what a stamp's text can hold.
_STAMP_CHARS = [*range(0x20, 0x250), *range(0x300, 0x324), *range(0x1EA0, 0x1EFA), *range(0x2000, 0x2070)]


@functools.cache
def stamp_font() -> Path:
    """The stamp font, prepared once per machine (a cached file): the Latin and Vietnamese glyphs of Times New
    Roman or Liberation Serif, rescaled to 1000 units per em. pyHanko 0.3x writes a TrueType font's widths in
    font units, which PDF reads as thousandths of an em: Liberation Serif's 2048 units would spread the text."""
    import logging
    import os
    import tempfile

    source = system_font()
    stat = source.stat()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "congvan"
    target = cache / f"{source.stem}-{stat.st_size}-{int(stat.st_mtime)}-upem1000.ttf"
    if target.is_file():
        return target
    from fontTools import subset
    from fontTools.ttLib import TTFont
    from fontTools.ttLib.scaleUpem import scale_upem

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # "FFTM NOT subset" and the like
    font = TTFont(str(source))
    options = subset.Options()
    options.layout_features, options.name_IDs, options.notdef_outline = ["*"], ["*"], True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=_STAMP_CHARS)
    subsetter.subset(font)
    if font["head"].unitsPerEm != 1000:
        scale_upem(font, 1000)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".ttf", dir=cache)
        with os.fdopen(fd, "wb") as f:
            font.save(f)
        os.replace(tmp, target)
    except OSError:  # no writable cache: a private temporary copy for this process
        fd, tmp = tempfile.mkstemp(suffix=".ttf")
        with os.fdopen(fd, "wb") as f:
            font.save(f)
        return Path(tmp)
    return target
