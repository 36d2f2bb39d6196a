"""Every bad signing input of issue 11 is one SigningError line naming what is at fault, before any number is
taken (``Signing.preflight``), and no password or PIN ever appears in it."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from congvan.errors import SigningError
from congvan.signing import Signing
from congvan.signing.keyring import Keyring, Pkcs11Ref, SecretRef, SignerKey, load_keyring
from congvan.signing.testpki import PASSWORD_ENV, make_cert, make_test_pki, write_p12
from tests.signing_support import (
    AUTHORITY,
    AUTHORITY_NAME,
    PASSWORD,
    PIN,
    SIGNER,
    SIGNER_NAME,
    SOFTHSM_MODULE,
    TOKEN,
    fresh_pdf,
    pki_folder,
    require_softhsm,
    softhsm_token,
)

VN = dt.timezone(dt.timedelta(hours=7))
WHO = f"{AUTHORITY}/{SIGNER}"


@pytest.fixture
def ring(monkeypatch: pytest.MonkeyPatch) -> Keyring:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return load_keyring(pki_folder() / "keyring.yaml")


def with_signer(ring: Keyring, **changes: object) -> Keyring:
    key = ring.signers[WHO].model_copy(update=changes)
    return ring.model_copy(update={"signers": {WHO: key}})


def refused(ring: Keyring, *, name: str = SIGNER_NAME, roots: Path | None = None,
            at: dt.datetime | None = None) -> str:
    with Signing(ring, trust_roots=roots or pki_folder() / "root.pem") as signing, \
            pytest.raises(SigningError) as caught:
        signing.preflight(authority=AUTHORITY, signer=SIGNER, signer_name=name, at=at or dt.datetime.now(VN))
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert PASSWORD not in message and PIN not in message
    return message


def issued_p12(tmp_path: Path, *, not_before: dt.datetime, not_after: dt.datetime) -> Path:
    """A signer certificate from the test root, valid only between the two times."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from congvan.signing.testpki import _name

    pki = pki_folder()
    root = x509.load_pem_x509_certificate((pki / "root.pem").read_bytes())
    root_key = serialization.load_pem_private_key((pki / "root.key.pem").read_bytes(), None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = make_cert(_name(SIGNER_NAME, AUTHORITY_NAME), key, issuer=root.subject, issuer_key=root_key,
                     not_before=not_before, not_after=not_after)
    return write_p12(tmp_path / "signer.p12", SIGNER_NAME, key, cert, [root], PASSWORD)


def test_expired_certificate(ring: Keyring, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    p12 = issued_p12(tmp_path, not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=2))
    message = refused(with_signer(ring, pkcs12=p12))
    assert message.startswith(f"{WHO}: certificate '{SIGNER_NAME}' expired on ")


def test_certificate_not_yet_valid(ring: Keyring, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    p12 = issued_p12(tmp_path, not_before=now + dt.timedelta(days=3), not_after=now + dt.timedelta(days=300))
    message = refused(with_signer(ring, pkcs12=p12))
    assert message.startswith(f"{WHO}: certificate '{SIGNER_NAME}' is not valid yet at ")


def test_signing_time_outside_validity(ring: Keyring) -> None:
    message = refused(ring, at=dt.datetime(2020, 1, 1, 8, tzinfo=VN))
    assert "is not valid yet at 2020-01-01T08:00:00+07:00" in message


def test_wrong_password(ring: Keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "sai-mật-khẩu")
    message = refused(ring)
    assert message == f"{WHO}: wrong password for {AUTHORITY}.{SIGNER}.p12, or not a PKCS#12 file"
    assert "sai-mật-khẩu" not in message


def test_password_variable_unset(ring: Keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    assert refused(ring) == f"{WHO}: the password/PIN is not set (environment variable {PASSWORD_ENV} is unset)"


def test_untrusted_chain(ring: Keyring, tmp_path: Path) -> None:
    make_test_pki(tmp_path / "other", "Sở Nội vụ tỉnh Đắk Lắk", authority="snv-daklak", signers={"gd": "X"})
    # another root of the same name: found, but its signature does not verify
    message = refused(ring, roots=tmp_path / "other" / "root.pem")
    assert message.startswith(f"{WHO}: certificate '{SIGNER_NAME}' (issued by 'congvan TEST Root CA') does not "
                              "chain to a trusted root")
    # a root of another name: no path at all
    from congvan.signing.testpki import _key, _name, write_pem

    stranger = tmp_path / "stranger.pem"
    key = _key()
    write_pem(stranger, make_cert(_name("Some Other TEST Root", "TEST"), key, ca=True))
    assert refused(ring, roots=stranger) == (f"{WHO}: certificate '{SIGNER_NAME}' (issued by 'congvan TEST Root "
                                             "CA') does not chain to a trusted root")


def test_certificate_of_someone_else(ring: Keyring) -> None:
    message = refused(ring, name="Trần Minh Đức")
    assert message == f"{WHO}: the certificate is issued to '{SIGNER_NAME}', not to the signer 'Trần Minh Đức'"


def test_missing_signature_image(ring: Keyring, tmp_path: Path) -> None:
    message = refused(with_signer(ring, signature=tmp_path / "none.png"))
    assert message == f"{WHO}: signature image {tmp_path / 'none.png'} not found"


def test_non_png_images(ring: Keyring, tmp_path: Path) -> None:
    from PIL import Image

    jpeg = tmp_path / "chu-ky.png"
    Image.new("RGB", (60, 30), (20, 40, 160)).save(jpeg, "JPEG")
    assert refused(with_signer(ring, signature=jpeg)) == f"{WHO}: signature image {jpeg} is JPEG, not PNG"
    opaque = tmp_path / "opaque.png"
    Image.new("RGB", (60, 30), (20, 40, 160)).save(opaque, "PNG")
    assert refused(with_signer(ring, signature=opaque)) == (
        f"{WHO}: signature image {opaque} has no transparent background (no alpha channel)")
    text = tmp_path / "seal.png"
    text.write_text("not an image", encoding="utf-8")
    org = ring.organisations[AUTHORITY].model_copy(update={"seal": text})
    message = refused(ring.model_copy(update={"organisations": {AUTHORITY: org}}))
    assert message == f"{AUTHORITY}: seal image {text} is not an image (a .png is required)"


def test_unknown_identities(ring: Keyring) -> None:
    signing = Signing(ring, trust_roots=pki_folder() / "root.pem")
    now = dt.datetime.now(VN)
    with pytest.raises(SigningError, match=r"^snv-daklak: no organisation key in the keyring$"):
        signing.preflight(authority="snv-daklak", signer="giam-doc", signer_name="Nguyễn Văn Hải", at=now)
    with pytest.raises(SigningError, match=rf"^{AUTHORITY}/pho-chu-tich: no signer key in the keyring$"):
        signing.preflight(authority=AUTHORITY, signer="pho-chu-tich", signer_name="Trần Minh Đức", at=now)
    with pytest.raises(SigningError, match="needs its time zone"):
        signing.preflight(authority=AUTHORITY, signer=SIGNER, signer_name=SIGNER_NAME, at=dt.datetime(2026, 1, 5))


def on_token(ring: Keyring, *, token: str = TOKEN, key: str = SIGNER, cert: str = SIGNER,
             module: Path = SOFTHSM_MODULE) -> Keyring:
    ident = SignerKey(pkcs11=Pkcs11Ref(module=module, token=token, key=key, cert=cert),
                      pin=SecretRef(env="CONGVAN_TEST_PIN"), signature=ring.signers[WHO].signature)
    return ring.model_copy(update={"signers": {WHO: ident}})


def test_wrong_pin(ring: Keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    require_softhsm()
    softhsm_token()
    monkeypatch.setenv("CONGVAN_TEST_PIN", "000000")
    assert refused(on_token(ring)) == f"{WHO}: wrong PIN for token '{TOKEN}'"


def test_absent_token_and_module(ring: Keyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require_softhsm()
    softhsm_token()
    monkeypatch.setenv("CONGVAN_TEST_PIN", PIN)
    assert refused(on_token(ring, token="usb-rut-ra")) == (
        f"{WHO}: token 'usb-rut-ra' is not present (is the USB token plugged in?)")
    assert refused(on_token(ring, module=tmp_path / "libnone.so")) == (
        f"{WHO}: PKCS#11 module {tmp_path / 'libnone.so'} not found (is the token's driver installed?)")


def test_token_labels_wrong_and_key_not_matching_certificate(ring: Keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    require_softhsm()
    softhsm_token()
    monkeypatch.setenv("CONGVAN_TEST_PIN", PIN)
    assert refused(on_token(ring, cert="khong-co")) == f"{WHO}: no certificate labelled 'khong-co' on token '{TOKEN}'"
    assert refused(on_token(ring, key="khong-co")) == f"{WHO}: no private key labelled 'khong-co' on token '{TOKEN}'"
    # a key that does not match its certificate: the organisation's certificate file, the signer's key on the token
    org_cert = pki_folder() / "org.pem"
    if not org_cert.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        _, cert, _ = pkcs12.load_key_and_certificates((pki_folder() / f"{AUTHORITY}.p12").read_bytes(),
                                                      PASSWORD.encode())
        assert cert is not None
        org_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    message = refused(on_token(ring, cert=str(org_cert)), name=AUTHORITY_NAME)
    assert message == f"{WHO}: the private key does not match the certificate '{AUTHORITY_NAME}'"


def test_pdf_without_the_signature_block(ring: Keyring, tmp_path: Path) -> None:
    signing = Signing(ring, trust_roots=pki_folder() / "root.pem")
    pdf = fresh_pdf(tmp_path)
    with pytest.raises(SigningError) as caught:
        signing.sign_issued(pdf, authority=AUTHORITY, signer=SIGNER, signer_title="PHÓ CHỦ TỊCH",
                            signer_name=SIGNER_NAME, so_ky_hieu="1/UBND", signed_at=dt.datetime.now(VN))
    assert str(caught.value) == (f"{pdf}: no signature block on the last page: no line 'PHÓ CHỦ TỊCH' with "
                                 f"'{SIGNER_NAME}' under it")
    not_pdf = tmp_path / "x.pdf"
    not_pdf.write_text("hello", encoding="utf-8")
    with pytest.raises(SigningError, match=r"x\.pdf: not a readable PDF"):
        signing.sign_issued(not_pdf, authority=AUTHORITY, signer=SIGNER, signer_title="CHỦ TỊCH",
                            signer_name=SIGNER_NAME, so_ky_hieu="1/UBND", signed_at=dt.datetime.now(VN))


def test_a_pkcs12_file_is_opened_once_a_process_another_password_or_file_opens_again(
        ring: Keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process running flow after flow (the demo's days) decrypts each PKCS#12 file once; the cache never stands
    in for the password check, nor for a file that changed."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    from congvan.signing.keys import open_identity

    opened: list[int] = []
    real = pkcs12.load_key_and_certificates
    monkeypatch.setattr(pkcs12, "load_key_and_certificates", lambda *a, **k: opened.append(1) or real(*a, **k))
    p12 = tmp_path / "signer.p12"
    source = ring.signers[WHO].pkcs12
    assert source is not None
    shutil.copyfile(source, p12)
    ident = with_signer(ring, pkcs12=p12).signers[WHO]
    first, second = open_identity(WHO, ident), open_identity("again", ident)
    assert len(opened) == 1 and second.signer is first.signer and second.name == "again"
    monkeypatch.setenv(PASSWORD_ENV, "sai-mật-khẩu")
    with pytest.raises(SigningError, match="wrong password"):
        open_identity(WHO, ident)
    assert len(opened) == 2
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    organisation = ring.organisations[AUTHORITY].pkcs12
    assert organisation is not None
    shutil.copyfile(organisation, p12)  # another identity in the same file
    third = open_identity(WHO, ident)
    assert len(opened) == 3 and third.common_name == AUTHORITY_NAME != first.common_name
