"""pyHanko's reader of PDF hex strings (``<3082…>``), one slice at a time instead of one byte at a time.

pyHanko 0.3x reads a hex string byte by byte through Python (``read_non_whitespace`` per digit). A signature's
``/Contents`` is one: 8,192 digits, 3.5 ms to read, and verifying a letter reads both of its signatures' (a
quarter of the verification). Here the string up to its ``>`` is read in one slice and decoded with
``binascii`` when it holds only hex digits and whitespace, which is all the signer writes; anything else (a
comment, a stray character, no ``>`` before the end) is left to pyHanko's own reader, from the same position,
so its result and its errors are pyHanko's. ``install()`` puts this reader in pyHanko's place, once a process.
"""

from __future__ import annotations

import binascii
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

_PDF_WHITESPACE = b" \n\r\t\f\x00"  # PDF 32000-1, 7.2.2 (pyHanko's PDF_WHITESPACE)
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_CHUNK = 16384

_lock = threading.Lock()
_pyhanko_reader: Callable[[BinaryIO], Any] | None = None  # pyHanko's own, once ``install()`` replaced it


def _slow_reader() -> Callable[[BinaryIO], Any]:
    from pyhanko.pdf_utils import generic

    return _pyhanko_reader or generic.read_hex_string_from_stream


def read_hex_string(stream: BinaryIO) -> Any:
    """A hex string read from ``stream`` (at its ``<``), as pyHanko's ``read_hex_string_from_stream`` returns it,
    the stream left after its ``>``."""
    from pyhanko.pdf_utils.generic import pdf_string

    start = stream.tell()
    stream.read(1)  # the "<"
    body = b""
    while (end := body.find(b">")) < 0:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        body += chunk
    if end < 0 or body[:end].translate(None, _HEX_DIGITS + _PDF_WHITESPACE):
        stream.seek(start)  # not the plain form: pyHanko's own reader decides
        return _slow_reader()(stream)
    digits = body[:end].translate(None, _PDF_WHITESPACE)
    stream.seek(start + 1 + end + 1)
    return pdf_string(binascii.unhexlify(digits + b"0" if len(digits) % 2 else digits))


def install() -> None:
    """pyHanko's parser reads hex strings with ``read_hex_string`` from now on in this process."""
    global _pyhanko_reader
    with _lock:
        if _pyhanko_reader is not None:
            return
        from pyhanko.pdf_utils import generic

        _pyhanko_reader = generic.read_hex_string_from_stream
        generic.read_hex_string_from_stream = read_hex_string


__all__ = ["install", "read_hex_string"]
