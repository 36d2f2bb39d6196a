"""One warm converter per process, lent to every run that makes PDFs and kept between runs.

Why: a LibreOffice worker costs about a second of CPU to start, and a process that runs flows one after
another (the demo's days, a session driving flows, the tests) paid it again for every run. The converter
starts as many workers as its first run asks for (the others start when jobs run at once), stays open while
runs come, closes after ``IDLE_SECONDS`` without one, and at exit: no LibreOffice outlives its process's work
by long. A worker that hangs or dies is replaced by the converter itself, as in a converter of one's own.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from congvan.pdf.pool import PdfConverter, default_workers

IDLE_SECONDS = 60.0

_lock = threading.Lock()
_converter: PdfConverter | None = None
_borrowers = 0
_closing: threading.Timer | None = None


@contextmanager
def lent(first: int = 1) -> Iterator[PdfConverter]:
    """The process's started converter (one worker a core), starting ``first`` workers if it is not running yet;
    ``PdfError`` if LibreOffice cannot start. Thread-safe: runs at once share it."""
    global _converter, _borrowers, _closing
    with _lock:  # a second borrower waits for the first one's start rather than starting another
        if _closing is not None:
            _closing.cancel()
            _closing = None
        if _converter is None:
            converter = PdfConverter(workers=default_workers())
            converter.start(first=first)
            _converter = converter
        converter, _borrowers = _converter, _borrowers + 1
    try:
        yield converter
    finally:
        with _lock:
            _borrowers -= 1
            if _borrowers == 0 and _converter is converter:
                _closing = threading.Timer(IDLE_SECONDS, _close_if_idle)
                _closing.daemon = True
                _closing.start()


def close() -> None:
    """Stop the process's converter now (at exit, or for a caller that wants LibreOffice gone)."""
    global _converter, _closing
    with _lock:
        converter, _converter = _converter, None
        if _closing is not None:
            _closing.cancel()
            _closing = None
    if converter is not None:
        converter.close()


def _close_if_idle() -> None:
    global _converter
    with _lock:
        if _borrowers or _converter is None:
            return
        converter, _converter = _converter, None
    converter.close()


atexit.register(close)


def make_pdf(docx: Path, expect_text: Sequence[str] = ()) -> Path:
    """``x.docx`` -> verified ``x.pdf`` beside it, on the process's converter."""
    pdf = docx.with_suffix(".pdf")
    with lent() as converter:
        converter.convert(docx, pdf, expect_text=expect_text)
    return pdf
