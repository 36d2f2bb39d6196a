"""The official copy: .docx to PDF with a pool of warm LibreOffice workers, every PDF verified.

    with PdfConverter(workers=2) as conv:
        info = conv.convert(docx, pdf, expect_text=["Số: 05/UBND-KSTTHC"])
        results = conv.convert_many([PdfJob(docx, pdf, expect_text), ...])

    pdf = make_pdf(docx, expect_text)   # one document: x.docx -> x.pdf, on the process's converter
    with lent(first=2) as conv: ...        # the process's converter, kept warm between runs (pdf/shared.py)

Every failure is a one-line ``congvan.errors.PdfError`` naming the file (LibreOffice missing, a document it
cannot open, a worker that hung or died twice, a PDF that fails verification).
"""

from congvan.pdf.pool import PdfConverter, PdfJob, PdfResult, default_workers
from congvan.pdf.shared import lent, make_pdf
from congvan.pdf.toolchain import Missing, Toolchain, check_available, which_missing
from congvan.pdf.verify import ALLOWED_FONTS, PdfInfo, normalize_text, verify_pdf

__all__ = [
    "ALLOWED_FONTS",
    "Missing",
    "PdfConverter",
    "PdfInfo",
    "PdfJob",
    "PdfResult",
    "Toolchain",
    "check_available",
    "default_workers",
    "lent",
    "make_pdf",
    "normalize_text",
    "verify_pdf",
    "which_missing",
]
