"""Opening a keyring identity (PKCS#12 file or PKCS#11 token) and checking it before anything is numbered.

The only module where pyHanko's, python-pkcs11's and cryptography's key errors are translated: each becomes one
``SigningError`` line naming the identity, never a password or PIN.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from congvan.content_cache import ContentCache
from congvan.errors import SigningError
from congvan.i18n import N_, _
from congvan.signing.keyring import Identity

if TYPE_CHECKING:
    from asn1crypto import x509
    from pyhanko.sign.signers import Signer

PROBE = b"congvan preflight: does the key match its certificate?"


@dataclass
class OpenKey:
    """An identity opened for signing: pyHanko's signer, its certificate, the other certificates it carries."""

    name: str
    signer: Signer
    cert: x509.Certificate
    others: list[x509.Certificate] = field(default_factory=list)
    session: Any = None  # a PKCS#11 session, closed by close()

    def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(Exception):  # a token pulled out meanwhile: nothing left to close
                self.session.close()
            self.session = None

    @property
    def common_name(self) -> str:
        return subject_field(self.cert, "common_name")


def subject_field(cert: x509.Certificate, name: str) -> str:
    value = cert.subject.native.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return unicodedata.normalize("NFC", str(value))


def same_name(a: str, b: str) -> bool:
    """Names compared as people read them: NFC, case and spacing ignored."""
    def norm(s: str) -> str:
        return " ".join(unicodedata.normalize("NFC", s).casefold().split())
    return norm(a) == norm(b)


def load_certs(path: Path, *, what: str) -> list[x509.Certificate]:
    """Certificates from a PEM/DER file, or from every .pem/.crt/.cer/.der file of a folder."""
    from pyhanko.keys import load_certs_from_pemder

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".pem", ".crt", ".cer", ".der")) \
        if path.is_dir() else [path]
    if not path.exists():
        raise SigningError(_("{what} not found").format(what=_(what)), subject=str(path))
    try:
        certs = list(load_certs_from_pemder([str(f) for f in files]))
    except (OSError, ValueError) as exc:
        raise SigningError(_("{what} cannot be read: {error}").format(what=_(what), error=type(exc).__name__),
                           subject=str(path)) from None
    if not certs:
        raise SigningError(_("{what}: no certificate found").format(what=_(what)), subject=str(path))
    return certs


def open_identity(name: str, ident: Identity) -> OpenKey:
    """Open the key: read the PKCS#12 file with its password, or log in to the token with its PIN."""
    if ident.pkcs12 is not None:
        assert ident.password is not None
        return _open_pkcs12(name, ident.pkcs12, ident.password.reveal(name))
    assert ident.pkcs11 is not None and ident.pin is not None
    return _open_pkcs11(name, ident)


# PKCS#12 identities this process has opened, by the file, its bytes and the password (content_cache.py). A PKCS#12
# file is encrypted under a deliberately slow key derivation, and a process that runs flows one after another (the
# demo's days, a session driving flows) opened the same files again for every run (the demo: 26.1 s of CPU with
# this, 31.5 s without). A file changed, or another password, opens afresh; a PKCS#11 token is logged in to anew.
_opened: ContentCache[OpenKey] = ContentCache()


def _open_pkcs12(name: str, path: Path, password: str) -> OpenKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningError(_("PKCS#12 file {path} not found").format(path=path), subject=name) from None
    except OSError as exc:
        raise SigningError(_("PKCS#12 file {path} cannot be read: {error}").format(path=path, error=exc.strerror),
                           subject=name) from None
    seen = b"\0".join((str(path.resolve()).encode("utf-8", "surrogateescape"), password.encode("utf-8"), data))
    key = _opened.get(seen, lambda _seen: _read_pkcs12(name, path, data, password))
    return key if key.name == name else replace(key, name=name)


def _read_pkcs12(name: str, path: Path, data: bytes, password: str) -> OpenKey:
    from cryptography.hazmat.primitives.serialization import pkcs12
    from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1, translate_pyca_cryptography_key_to_asn1
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    try:
        key, cert, others = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except ValueError:
        # cryptography says "Invalid password or PKCS12 data"; both are the user's to check
        raise SigningError(_("wrong password for {file}, or not a PKCS#12 file").format(file=path.name),
                           subject=name) from None
    if key is None or cert is None:
        raise SigningError(_("{file} holds no private key with its certificate").format(file=path.name), subject=name)
    asn1_cert = translate_pyca_cryptography_cert_to_asn1(cert)
    asn1_others = [translate_pyca_cryptography_cert_to_asn1(c) for c in others]
    signer = _cached_key_signer_class()(
        signing_key=translate_pyca_cryptography_key_to_asn1(key), signing_cert=asn1_cert,
        cert_registry=SimpleCertificateStore.from_certs(asn1_others))
    signer.pyca_key = key
    return OpenKey(name, signer, asn1_cert, asn1_others)


@functools.cache
def _fast_cms(base: type) -> type:
    """``base`` (a pyHanko Signer class) building its CMS without asn1crypto's repeated re-encoding.

    asn1crypto never marks a value it built as encoded: every ``dump()`` of a value made in Python (not parsed)
    encodes its whole tree again, recursively, and pyHanko dumps the signed attributes several times a signature
    (to sign them, to tag them into the SignerInfo, to write the container), rebuilding the same
    signing-certificate attribute (a hash of the certificate with its issuer) each time: two thirds of a signature's
    CPU. Here the signed attributes are encoded once and re-read, so later dumps return those bytes; and the
    signing-certificate attribute, the same for every signature of a key, is built once per key. The bytes signed
    and embedded are the ones pyHanko would have written."""
    from asn1crypto import cms
    from pyhanko.sign.attributes import CMSAttributeProvider, SigningCertificateV2Provider
    from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute

    class _Encoded(CMSAttributeProvider):
        def __init__(self, der: bytes) -> None:
            self.der = der

        async def get_attribute(self, dry_run: bool = False) -> cms.CMSAttribute:
            return cms.CMSAttribute.load(self.der)

    class FastCmsSigner(base):  # type: ignore[misc]
        _cert_attr: bytes | None = None

        def _signed_attr_providers(self, *args: Any, **kwargs: Any) -> Any:
            for provider in super()._signed_attr_providers(*args, **kwargs):
                if isinstance(provider, SigningCertificateV2Provider) and provider.signing_cert is self.signing_cert:
                    if self._cert_attr is None:
                        self._cert_attr = simple_cms_attribute(
                            provider.attribute_type, as_signing_certificate_v2(self.signing_cert)).dump()
                    yield _Encoded(self._cert_attr)
                else:
                    yield provider

        async def signed_attrs(self, *args: Any, **kwargs: Any) -> cms.CMSAttributes:
            attrs = await super().signed_attrs(*args, **kwargs)
            return cms.CMSAttributes.load(attrs.dump())

    FastCmsSigner.__name__ = FastCmsSigner.__qualname__ = f"FastCms{base.__name__}"
    return FastCmsSigner


@functools.cache
def _cached_key_signer_class() -> type:
    """pyHanko's SimpleSigner re-parses (and with cryptography ≥ 42 re-checks) the private key at every signature,
    about 70 ms for RSA-2048, twice a signature (the size estimate signs too). This one keeps the parsed key."""
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    class CachedKeySigner(_fast_cms(SimpleSigner)):  # type: ignore[misc]
        pyca_key: Any = None

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
            key, hash_algo = self.pyca_key, get_pyca_cryptography_hash(digest_algorithm)
            if mechanism == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
                return key.sign(data, padding.PKCS1v15(), hash_algo)
            if mechanism == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
                return key.sign(data, ec.ECDSA(hash_algo))
            return bytes(super().sign_raw(data, digest_algorithm))

        async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
            if dry_run and isinstance(self.pyca_key, rsa.RSAPrivateKey):  # the size estimate: length is what counts
                return bytes(self.pyca_key.key_size // 8)
            return self.sign_raw(data, digest_algorithm)

    return CachedKeySigner


def _open_pkcs11(name: str, ident: Identity) -> OpenKey:
    import pkcs11.exceptions as p11e
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.general import SigningError as HankoSigningError
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    ref = ident.pkcs11
    assert ref is not None and ident.pin is not None
    if not ref.module.is_file():
        raise SigningError(_("PKCS#11 module {module} not found (is the token's driver installed?)").format(
            module=ref.module), subject=name)
    pin = ident.pin.reveal(name)
    criteria = TokenCriteria(label=ref.token)
    try:
        try:
            session = open_pkcs11_session(str(ref.module), token_criteria=criteria, user_pin=pin)
        except p11e.UserAlreadyLoggedIn:
            # PKCS#11 logs in the process, not the session: while another session of this process (a preflight,
            # an earlier run in the same worker) is open, a new session is logged in already.
            session = open_pkcs11_session(str(ref.module), token_criteria=criteria)
    except (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange):
        raise SigningError(_("wrong PIN for token {token!r}").format(token=ref.token), subject=name) from None
    except p11e.PinLocked:
        raise SigningError(_("the PIN of token {token!r} is locked").format(token=ref.token), subject=name) from None
    except p11e.PKCS11Error as exc:
        if type(exc) is p11e.PKCS11Error and "token" in str(exc).lower():  # pyHanko: "No token matching …"
            raise SigningError(_("token {token!r} is not present (is the USB token plugged in?)").format(
                token=ref.token), subject=name) from None
        raise SigningError(_("token {token!r} cannot be opened: {error}").format(token=ref.token,
                                                                                 error=type(exc).__name__),
                           subject=name) from None
    except (OSError, RuntimeError) as exc:
        raise SigningError(_("PKCS#11 module {module} cannot be loaded: {error}").format(
            module=ref.module, error=type(exc).__name__), subject=name) from None
    cert_file = Path(ref.cert) if ref.cert.lower().endswith((".pem", ".der", ".crt", ".cer")) or "/" in ref.cert \
        else None
    try:
        if cert_file is not None:
            cert = load_certs(cert_file, what=N_("certificate file"))[0]
            signer = _fast_cms(PKCS11Signer)(session, key_label=ref.key, signing_cert=cert)
        else:
            signer = _fast_cms(PKCS11Signer)(session, key_label=ref.key, cert_label=ref.cert)
            cert = signer.signing_cert
    except (HankoSigningError, p11e.PKCS11Error) as exc:
        session.close()
        if "key" in str(exc).lower():  # pyHanko: "Could not find private key with label '…'"
            raise SigningError(_("no private key labelled {key!r} on token {token!r}").format(
                key=ref.key, token=ref.token), subject=name) from None
        raise SigningError(_("no certificate labelled {cert!r} on token {token!r}").format(
            cert=ref.cert, token=ref.token), subject=name) from None
    except SigningError:
        session.close()
        raise
    return OpenKey(name, signer, cert, [], session)


def check_key_matches(key: OpenKey) -> None:
    """Sign a probe with the key and check it with the certificate's public key: catches a PKCS#12 or token
    whose key and certificate do not belong together, and a key label that is not on the token."""
    from cryptography import x509 as cx509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        signature = asyncio.run(key.signer.async_sign_raw(PROBE, "sha256"))
    except Exception as exc:
        raise SigningError(_("the key cannot sign ({error}: is the key label right?)").format(
            error=type(exc).__name__), subject=key.name) from None
    public = cx509.load_der_x509_certificate(key.cert.dump()).public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, PROBE, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, PROBE, ec.ECDSA(hashes.SHA256()))
        else:
            raise SigningError(_("unsupported key type {kind}").format(kind=type(public).__name__), subject=key.name)
    except InvalidSignature:
        raise SigningError(_("the private key does not match the certificate {name!r}").format(
            name=key.common_name), subject=key.name) from None


def check_validity(key: OpenKey, at: dt.datetime) -> None:
    valid = key.cert["tbs_certificate"]["validity"]
    start, end = valid["not_before"].native, valid["not_after"].native
    when = at.isoformat(timespec="seconds")
    if at < start:
        raise SigningError(_("certificate {name!r} is not valid yet at {when} (valid from {start})").format(
            name=key.common_name, when=when, start=start.date().isoformat()), subject=key.name)
    if at > end:
        raise SigningError(_("certificate {name!r} expired on {end} (signing at {when})").format(
            name=key.common_name, end=end.date().isoformat(), when=when), subject=key.name)


def check_chain(key: OpenKey, roots: list[x509.Certificate], at: dt.datetime) -> None:
    """The certificate chains to one of the trust roots at ``at`` (revocation not fetched: offline)."""
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

    context = ValidationContext(trust_roots=roots, other_certs=key.others, moment=at, allow_fetching=False,
                                revocation_mode="soft-fail")
    validator = CertificateValidator(key.cert, intermediate_certs=key.others, validation_context=context)
    try:
        asyncio.run(validator.async_validate_usage({"digital_signature"}))
    except PathBuildingError:
        raise SigningError(_("certificate {name!r} (issued by {issuer!r}) does not chain to a trusted root").format(
            name=key.common_name, issuer=issuer_cn(key.cert)), subject=key.name) from None
    except PathValidationError as exc:  # a root of the same name whose signature does not verify, a bad link
        raise SigningError(_("certificate {name!r} (issued by {issuer!r}) does not chain to a trusted root: "
                             "{error}").format(name=key.common_name, issuer=issuer_cn(key.cert), error=one_line(exc)),
                           subject=key.name) from None
    except Exception as exc:
        raise SigningError(_("certificate {name!r} is refused: {error}").format(name=key.common_name,
                                                                                error=one_line(exc)),
                           subject=key.name) from None


def issuer_cn(cert: x509.Certificate) -> str:
    value = cert.issuer.native.get("common_name", "?")
    return str(value[0] if isinstance(value, list) else value)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def check_image(path: Path, *, subject: str, what: str) -> None:
    """A PNG with an alpha channel (transparent background), as Appendix I asks."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise SigningError(_("{what} image {path} not found").format(what=_(what), path=path), subject=subject)
    try:
        with Image.open(path) as image:
            fmt, mode, info = image.format, image.mode, dict(image.info)
    except (UnidentifiedImageError, OSError):
        raise SigningError(_("{what} image {path} is not an image (a .png is required)").format(what=_(what),
                                                                                                  path=path),
                           subject=subject) from None
    if fmt != "PNG":
        raise SigningError(_("{what} image {path} is {format}, not PNG").format(what=_(what), path=path, format=fmt),
                           subject=subject)
    if mode not in ("RGBA", "LA", "PA") and "transparency" not in info:
        raise SigningError(_("{what} image {path} has no transparent background (no alpha channel)").format(
            what=_(what), path=path), subject=subject)
