"""A letter of several pages that ``pdfunite`` put together (congvan/signing/xref.py): signed as poppler wrote it,
its trailer's /Size only made to agree with its cross-reference table, not rewritten whole; both signatures
verify, and a changed byte still fails them."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from pathlib import Path

import pytest

from congvan.signing import Signing, verify
from congvan.signing.xref import with_table_size
from tests.signing_support import (
    AUTHORITY,
    SIGNER,
    SIGNER_NAME,
    SIGNER_TITLE,
    fresh_pdf,
    pki_folder,
    pki_signing,
)

VN = dt.timezone(dt.timedelta(hours=7))


def united(tmp_path: Path) -> Path:
    """The sample dispatch cut into its pages and put together again by poppler, as a joined conversion does."""
    pdf = fresh_pdf(tmp_path, "source.pdf")
    subprocess.run(["pdfseparate", str(pdf), str(tmp_path / "page-%d.pdf")], check=True)
    pages = sorted(tmp_path.glob("page-*.pdf"))
    assert len(pages) >= 2
    out = tmp_path / "united.pdf"
    subprocess.run(["pdfunite", *map(str, pages), str(out)], check=True)
    return out


def strictly_readable(data: bytes) -> bool:
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        PdfFileReader(io.BytesIO(data), strict=True)
    except PdfError:
        return False
    return True


def test_only_the_trailers_size_changes(tmp_path: Path) -> None:
    data = united(tmp_path).read_bytes()
    assert not strictly_readable(data)  # poppler's /Size is the count of objects in use, not the table's length
    fixed = with_table_size(data)
    assert fixed is not None and strictly_readable(fixed)
    differ = [i for i, (a, b) in enumerate(zip(data, fixed, strict=False)) if a != b]
    assert differ and data.rfind(b"/Size") < differ[0] and differ[-1] < data.rfind(b"startxref")
    assert with_table_size(fixed) is None  # nothing left to make right
    assert with_table_size(fresh_pdf(tmp_path).read_bytes()) is None  # LibreOffice's own file is right
    assert with_table_size(b"%PDF-1.4\nnot a pdf\n%%EOF\n") is None


@pytest.fixture
def signing(monkeypatch: pytest.MonkeyPatch) -> Signing:
    return pki_signing(monkeypatch)


def test_signed_as_poppler_wrote_it_and_verified(signing: Signing, tmp_path: Path) -> None:
    pdf = united(tmp_path)
    fixed = with_table_size(pdf.read_bytes())
    assert fixed is not None
    signing.sign_issued(pdf, authority=AUTHORITY, signer=SIGNER, signer_title=SIGNER_TITLE, signer_name=SIGNER_NAME,
                        so_ky_hieu="15/UBND-KSTTHC", signed_at=dt.datetime.now(VN).replace(microsecond=0))
    signed = pdf.read_bytes()
    assert signed.startswith(fixed)  # two incremental updates after poppler's bytes, nothing rewritten
    [verdict] = verify([pdf], trust_roots=pki_folder() / "root.pem")
    assert verdict.ok, verdict.as_json()
    assert [(s.coverage, s.modifications) for s in verdict.signatures] == [("entire_revision", "form_filling"),
                                                                          ("entire_file", "none")]
    broken = bytearray(signed)
    broken[signed.index(b"/MediaBox")] ^= 0x20  # a byte of a page, inside both signatures' ranges
    pdf.write_bytes(bytes(broken))
    [verdict] = verify([pdf], trust_roots=pki_folder() / "root.pem")
    assert not verdict.ok and not any(s.intact for s in verdict.signatures)
