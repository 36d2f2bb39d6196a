"""The unsigned PDF as a strict reader accepts it: a ``pdfunite`` file's trailer made to agree with its table.

poppler's ``pdfunite`` (22.x) numbers the united file's objects up to the table's length but writes the count of
objects in use as the trailer's ``/Size`` (a 2-page letter: a table of 64 entries, ``/Size 50``). A strict
reader refuses it, and a signature appended to it as an incremental update would number its new objects from
``/Size``, over objects already there. The trailer comes after the table and ``startxref`` points at the table,
so putting the table's length in ``/Size`` moves no object: every other byte stays as poppler wrote it.
"""

from __future__ import annotations

import io
import re

_TAIL = 1024  # startxref and %%EOF are in the last bytes of a file
_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*\Z")
_SIZE = re.compile(rb"/Size\s+(\d+)")


def strictly_readable(data: bytes) -> bytes:
    """The unsigned PDF as a file a strict reader accepts. ``pdfunite`` (a letter of several pages cut from a
    joined conversion) writes a cross-reference table longer than its trailer's /Size; a signature appended
    to that as an incremental update does not validate. Such a file gets the /Size its table says (one number
    in its trailer, 0.3 ms); any other a strict reader refuses is rewritten whole (pyHanko's writer, 9 ms)."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    for candidate in (data, with_table_size(data)):
        if candidate is None:
            continue
        try:
            PdfFileReader(io.BytesIO(candidate), strict=True)
            return candidate
        except PdfError:
            pass
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(data), strict=False))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def with_table_size(data: bytes) -> bytes | None:
    """``data`` with its trailer's ``/Size`` raised to the length of its cross-reference table, or None when that
    is not what is wrong: no classic table at ``startxref``, an earlier revision (``/Prev``), a ``/Size`` that
    is not smaller than the table."""
    tail_at = max(0, len(data) - _TAIL)
    end = _STARTXREF.search(data, tail_at)
    if end is None:
        return None
    table_at = int(end.group(1))
    if data[table_at:table_at + 4] != b"xref":
        return None
    trailer_at = data.find(b"trailer", table_at, end.start())
    if trailer_at < 0:
        return None
    length = _table_length(data[table_at + 4:trailer_at].split())
    trailer = data[trailer_at:end.start()]
    size = _SIZE.search(trailer)
    if length is None or size is None or b"/Prev" in trailer or int(size.group(1)) >= length:
        return None
    at = trailer_at + size.start(1)
    return data[:at] + str(length).encode() + data[trailer_at + size.end(1):]


def _table_length(tokens: list[bytes]) -> int | None:
    """One past the highest object number the table's subsections (``first count`` then ``count`` entries of
    three tokens) cover; None when the tokens are not such a table."""
    length, i = 0, 0
    try:
        while i < len(tokens):
            first, count = int(tokens[i]), int(tokens[i + 1])
            i += 2 + 3 * count
            length = max(length, first + count)
    except (ValueError, IndexError):
        return None
    return length if i == len(tokens) else None


__all__ = ["strictly_readable", "with_table_size"]
