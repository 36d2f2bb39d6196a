"""The parts of a signature's appearance that are the same in every document, prepared once per process.

pyHanko builds a stamp from scratch for each signature: it decodes the PNG and deflates its pixels and alpha mask
again, parses the font, subsets it with fontTools and serialises the subset again. For a run of letters signed
by the same people that is most of the appearance's cost (about 35 ms of a letter's two signatures), and the
result is the same bytes every time. Here the image's PDF streams and the font's subset are made once per
process and copied into each document; what each document says (its time, its text) is still laid out and
written per signature by pyHanko.
"""

from __future__ import annotations

import functools
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine, FontEngineFactory
from pyhanko.pdf_utils.font.opentype import CIDFontType2, GlyphAccumulator
from pyhanko.pdf_utils.images import PdfImage, pil_image
from pyhanko.pdf_utils.writer import BasePdfFileWriter, PdfFileWriter

# Characters a signing time can show (ISO 8601 with its offset): always in the font subset, so that one subset
# serves every signing time of a run instead of one per set of digits.
TIME_CHARS = "0123456789-:+T"

_lock = threading.Lock()


# --- images ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Streams:
    """An image XObject and its soft mask (alpha), as pyHanko writes them, already deflated."""

    image: generic.StreamObject
    mask: generic.StreamObject | None


def _key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


@functools.cache
def _image_streams(key: tuple[str, int, int]) -> tuple[Any, _Streams]:
    from PIL import Image

    with Image.open(key[0]) as opened:
        image = opened.copy()  # decoded once; pyHanko reads its size and mode
    scratch = PdfFileWriter()
    ref = pil_image(image, scratch)  # pyHanko's own conversion, into a scratch file
    stream = ref.get_object()
    mask = stream.get("/SMask")
    return image, _Streams(_deflated(stream), _deflated(mask.get_object()) if mask is not None else None)


def _deflated(stream: generic.StreamObject) -> generic.StreamObject:
    data = stream.encoded_data  # deflates now, once
    entries = {k: v for k, v in stream.items() if k not in ("/SMask", "/Length")}
    return generic.StreamObject(entries, encoded_data=data)


def _copy(stream: generic.StreamObject) -> generic.StreamObject:
    return generic.StreamObject(dict(stream.items()), encoded_data=stream.encoded_data)


class _PreparedImage(PdfImage):
    """A PdfImage whose XObject is copied from the prepared streams instead of converted again."""

    def __init__(self, image: Any, streams: _Streams) -> None:
        super().__init__(image)
        self._streams = streams

    @property
    def image_ref(self) -> generic.IndirectObject:
        assert self.writer is not None
        ref = self._image_ref
        if ref is None or ref.get_pdf_handler() is not self.writer:
            stream = _copy(self._streams.image)
            if self._streams.mask is not None:
                stream["/SMask"] = self.writer.add_object(_copy(self._streams.mask))
            self._image_ref = ref = self.writer.add_object(stream)
        return ref


def image(path: Path) -> PdfImage:
    """The PNG at ``path`` as a stamp's background (decoded and deflated once per process and file version)."""
    with _lock:
        pil, streams = _image_streams(_key(path))
    return _PreparedImage(pil, streams)


# --- fonts -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Font:
    """A TrueType font parsed once: what pyHanko's GlyphAccumulator reads to shape and measure text."""

    path: str
    tt: Any
    hb_font: Any
    ps_name: str
    glyph_set: Any
    units_per_em: int
    time_glyphs: tuple[int, ...]


@functools.cache
def _font(path: str) -> _Font:
    import uharfbuzz as hb  # type: ignore[import-untyped]
    from fontTools import ttLib
    from pyhanko.pdf_utils.font.opentype import _read_ps_name

    data = Path(path).read_bytes()
    tt = ttLib.TTFont(io.BytesIO(data))
    if "CFF " in tt:  # a CFF font is embedded another way by pyHanko; stamp_font() makes TrueType
        raise ValueError(f"{path}: a CFF font, not TrueType")
    glyph_set = tt.getGlyphSet(preferCFF=True)
    for table in ("cmap", "hmtx", "glyf", "loca", "OS/2", "hhea", "head", "post", "name"):
        tt[table]  # read now: the parsed font is shared by every accumulator of the process
    cmap = tt.getBestCmap()
    glyphs = tuple(tt.getGlyphID(cmap[ord(ch)]) for ch in TIME_CHARS if ord(ch) in cmap)
    return _Font(path, tt, hb.Font(hb.Face(data)), _read_ps_name(tt), glyph_set, tt["head"].unitsPerEm, glyphs)


# Font programs (the subset, serialised and deflated) by font and glyph set.
_font_files: dict[tuple[str, frozenset[int]], bytes] = {}


class _PreparedCIDFont(CIDFontType2):
    """The CID font whose font program is the prepared subset (set by prepare_write before embedding)."""

    font_file: bytes = b""

    def set_font_file(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        stream = generic.StreamObject({generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode")},
                                      encoded_data=self.font_file)
        ref = writer.add_object(stream)
        self._font_descriptor[generic.pdf_name("/FontFile2")] = ref
        return ref


class _SharedFontGlyphs(GlyphAccumulator):
    """pyHanko's GlyphAccumulator over a font parsed once per process, whose subset is made once per glyph set.

    The state it sets is GlyphAccumulator's own (pyHanko 0.3x, TrueType branch); only the parsed font is
    shared, read-only, and never subset in place (fontTools' subsetting is destructive: a fresh copy is)."""

    def __init__(self, writer: BasePdfFileWriter, font: _Font, font_size: int, obj_stream: Any = None) -> None:
        FontEngine.__init__(self, writer, font.ps_name, embedded_subset=True, obj_stream=obj_stream)
        self._shared = font
        self.font_size = font_size
        self.hb_font = font.hb_font
        self.tt = font.tt
        self._font_ref = writer.allocate_placeholder()
        self.cff_charset = None
        self.use_raw_gids = True
        self.cidfont_obj = _PreparedCIDFont(font.tt, font.ps_name, self.subset_prefix)
        self.features = None
        self.units_per_em = font.units_per_em
        self._glyphs: dict[int, tuple[int, int]] = {}
        self._glyph_set = font.glyph_set
        self._cid_to_unicode: dict[int, str] = {}
        self._GlyphAccumulator__reverse_cmap = None
        self.ot_language_tag = self.ot_script_tag = self.writing_direction = self.bcp47_lang_code = None
        self._subset_created = self._write_prepared = False
        for gid in font.time_glyphs:
            self._get_cid_and_width(gid)

    def _extract_subset(self, options: Any = None) -> None:
        key = (self._shared.path, frozenset(self._glyphs))
        with _lock:
            data = _font_files.get(key)
        if data is None:
            from fontTools import ttLib

            fresh = ttLib.TTFont(self._shared.path)  # the shared font stays whole
            self.tt = fresh
            try:
                super()._extract_subset(options)
                out = io.BytesIO()
                fresh.save(out)
            finally:
                self.tt = self._shared.tt
            program = generic.StreamObject(stream_data=out.getvalue())
            program.compress()
            data = program.encoded_data
            with _lock:
                _font_files[key] = data
        assert isinstance(self.cidfont_obj, _PreparedCIDFont)
        self.cidfont_obj.font_file = data


@dataclass(frozen=True)
class SharedFontFactory(FontEngineFactory):
    """Like pyHanko's GlyphAccumulatorFactory (a TrueType font file, a size), with the font shared."""

    font_file: str
    font_size: int = 10

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: Any = None) -> FontEngine:
        with _lock:
            font = _font(self.font_file)
        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()
        return _SharedFontGlyphs(writer, font, self.font_size, obj_stream)


__all__ = ["TIME_CHARS", "SharedFontFactory", "image"]
