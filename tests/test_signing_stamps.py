"""The appearance parts prepared once per process (congvan/signing/stamps.py): documents signed one after another
in one process each carry the whole appearance, rendered: the seal's text drawn with an embedded font subset that
holds every glyph it shows, and both images with their transparency."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from congvan.signing import Signing, verify
from congvan.signing.keyring import load_keyring
from congvan.signing.testpki import PASSWORD_ENV
from tests.signing_support import (
    AUTHORITY,
    AUTHORITY_NAME,
    PASSWORD,
    SIGNER,
    SIGNER_NAME,
    SIGNER_TITLE,
    fresh_pdf,
    pki_folder,
)

VN = dt.timezone(dt.timedelta(hours=7))


def _images_and_fonts(pdf: Path, field: str) -> tuple[list[bool], list[str]]:
    """For the field's appearance: whether each image has a soft mask; the embedded fonts' names."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    masks: list[bool] = []
    fonts: list[str] = []
    with pdf.open("rb") as f:
        reader = PdfFileReader(f)
        [sig] = [s for s in reader.embedded_signatures if s.field_name == field]
        todo = [sig.sig_field["/AP"]["/N"].get_object()]
        while todo:
            resources = todo.pop().get("/Resources", {})
            for xobject in resources.get("/XObject", {}).values():
                xobject = xobject.get_object()
                if xobject["/Subtype"] == "/Image":
                    masks.append("/SMask" in xobject and len(xobject["/SMask"].get_object().data) > 0)
                else:
                    todo.append(xobject)
            for font in resources.get("/Font", {}).values():
                cid = font.get_object()["/DescendantFonts"][0].get_object()
                program = cid["/FontDescriptor"]["/FontFile2"].get_object().data
                assert program[:4] == b"\x00\x01\x00\x00"  # a TrueType font program
                fonts.append(str(cid["/BaseFont"]))
    return masks, fonts


def test_prepared_stamps_in_every_document(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    ring = load_keyring(pki_folder() / "keyring.yaml")
    assert ring.trust_roots is not None
    pdfs = [fresh_pdf(tmp_path, f"cv-{i}.pdf") for i in range(2)]
    first = dt.datetime.now(VN).replace(microsecond=0)
    times = [first, first + dt.timedelta(minutes=12, seconds=27)]  # other digits: the same subset serves both
    with Signing(ring, trust_roots=ring.trust_roots) as signing:
        for pdf, at in zip(pdfs, times, strict=True):
            signing.sign_issued(pdf, authority=AUTHORITY, signer=SIGNER, signer_title=SIGNER_TITLE,
                                signer_name=SIGNER_NAME, so_ky_hieu="15/UBND-KSTTHC", signed_at=at)
    for pdf, at in zip(pdfs, times, strict=True):
        (verdict,) = verify([pdf], trust_roots=ring.trust_roots)
        assert verdict.ok and len(verdict.signatures) == 2
        shown = subprocess.run(["pdftotext", "-f", "2", "-l", "2", str(pdf), "-"], capture_output=True, text=True,
                               check=True).stdout
        assert AUTHORITY_NAME in shown and at.isoformat() in shown  # drawn with the embedded subset
        assert _images_and_fonts(pdf, "NguoiKy") == ([True], [])
        masks, fonts = _images_and_fonts(pdf, "CoQuan")
        assert masks == [True] and len(fonts) == 1
