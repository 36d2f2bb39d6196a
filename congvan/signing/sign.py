"""Signing issued PDFs: the signer's signature, then the organisation's (Decree 30 Art. 5, 13(7), 32(2)(d)).

PAdES baseline B-B (signing time in /M, the signing certificate as a signed attribute), B-T when a time-stamp
authority is configured. Each signature is its own incremental update and none is a certification signature,
so the second does not invalidate the first. Images and positions: ``layout.py``.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from congvan.errors import SigningError
from congvan.i18n import N_, _
from congvan.render import write_atomically
from congvan.signing import hexstrings, layout, xref
from congvan.signing.keyring import Keyring, Organisation, SignerKey, load_keyring
from congvan.signing.keys import (
    OpenKey,
    check_chain,
    check_image,
    check_key_matches,
    check_validity,
    load_certs,
    open_identity,
    same_name,
    subject_field,
)
from congvan.textlayout import Box, LastPage

if TYPE_CHECKING:
    from asn1crypto import x509

    from congvan.settings import Settings

SIGNER_FIELD = "NguoiKy"      # the competent person's signature field
ORGANISATION_FIELD = "CoQuan"  # the organisation's (applied by the records office)
VN = dt.timezone(dt.timedelta(hours=7))


def iso_time(at: dt.datetime) -> str:
    """ISO 8601 with Vietnam's offset, as Circular 01/2019 shows it: 2023-02-10T09:15:02+07:00."""
    return at.astimezone(VN).isoformat(timespec="seconds")


def load_signing(settings: Settings) -> Signing | None:
    """The signing set up by ``CONGVAN_SIGNING_KEYS`` (None when unset). Reads and validates the keyring only;
    keys are opened by ``preflight`` or the first signature."""
    if settings.signing_keys is None:
        return None
    ring = load_keyring(settings.signing_keys)
    roots = settings.trust_roots or ring.trust_roots
    if roots is None:
        raise SigningError(_("no trust roots: set CONGVAN_TRUST_ROOTS or trust_roots in the keyring"),
                           subject=str(settings.signing_keys))
    return Signing(ring, trust_roots=roots, tsa_url=settings.tsa_url, source=settings.signing_keys)


@dataclass
class _Slot:
    """One identity of the keyring, opened once and checked once per Signing."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    key: OpenKey | None = None
    chain_checked: bool = False


class Signing:
    """Signs with the keyring's identities. Thread-safe; keys stay open until ``close()``."""

    def __init__(self, keyring: Keyring, *, trust_roots: Path, tsa_url: str | None = None,
                 source: Path | None = None) -> None:
        self.keyring = keyring
        self.trust_roots_path = trust_roots
        self.tsa_url = tsa_url
        self.source = source
        self._roots: list[x509.Certificate] | None = None
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._tsa: Any = None

    # --- identities --------------------------------------------------------------------------------------

    def _organisation(self, authority: str) -> Organisation:
        org = self.keyring.organisations.get(authority)
        if org is None:
            raise SigningError(_("no organisation key in the keyring {source}").format(source=self.source or "")
                               .rstrip(), subject=authority)
        return org

    def _signer(self, authority: str, signer: str) -> SignerKey:
        name = f"{authority}/{signer}"
        key = self.keyring.signers.get(name)
        if key is None:
            raise SigningError(_("no signer key in the keyring {source}").format(source=self.source or "").rstrip(),
                               subject=name)
        return key

    def _roots_list(self) -> list[x509.Certificate]:
        if self._roots is None:
            self._roots = load_certs(self.trust_roots_path, what=N_("trust roots"))
        return self._roots

    def _slot(self, name: str) -> _Slot:
        with self._lock:
            return self._slots.setdefault(name, _Slot())

    def _open(self, name: str, ident: Organisation | SignerKey, at: dt.datetime) -> OpenKey:
        """The identity opened and checked: validity at ``at`` every time; key, chain once."""
        slot = self._slot(name)
        with slot.lock:
            if slot.key is None:
                slot.key = open_identity(name, ident)
            key = slot.key
            check_validity(key, at)
            if not slot.chain_checked:
                check_key_matches(key)
                check_chain(key, self._roots_list(), at)
                slot.chain_checked = True
            return key

    def close(self) -> None:
        with self._lock:
            for slot in self._slots.values():
                if slot.key is not None:
                    slot.key.close()
            self._slots.clear()

    def __enter__(self) -> Signing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API the flows call ------------------------------------------------------------------------

    def preflight(self, *, authority: str, signer: str, signer_name: str, at: dt.datetime) -> None:
        """Before any number is taken: both identities present, keys open (password/PIN right, token present),
        key matching certificate, certificates valid at ``at`` and chaining to a trust root, the signer's
        certificate naming ``signer_name``, the images PNG with a transparent background."""
        _aware(at)
        org = self._organisation(authority)
        person = self._signer(authority, signer)
        name = f"{authority}/{signer}"
        check_image(person.signature, subject=name, what=N_("signature"))
        check_image(org.seal, subject=authority, what=N_("seal"))
        key = self._open(name, person, at)
        if not same_name(key.common_name, signer_name):
            raise SigningError(_("the certificate is issued to {holder!r}, not to the signer {signer!r}").format(
                holder=key.common_name, signer=signer_name), subject=name)
        self._open(authority, org, at)

    def sign_issued(self, pdf: Path, *, authority: str, signer: str, signer_title: str, signer_name: str,
                    so_ky_hieu: str, signed_at: dt.datetime, last_page: LastPage | None = None) -> Path:
        """The signer's signature (image between title and name, on the last page), then the organisation's
        (the seal over the image's left third, with its name and the time). Written in place atomically; a PDF
        already carrying both is left alone, one carrying only the signer's gets the organisation's. The last
        page's layout is ``last_page`` when it was read from these very bytes (the PDF stage's), else poppler's."""
        _aware(signed_at)
        done = _signed_fields(pdf)
        if {SIGNER_FIELD, ORGANISATION_FIELD} <= done:
            return pdf
        self.preflight(authority=authority, signer=signer, signer_name=signer_name, at=signed_at)
        org = self._organisation(authority)
        person = self._signer(authority, signer)
        org_key = self._open(authority, org, signed_at)
        person_key = self._open(f"{authority}/{signer}", person, signed_at)
        data = pdf.read_bytes()
        block = layout.find_signature_block(pdf, title=signer_title, name=signer_name, known=last_page, data=data)
        sig_box = layout.signature_box(block, _aspect(person.signature))
        org_box, _ = layout.seal_box(sig_box, org.seal_diameter_mm)
        if not done:
            data = xref.strictly_readable(data)
        if SIGNER_FIELD not in done:
            data = self._sign_bytes(
                data, person_key, field_name=SIGNER_FIELD, page=block.page, box=sig_box,
                style=_image_style(person.signature), signed_at=signed_at,
                reason=f"{signer_title.strip()} ký văn bản số {so_ky_hieu}", subject=str(pdf))
        organisation = subject_field(org_key.cert, "organization_name") or org_key.common_name
        data = self._sign_bytes(
            data, org_key, field_name=ORGANISATION_FIELD, page=block.page, box=org_box,
            style=_seal_style(org.seal, organisation, signed_at), signed_at=signed_at,
            reason=f"Cơ quan ban hành: {organisation}; thời gian ký: {iso_time(signed_at)}", subject=str(pdf))
        write_atomically(pdf, data, durable=True)
        return pdf

    def sign_attachment(self, pdf: Path, *, authority: str, so_ky_hieu: str, signed_at: dt.datetime) -> Path:
        """A separate attachment file (Appendix I, III.1(d)): the organisation's signature, no image, the number
        and symbol and the signing time in Times New Roman 10, upright, black, top right of page 1."""
        _aware(signed_at)
        if ORGANISATION_FIELD in _signed_fields(pdf):
            return pdf
        org = self._organisation(authority)
        key = self._open(authority, org, signed_at)
        _, size, _ = layout.page_lines(pdf, 0)
        text = f"{so_ky_hieu}\n{iso_time(signed_at)}"
        width = max(_text_width(line, 10) for line in text.splitlines()) + 2
        box = layout.attachment_box(size, width, 2 * 12 + 4)
        data = self._sign_bytes(
            xref.strictly_readable(pdf.read_bytes()), key, field_name=ORGANISATION_FIELD, page=0, box=box,
            style=_text_style(text), signed_at=signed_at, reason=f"Văn bản kèm theo văn bản số {so_ky_hieu}",
            subject=str(pdf))
        write_atomically(pdf, data, durable=True)
        return pdf

    # --- pyHanko ---------------------------------------------------------------------------------------

    def _sign_bytes(self, data: bytes, key: OpenKey, *, field_name: str, page: int, box: Box, style: Any,
                    signed_at: dt.datetime, reason: str, subject: str) -> bytes:
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.pdf_utils.misc import PdfError
        from pyhanko.sign import fields, signers

        meta = signers.PdfSignatureMetadata(
            field_name=field_name, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
            name=key.common_name, reason=reason, certify=False)
        spec = fields.SigFieldSpec(field_name, on_page=page, box=tuple(round(v, 2) for v in box))  # type: ignore[arg-type]
        pdf_signer = _TimedPdfSigner(meta, signer=key.signer, stamp_style=style, new_field_spec=spec,
                                     timestamper=self._timestamper(), system_time=signed_at.astimezone(VN))
        out = io.BytesIO()
        slot = self._slot(key.name)
        try:
            writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
            with slot.lock:
                # Space reserved up front: pyHanko would otherwise build the CMS twice (once to measure it),
                # a quarter of the signing time. A chain of three certificates is ~4 KB; a time-stamp token ~5 KB.
                pdf_signer.sign_pdf(writer, output=out, bytes_reserved=16384 if self.tsa_url else 8192)
        except PdfError as exc:
            raise SigningError(_("cannot be signed: {error}").format(error=_short(exc)), subject=subject) from None
        except Exception as exc:
            raise SigningError(_("signing with {key} failed: {kind}: {error}").format(
                key=key.name, kind=type(exc).__name__, error=_short(exc)), subject=subject) from None
        return out.getvalue()

    def _timestamper(self) -> Any:
        """One per Signing: pyHanko keeps the TSA's first answer to size later signatures without asking again."""
        if not self.tsa_url:
            return None
        with self._lock:
            if self._tsa is None:
                from pyhanko.sign.timestamps import HTTPTimeStamper

                self._tsa = HTTPTimeStamper(self.tsa_url, timeout=30)
            return self._tsa


def _aware(at: dt.datetime) -> None:
    if at.tzinfo is None:
        raise SigningError(_("a signing time needs its time zone (e.g. +07:00)"), subject=at.isoformat())


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def _signed_fields(pdf: Path) -> set[str]:
    """The names of the signature fields of ``pdf`` that hold a signature."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    if not pdf.is_file():
        raise SigningError(_("file not found"), subject=str(pdf))
    hexstrings.install()  # a signature's /Contents read in one slice
    try:
        with pdf.open("rb") as f:
            reader = PdfFileReader(f, strict=False)
            return {sig.field_name for sig in reader.embedded_signatures}
    except (PdfError, ValueError, KeyError) as exc:
        raise SigningError(_("not a readable PDF: {error}").format(error=_short(exc)), subject=str(pdf)) from None


def _aspect(image: Path) -> float:
    from PIL import Image

    with Image.open(image) as im:
        return float(im.width) / float(im.height)


def _no_margins() -> Any:
    from pyhanko.pdf_utils.layout import Margins

    return Margins(0, 0, 0, 0)


def _tight(x: Any, y: Any) -> Any:
    from pyhanko.pdf_utils.layout import SimpleBoxLayoutRule

    return SimpleBoxLayoutRule(x_align=x, y_align=y, margins=_no_margins())


def _image_style(image: Path) -> Any:
    """Image only: no border, full opacity, no margins, the image fitted to the field."""
    from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, SimpleBoxLayoutRule
    from pyhanko.stamp import StaticStampStyle

    from congvan.signing import stamps

    return StaticStampStyle(
        background=stamps.image(image), border_width=0, background_opacity=1.0,
        background_layout=SimpleBoxLayoutRule(x_align=AxisAlignment.ALIGN_MID, y_align=AxisAlignment.ALIGN_MID,
                                              margins=_no_margins(), inner_content_scaling=InnerScaling.STRETCH_TO_FIT))


def _font(size: int) -> Any:
    from congvan.signing import stamps

    return stamps.SharedFontFactory(str(layout.stamp_font()), font_size=size)


def _seal_style(seal: Path, organisation: str, signed_at: dt.datetime) -> Any:
    """The seal at the top of the field, the organisation and the time in 6 pt under it (Circular 01/2019)."""
    from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, Margins, SimpleBoxLayoutRule
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.stamp import TextStampStyle

    from congvan.signing import stamps

    text = f"{organisation}\n{iso_time(signed_at)}".replace("%", "%%")
    return TextStampStyle(
        background=stamps.image(seal), border_width=0, background_opacity=1.0,
        background_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID, y_align=AxisAlignment.ALIGN_MAX,
            margins=Margins(0, 0, 0, layout.SEAL_INFO_HEIGHT), inner_content_scaling=InnerScaling.STRETCH_TO_FIT),
        stamp_text=text,
        text_box_style=TextBoxStyle(font=_font(6), font_size=6, leading=7, border_width=0, text_color=(0, 0, 0),
                                    box_layout_rule=_tight(AxisAlignment.ALIGN_MID, AxisAlignment.ALIGN_MIN)),
        inner_content_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID, y_align=AxisAlignment.ALIGN_MIN, margins=_no_margins(),
            inner_content_scaling=InnerScaling.SHRINK_TO_FIT))


def _text_style(text: str) -> Any:
    """Text only, Times New Roman (or Liberation Serif) 10, black, right-aligned in the field."""
    from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, SimpleBoxLayoutRule
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.stamp import TextStampStyle

    return TextStampStyle(
        border_width=0, background=None, stamp_text=text.replace("%", "%%"),
        text_box_style=TextBoxStyle(font=_font(10), font_size=10, leading=12, border_width=0, text_color=(0, 0, 0),
                                    box_layout_rule=_tight(AxisAlignment.ALIGN_MAX, AxisAlignment.ALIGN_MAX)),
        inner_content_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MAX, y_align=AxisAlignment.ALIGN_MAX, margins=_no_margins(),
            inner_content_scaling=InnerScaling.NO_SCALING))


def _text_width(text: str, size: float) -> float:
    from PIL import ImageFont

    font = ImageFont.truetype(str(layout.stamp_font()), size=100)
    return float(font.getlength(text)) * size / 100


@functools.cache
def _timed_signer_class() -> type:
    from pyhanko.sign.signers import PdfSigner

    class TimedPdfSigner(PdfSigner):
        """A PdfSigner whose signing time (/M, the appearance's time) is the one given, with its offset."""

        def __init__(self, *args: Any, system_time: dt.datetime, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._system_time = system_time

        def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
            session = super().init_signing_session(pdf_out, existing_fields_only)
            session.system_time = self._system_time
            return session

    return TimedPdfSigner


def _TimedPdfSigner(*args: Any, **kwargs: Any) -> Any:
    return _timed_signer_class()(*args, **kwargs)
