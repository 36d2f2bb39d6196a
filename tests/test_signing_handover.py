"""A letter's last page laid out by the PDF stage and handed to signing (congvan/textlayout.py): read from the
joined conversion's page, it is what poppler reads of the letter cut from it, so the images land at the same
boxes; signing with it runs no poppler; one tied to other bytes is ignored and the PDF read instead."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import subprocess
from pathlib import Path

import pytest

from congvan.signing import Signing, layout, verify
from congvan.textlayout import LastPage, last_page, read_pages
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


def joined_and_cut(tmp_path: Path) -> tuple[Path, LastPage]:
    """Three letters in one PDF, the second cut out of it as the PDF stage cuts it (pdfseparate, pdfunite), with
    its last page laid out from the joined PDF."""
    source = fresh_pdf(tmp_path, "source.pdf")
    joined = tmp_path / "joined.pdf"
    subprocess.run(["pdfunite", str(source), str(source), str(source), str(joined)], check=True)
    (tmp_path / "pages").mkdir()
    subprocess.run(["pdfseparate", str(joined), str(tmp_path / "pages" / "page-%d.pdf")], check=True)
    count = len(list((tmp_path / "pages").iterdir())) // 3
    letter = tmp_path / "letter.pdf"
    subprocess.run(["pdfunite", *(str(tmp_path / "pages" / f"page-{n}.pdf") for n in range(count + 1, 2 * count + 1)),
                    str(letter)], check=True)
    last = 2 * count - 1  # 0-based, in the joined PDF
    pages = read_pages(joined, [last])
    return letter, last_page(letter.read_bytes(), count - 1, pages[last])


def test_the_handed_over_page_is_what_poppler_reads_of_the_letter(tmp_path: Path) -> None:
    letter, handed = joined_and_cut(tmp_path)
    assert handed.describes(letter.read_bytes())
    assert layout.page_lines(letter) == (handed.index, handed.size, list(handed.lines))
    read = layout.find_signature_block(letter, title=SIGNER_TITLE, name=SIGNER_NAME)
    assert layout.find_signature_block(letter, title=SIGNER_TITLE, name=SIGNER_NAME, known=handed,
                                       data=letter.read_bytes()) == read


@pytest.fixture
def signing(monkeypatch: pytest.MonkeyPatch) -> Signing:
    return pki_signing(monkeypatch)


def sign(signing: Signing, pdf: Path, handed: LastPage | None) -> dict[str, tuple[float, ...]]:
    """Signed (and verified); the fields' boxes."""
    signing.sign_issued(pdf, authority=AUTHORITY, signer=SIGNER, signer_title=SIGNER_TITLE, signer_name=SIGNER_NAME,
                        so_ky_hieu="15/UBND-KSTTHC", signed_at=dt.datetime.now(VN).replace(microsecond=0),
                        last_page=handed)
    [verdict] = verify([pdf], trust_roots=pki_folder() / "root.pem")
    assert verdict.ok, verdict.as_json()
    from pyhanko.pdf_utils.reader import PdfFileReader

    with pdf.open("rb") as f:
        return {s.field_name: tuple(float(v) for v in s.sig_field["/Rect"])
                for s in PdfFileReader(f).embedded_signatures}


def test_signed_with_it_at_the_same_boxes_without_running_poppler(signing: Signing, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    letter, handed = joined_and_cut(tmp_path)
    copy = tmp_path / "copy.pdf"
    copy.write_bytes(letter.read_bytes())
    read_by_poppler = sign(signing, copy, None)

    def no_poppler(*args: object, **kwargs: object) -> None:
        raise AssertionError("poppler run although the layout was handed over")

    monkeypatch.setattr(layout, "page_lines", no_poppler)
    assert sign(signing, letter, handed) == read_by_poppler


def test_a_layout_of_other_bytes_is_ignored(signing: Signing, tmp_path: Path) -> None:
    letter, handed = joined_and_cut(tmp_path)
    copy = tmp_path / "copy.pdf"
    copy.write_bytes(letter.read_bytes())
    read_by_poppler = sign(signing, copy, None)
    moved = tuple(dataclasses.replace(line, box=(line.box[0] + 90, line.box[1] + 90, line.box[2] + 90,
                                                 line.box[3] + 90)) for line in handed.lines)
    other = dataclasses.replace(handed, sha256=hashlib.sha256(b"other bytes").hexdigest(), lines=moved)
    assert sign(signing, letter, other) == read_by_poppler  # the lines moved 90 pt were not used
    # the same moved lines tied to the letter's bytes are used: the bytes are what is checked
    (tmp_path / "again").mkdir()
    again, handed_again = joined_and_cut(tmp_path / "again")
    boxes = sign(signing, again, dataclasses.replace(handed_again, lines=moved))
    assert boxes["NguoiKy"][1] == pytest.approx(read_by_poppler["NguoiKy"][1] + 90, abs=0.02)
