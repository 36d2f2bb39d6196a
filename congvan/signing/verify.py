"""``congvan verify``: every signature of a PDF checked: who, as what, when, intact, coverage, trust, timestamp.

The role is read from the certificate, as Vietnam's government CA issues them: an organisation's certificate
names the agency as its subject (CN equal to O: "Ủy ban nhân dân tỉnh Đắk Lắk"), a person's names the person
(CN = "Phạm Ngọc Nghị", O = the agency). So ``organisation`` when the subject's CN equals its O (NFC, case and
spacing ignored), ``signer`` otherwise. A signature passes when it is intact and valid, its chain reaches a
trust root, its timestamp (if any) is valid and trusted, and what was added after it is no more than form
filling (a later signature): the signer's signature is followed by the organisation's, so only the last one
covers the entire file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from congvan.errors import SigningError
from congvan.i18n import N_, _
from congvan.signing import hexstrings
from congvan.signing.keys import load_certs, same_name, subject_field

Role = Literal["signer", "organisation"]
_ALLOWED_AFTER = {"NONE", "LTA_UPDATES", "FORM_FILLING"}


@dataclass(frozen=True)
class SignatureVerdict:
    field: str
    signer: str                 # the certificate's CN
    organisation: str           # the certificate's O
    role: Role
    signed_at: dt.datetime | None
    intact: bool
    valid: bool
    coverage: str               # entire_file, entire_revision, partial
    modifications: str          # after this signature: none, form_filling, annotations, other, unknown
    trusted: bool
    timestamped: bool
    timestamp_ok: bool | None   # None when not timestamped
    timestamp_at: dt.datetime | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return (self.problem is None and self.intact and self.valid and self.trusted
                and self.coverage in ("entire_file", "entire_revision")
                and self.modifications.upper() in _ALLOWED_AFTER
                and (not self.timestamped or bool(self.timestamp_ok)))

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            data[name] = value.isoformat(timespec="seconds") if isinstance(value, dt.datetime) else value
        data["ok"] = self.ok
        return data


@dataclass(frozen=True)
class FileVerdict:
    path: Path
    signatures: list[SignatureVerdict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.signatures) and all(s.ok for s in self.signatures)

    def as_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "ok": self.ok, "signatures": [s.as_json() for s in self.signatures]}


def role_of(cn: str, organisation: str) -> Role:
    return "organisation" if organisation and same_name(cn, organisation) else "signer"


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise SigningError(_("file not found"), subject=str(path))
    with path.open("rb") as f:
        head = f.read(1024)
    if b"%PDF-" not in head:
        raise SigningError(_("not a PDF"), subject=str(path))


def verify(paths: Sequence[Path], *, trust_roots: Path | None) -> list[FileVerdict]:
    """One verdict per file, one entry per signature, in the order they were applied. A missing file or one that
    is not a PDF is a ``SigningError`` (checked for every file before any is read)."""
    for path in paths:
        _check_file(path)
    roots = load_certs(trust_roots, what=N_("trust roots")) if trust_roots is not None else []
    return [_verify_file(path, roots) for path in paths]


def _verify_file(path: Path, roots: list[Any]) -> FileVerdict:
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    hexstrings.install()  # the signatures' /Contents read in one slice each
    try:
        with path.open("rb") as f:
            reader = PdfFileReader(f, strict=False)
            sigs = list(reader.embedded_signatures)
            return FileVerdict(path, [_verify_one(sig, roots) for sig in sigs])
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        return FileVerdict(path, [_broken(f"the PDF cannot be read: {type(exc).__name__}: {exc}")])


def _broken(problem: str, field_name: str = "?") -> SignatureVerdict:
    return SignatureVerdict(field=str(field_name), signer="?", organisation="", role="signer", signed_at=None,
                            intact=False, valid=False, coverage="partial", modifications="unknown", trusted=False,
                            timestamped=False, timestamp_ok=None, timestamp_at=None, problem=" ".join(problem.split()))


def _verify_one(sig: Any, roots: list[Any]) -> SignatureVerdict:
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    def context() -> ValidationContext:
        return ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")

    try:
        cert = sig.signer_cert
        cn, org = subject_field(cert, "common_name"), subject_field(cert, "organization_name")
    except Exception as exc:
        return _broken(f"the signature cannot be read: {type(exc).__name__}", sig.field_name)
    try:
        status = validate_pdf_signature(
            sig, signer_validation_context=context(), ts_validation_context=context(),
            key_usage_settings=KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"},
                                                   match_all_key_usages=False))
    except Exception as exc:
        broken = _broken(f"cannot be validated: {type(exc).__name__}: {exc}", sig.field_name)
        return replace(broken, signer=cn, organisation=org, role=role_of(cn, org))
    coverage = {SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
                SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision"}.get(status.coverage, "partial") \
        if status.coverage is not None else "partial"
    level = status.modification_level
    ts = status.timestamp_validity
    signed_at = ts.timestamp if ts is not None else status.signer_reported_dt
    return SignatureVerdict(
        field=str(sig.field_name), signer=cn, organisation=org, role=role_of(cn, org),
        signed_at=_vn(status.signer_reported_dt or signed_at), intact=bool(status.intact), valid=bool(status.valid),
        coverage=coverage, modifications=level.name.lower() if level is not None else "unknown",
        trusted=bool(status.trusted), timestamped=ts is not None,
        timestamp_ok=(bool(ts.intact and ts.valid and ts.trusted) if ts is not None else None),
        timestamp_at=_vn(ts.timestamp) if ts is not None else None)


def _vn(at: dt.datetime | None) -> dt.datetime | None:
    """A time as Vietnam reads it (+07:00), a plain datetime whatever pyHanko's zone object was."""
    return at.astimezone(dt.timezone(dt.timedelta(hours=7))) if at is not None else None
