"""A throwaway test PKI for the demo and the tests: every certificate says it is a TEST, none has legal value.

    keyring = make_test_pki(folder, "Ủy ban nhân dân tỉnh Đắk Lắk", authority="ubnd-daklak",
                            signers={"chu-tich": "Phạm Ngọc Nghị"}, password="test-password")

writes into ``folder``: ``root.pem`` (the root CA, to trust), ``root.key.pem``; ``ubnd-daklak.p12`` (the
organisation: CN = O = the agency's name); ``ubnd-daklak.chu-tich.p12`` (CN = the signer's name, O = the
agency, non-repudiation + digitalSignature); ``tsa.pem``/``tsa.key.pem`` (timeStamping, critical EKU);
``seal.png`` (red, round) and ``chu-tich.png`` (a blue scribble) with transparent backgrounds; and
``keyring.yaml`` reading the passwords from ``CONGVAN_TEST_KEY_PASSWORD``. Nothing here is committed to git:
the folder is made at run time (the demo uses its output folder, the tests a temporary one).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from pathlib import Path

TEST_LABEL = "CHỨNG THƯ THỬ NGHIỆM – KHÔNG CÓ GIÁ TRỊ PHÁP LÝ"
PASSWORD_ENV = "CONGVAN_TEST_KEY_PASSWORD"


@dataclass(frozen=True)
class Issued:
    cert_pem: Path
    key_pem: Path


def _name(cn: str, org: str | None = None, title: str | None = None) -> object:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME,
                                                                                 "TEST")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TEST_LABEL))
    if title:
        attrs.append(x509.NameAttribute(NameOID.TITLE, title))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _key() -> object:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_cert(subject: object, key: object, *, issuer: object | None = None, issuer_key: object | None = None,
              ca: bool = False, tsa: bool = False, not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None) -> object:
    """One X.509 certificate from the ``cryptography`` builder (self-signed when no issuer is given)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = dt.datetime.now(dt.UTC)
    start = not_before or now - dt.timedelta(days=1)
    end = not_after or now + dt.timedelta(days=3650 if ca else 730)
    pub = key.public_key()  # type: ignore[attr-defined]
    signing_key = issuer_key or key
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or subject)  # type: ignore[arg-type]
               .public_key(pub).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if issuer_key is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),  # type: ignore[attr-defined]
            critical=False)
    if ca:
        usage = dict(digital_signature=False, content_commitment=False, key_cert_sign=True, crl_sign=True)
    else:
        usage = dict(digital_signature=True, content_commitment=not tsa, key_cert_sign=False, crl_sign=False)
    builder = builder.add_extension(x509.KeyUsage(key_encipherment=False, data_encipherment=False,
                                                  key_agreement=False, encipher_only=False, decipher_only=False,
                                                  **usage), critical=True)
    if tsa:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    return builder.sign(signing_key, hashes.SHA256())  # type: ignore[arg-type]


def write_pem(path: Path, cert: object | None = None, key: object | None = None) -> Path:
    from cryptography.hazmat.primitives import serialization

    data = b""
    if cert is not None:
        data += cert.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined]
    if key is not None:
        data += key.private_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                                  serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(data)
    if key is not None:
        path.chmod(0o600)
    return path


def write_p12(path: Path, name: str, key: object, cert: object, chain: list[object], password: str) -> Path:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    path.write_bytes(pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"), key, cert, chain, BestAvailableEncryption(password.encode("utf-8"))))  # type: ignore[arg-type]
    path.chmod(0o600)
    return path


def make_test_pki(folder: Path, authority_name: str, *, authority: str = "ubnd-daklak",
                  signers: dict[str, str] | None = None, titles: dict[str, str] | None = None,
                  password: str = "test-password", seal_diameter_mm: float = 38.0) -> Path:
    """The test PKI and a keyring for it; returns the keyring's path. ``signers``: signer key → name (e.g.
    ``{"chu-tich": "Phạm Ngọc Nghị"}``). The keyring reads the password from ``CONGVAN_TEST_KEY_PASSWORD``
    (set it to ``password``)."""
    import yaml

    signers = signers or {"chu-tich": "Phạm Ngọc Nghị"}
    folder.mkdir(parents=True, exist_ok=True)
    root_key = _key()
    root_name = _name("congvan TEST Root CA", TEST_LABEL)
    root = make_cert(root_name, root_key, ca=True)
    write_pem(folder / "root.pem", root)
    write_pem(folder / "root.key.pem", key=root_key)

    def issue(subject: object, *, tsa: bool = False) -> tuple[object, object]:
        key = _key()
        return key, make_cert(subject, key, issuer=root_name, issuer_key=root_key, tsa=tsa)

    org_key, org_cert = issue(_name(authority_name, authority_name))
    write_p12(folder / f"{authority}.p12", authority_name, org_key, org_cert, [root], password)
    tsa_key, tsa_cert = issue(_name("congvan TEST Time-Stamping Authority", TEST_LABEL), tsa=True)
    write_pem(folder / "tsa.pem", tsa_cert)
    write_pem(folder / "tsa.key.pem", key=tsa_key)
    draw_seal(folder / "seal.png", authority_name)
    ring: dict[str, object] = {
        "trust_roots": "root.pem",
        "organisations": {authority: {"pkcs12": f"{authority}.p12", "password": {"env": PASSWORD_ENV},
                                      "seal": "seal.png", "seal_diameter_mm": seal_diameter_mm}},
        "signers": {},
    }
    for code, person in signers.items():
        title = (titles or {}).get(code)
        key, cert = issue(_name(person, authority_name, title))
        write_p12(folder / f"{authority}.{code}.p12", person, key, cert, [root], password)
        write_pem(folder / f"{authority}.{code}.pem", cert)
        draw_signature(folder / f"{code}.png", person)
        ring["signers"][f"{authority}/{code}"] = {  # type: ignore[index]
            "pkcs12": f"{authority}.{code}.p12", "password": {"env": PASSWORD_ENV}, "signature": f"{code}.png"}
    keyring = folder / "keyring.yaml"
    keyring.write_text("# A TEST keyring made by congvan.signing.testpki: no legal value.\n"
                       + yaml.safe_dump(ring, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return keyring


# --- images ----------------------------------------------------------------------------------------------

BLUE = (20, 40, 160, 255)
RED = (215, 25, 32, 255)


def draw_signature(path: Path, name: str, *, size: tuple[int, int] = (600, 300)) -> Path:
    """A blue, handwritten-looking scribble (seeded by the name), transparent background."""
    from PIL import Image, ImageDraw

    w, h = size
    rng = random.Random(name)
    image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = []
    x, loops = 40.0, 5 + len(name) % 3
    for i in range(loops * 24):
        t = i / 24 * 2 * math.pi
        x += (w - 120) / (loops * 24)
        y = h * 0.5 + math.sin(t) * h * (0.22 + 0.1 * rng.random()) + math.sin(t * 0.37) * h * 0.08
        points.append((x + math.cos(t) * 18, y))
    draw.line(points, fill=BLUE, width=7, joint="curve")
    draw.line([(30, h * 0.78), (w * 0.5, h * 0.7), (w - 30, h * 0.76)], fill=BLUE, width=5, joint="curve")
    image.save(path, "PNG")
    return path


def draw_seal(path: Path, authority_name: str, *, px: int = 450) -> Path:
    """A red round seal: two rings, a star in the centre, the name around it; transparent background."""
    from PIL import Image, ImageDraw, ImageFont

    from congvan.signing.layout import system_font

    image = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    c = px / 2
    draw.ellipse((6, 6, px - 6, px - 6), outline=RED, width=12)
    draw.ellipse((px * 0.24, px * 0.24, px * 0.76, px * 0.76), outline=RED, width=5)
    star = [(c + math.cos(math.radians(-90 + i * 36)) * (px * (0.2 if i % 2 == 0 else 0.08)),
             c + math.sin(math.radians(-90 + i * 36)) * (px * (0.2 if i % 2 == 0 else 0.08))) for i in range(10)]
    draw.polygon(star, fill=RED)
    try:
        font = ImageFont.truetype(str(system_font()), size=int(px * 0.075))
    except Exception:
        image.save(path, "PNG")
        return path
    text = f"{authority_name.upper()} • "
    radius = px * 0.37
    step = 340 / max(len(text), 1)
    for i, ch in enumerate(text):
        angle = -170 + i * step
        glyph = Image.new("RGBA", (int(px * 0.1), int(px * 0.1)), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((glyph.width / 2, glyph.height / 2), ch, font=font, fill=RED, anchor="mm")
        glyph = glyph.rotate(-(angle + 90), resample=Image.Resampling.BICUBIC)
        x = c + math.cos(math.radians(angle)) * radius - glyph.width / 2
        y = c + math.sin(math.radians(angle)) * radius - glyph.height / 2
        image.alpha_composite(glyph, (int(x), int(y)))
    image.save(path, "PNG")
    return path
