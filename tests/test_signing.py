"""Digital signatures on a real LibreOffice PDF of the sample dispatch, with real pyHanko, a PKCS#12 test PKI, a
SoftHSM2 token and an openssl RFC 3161 time-stamp authority (docs/design.md §4.5)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from congvan.signing import Signing, load_signing, verify
from congvan.signing.keyring import Keyring, Pkcs11Ref, SecretRef, SignerKey, load_keyring
from congvan.signing.layout import MM, find_signature_block, page_lines
from congvan.signing.testpki import PASSWORD_ENV
from tests.signing_support import (
    AUTHORITY,
    AUTHORITY_NAME,
    PASSWORD,
    PIN,
    SIGNER,
    SIGNER_NAME,
    SIGNER_TITLE,
    SOFTHSM_MODULE,
    TOKEN,
    fresh_pdf,
    openssl_tsa,
    pki_folder,
    require_softhsm,
    softhsm_token,
)
from tests.support import ROOT, cli_command

VN = dt.timezone(dt.timedelta(hours=7))
SO = "15/UBND-KSTTHC"


def now() -> dt.datetime:
    return dt.datetime.now(VN).replace(microsecond=0)


@pytest.fixture
def ring(monkeypatch: pytest.MonkeyPatch) -> Keyring:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return load_keyring(pki_folder() / "keyring.yaml")


@pytest.fixture
def signing(ring: Keyring) -> Signing:
    assert ring.trust_roots is not None
    return Signing(ring, trust_roots=ring.trust_roots)


def sign(signing: Signing, pdf: Path, at: dt.datetime | None = None) -> Path:
    return signing.sign_issued(pdf, authority=AUTHORITY, signer=SIGNER, signer_title=SIGNER_TITLE,
                               signer_name=SIGNER_NAME, so_ky_hieu=SO, signed_at=at or now())


def field_rects(pdf: Path) -> dict[str, tuple[float, ...]]:
    from pyhanko.pdf_utils.reader import PdfFileReader

    with pdf.open("rb") as f:
        reader = PdfFileReader(f)
        return {s.field_name: tuple(float(v) for v in s.sig_field["/Rect"]) for s in reader.embedded_signatures}


def test_both_signatures_signer_then_organisation_verify(signing: Signing, tmp_path: Path) -> None:
    pdf = sign(signing, fresh_pdf(tmp_path))
    [verdict] = verify([pdf], trust_roots=pki_folder() / "root.pem")
    assert verdict.ok, verdict
    first, second = verdict.signatures
    assert (first.role, first.signer) == ("signer", SIGNER_NAME)
    assert (second.role, second.signer) == ("organisation", AUTHORITY_NAME)
    for s in verdict.signatures:
        assert s.intact and s.valid and s.trusted and not s.timestamped
        assert s.signed_at is not None and s.signed_at.utcoffset() == dt.timedelta(hours=7)
    # the signer's covers its revision and only a signature was added after it; the organisation's covers all
    assert (first.coverage, first.modifications) == ("entire_revision", "form_filling")
    assert (second.coverage, second.modifications) == ("entire_file", "none")


def test_pdf_stays_a_pdf_with_its_text_and_is_replaced_atomically(signing: Signing, tmp_path: Path) -> None:
    pdf = fresh_pdf(tmp_path)
    before = pdf.stat().st_ino
    sign(signing, pdf)
    assert pdf.stat().st_ino != before  # a new file renamed over the old one
    assert [p.name for p in tmp_path.iterdir()] == ["cong-van.pdf"]  # no temporary file left
    _, _, lines = page_lines(pdf)
    assert any(SIGNER_NAME in line.text for line in lines)


def test_signing_again_leaves_the_pdf_alone(signing: Signing, tmp_path: Path) -> None:
    pdf = sign(signing, fresh_pdf(tmp_path))
    data = pdf.read_bytes()
    sign(signing, pdf)
    assert pdf.read_bytes() == data


def test_images_between_title_and_name_seal_over_the_left_third(signing: Signing, tmp_path: Path) -> None:
    pdf = fresh_pdf(tmp_path)
    block = find_signature_block(pdf, title=SIGNER_TITLE, name=SIGNER_NAME)  # from the PDF's text layout
    sign(signing, pdf)
    rects = field_rects(pdf)
    sx0, sy0, sx1, sy1 = rects["NguoiKy"]
    # vertically between the title's bottom and the name's top, centred under the title
    assert block.title.box[1] >= sy1 > sy0 >= block.name.box[3]
    assert abs((sx0 + sx1) / 2 - block.title.centre_x) < 2
    assert abs(((sy0 + sy1) / 2) - (block.title.box[1] + block.name.box[3]) / 2) < 2
    # the seal: 38 mm wide, its right edge a third of the way into the signer's image, centred on it vertically
    ox0, _, ox1, oy1 = rects["CoQuan"]
    assert abs((ox1 - ox0) - 38 * MM) < 1
    overlap = (ox1 - sx0) / (sx1 - sx0)
    assert 0.28 < overlap < 0.38, overlap
    assert ox0 < sx0  # on the left
    seal_centre_y = oy1 - 38 * MM / 2
    assert abs(seal_centre_y - (sy0 + sy1) / 2) < 2
    # on the last page
    from pyhanko.pdf_utils.reader import PdfFileReader

    with pdf.open("rb") as f:
        reader = PdfFileReader(f)
        last = reader.root["/Pages"]["/Count"] - 1
        page = reader.root["/Pages"]["/Kids"][last] if len(reader.root["/Pages"]["/Kids"]) > last else None
        assert page is not None
        assert {a.get_object().get("/T") for a in page.get_object()["/Annots"]} >= {"NguoiKy", "CoQuan"}


def test_seal_field_shows_the_organisation_and_the_time(signing: Signing, tmp_path: Path) -> None:
    at = now()
    pdf = sign(signing, fresh_pdf(tmp_path), at)
    text = appearance_text(pdf, "CoQuan")
    assert AUTHORITY_NAME in text and at.isoformat() in text
    assert at.isoformat().endswith("+07:00")


def appearance_text(pdf: Path, field: str) -> str:
    """The /ActualText of the field's appearance (what it shows), decoded."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    with pdf.open("rb") as f:
        reader = PdfFileReader(f)
        [sig] = [s for s in reader.embedded_signatures if s.field_name == field]
        stream = sig.sig_field["/AP"]["/N"].get_object()
        data = stream.data.decode("latin-1")
        fonts = stream["/Resources"]["/Font"]
        names = [str(fonts[k].get_object()["/BaseFont"]) for k in fonts]
    import re

    texts = []
    for raw in re.findall(r"/ActualText \((.*?)\)\s*>>", data, flags=re.S):
        plain = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), raw)
        plain = re.sub(r"\\(.)", r"\1", plain)
        texts.append(plain[2:].encode("latin-1").decode("utf-16-be") if plain.startswith("\xfe\xff") else plain)
    return "\n".join(texts) + "\n" + data + "\n" + " ".join(names)


def test_attachment_organisation_only_top_right_times_10(signing: Signing, tmp_path: Path) -> None:
    pdf = fresh_pdf(tmp_path, "danh-sach.pdf")
    at = now()
    signing.sign_attachment(pdf, authority=AUTHORITY, so_ky_hieu=SO, signed_at=at)
    [verdict] = verify([pdf], trust_roots=pki_folder() / "root.pem")
    assert verdict.ok
    [only] = verdict.signatures
    assert only.role == "organisation" and only.coverage == "entire_file"
    _, _, x1, y1 = field_rects(pdf)["CoQuan"]
    _, (width, height), _ = page_lines(pdf, 0)
    assert x1 > width * 0.75 and y1 > height * 0.95  # top right corner of page 1
    text = appearance_text(pdf, "CoQuan")
    assert SO in text and at.isoformat() in text
    assert "/F1 10 Tf" in text  # 10 pt
    assert "0 0 0 rg" in text  # black
    assert "LiberationSerif" in text or "TimesNewRoman" in text
    assert "/Im" not in text  # no image


def test_a_changed_byte_fails_verify_and_the_cli(signing: Signing, tmp_path: Path) -> None:
    pdf = sign(signing, fresh_pdf(tmp_path))
    data = bytearray(pdf.read_bytes())
    at = data.index(b"LibreOffice")  # the producer string, inside both signatures' byte ranges
    data[at] = ord("l")
    pdf.write_bytes(bytes(data))
    [verdict] = verify([pdf], trust_roots=pki_folder() / "root.pem")
    assert not verdict.ok
    assert not any(s.intact for s in verdict.signatures)
    result = run_cli("verify", str(pdf), "--trust-roots", str(pki_folder() / "root.pem"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout and "Traceback" not in result.stderr


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(cli_command(*args), cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_cli_verify_prints_each_signature_and_json(signing: Signing, tmp_path: Path) -> None:
    pdf = sign(signing, fresh_pdf(tmp_path))
    result = run_cli("verify", str(pdf), env={"CONGVAN_TRUST_ROOTS": str(pki_folder() / "root.pem")})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{pdf}: OK"
    assert lines[1].startswith(f"  1. {SIGNER_NAME} (người ký), ") and "+07:00" in lines[1]
    assert lines[2].startswith(f"  2. {AUTHORITY_NAME} (cơ quan), ")
    assert "trusted yes" in lines[1] and "intact yes" in lines[2]
    result = run_cli("verify", str(pdf), "--json", "--trust-roots", str(pki_folder() / "root.pem"))
    data = json.loads(result.stdout)
    [f] = data["files"]
    assert f["ok"] and [s["role"] for s in f["signatures"]] == ["signer", "organisation"]
    assert f["signatures"][0]["signed_at"].endswith("+07:00")


def test_cli_verify_untrusted_unsigned_and_user_errors(signing: Signing, tmp_path: Path) -> None:
    pdf = sign(signing, fresh_pdf(tmp_path))
    other = tmp_path / "other"
    from congvan.signing.testpki import make_test_pki

    make_test_pki(other, "Sở Nội vụ tỉnh Đắk Lắk", authority="snv-daklak", signers={"giam-doc": "Nguyễn Văn Hải"})
    result = run_cli("verify", str(pdf), "--trust-roots", str(other / "root.pem"))
    assert result.returncode == 1 and "trusted NO" in result.stdout
    assert "Traceback" not in result.stderr
    unsigned = fresh_pdf(tmp_path, "unsigned.pdf")
    result = run_cli("verify", str(unsigned), "--trust-roots", str(pki_folder() / "root.pem"))
    assert result.returncode == 1 and "no digital signature" in result.stdout
    result = run_cli("verify", str(tmp_path / "missing.pdf"))
    assert result.returncode == 2 and result.stderr.strip() == f"Error: {tmp_path / 'missing.pdf'}: file not found"
    text = tmp_path / "note.pdf"
    text.write_text("not a pdf", encoding="utf-8")
    result = run_cli("verify", str(text))
    assert result.returncode == 2 and result.stderr.strip() == f"Error: {text}: not a PDF"


def test_b_t_with_a_real_rfc3161_tsa(ring: Keyring, tmp_path: Path) -> None:
    assert ring.trust_roots is not None
    with openssl_tsa(pki_folder()) as tsa:
        signing = Signing(ring, trust_roots=ring.trust_roots, tsa_url=tsa.url)
        pdf = sign(signing, fresh_pdf(tmp_path))
        assert len(tsa.requests) >= 2 and all(tsa.requests)  # tokens from openssl (pyHanko also sizes one)
    [verdict] = verify([pdf], trust_roots=pki_folder() / "root.pem")
    assert verdict.ok, verdict
    for s in verdict.signatures:
        assert s.timestamped and s.timestamp_ok and s.timestamp_at is not None
        assert abs((s.timestamp_at - dt.datetime.now(dt.UTC)).total_seconds()) < 600


def _on_token(ring: Keyring, cert_ref: str) -> Keyring:
    """The keyring with the signer's key on the SoftHSM2 token (its certificate by label or a file)."""
    on_token = SignerKey(pkcs11=Pkcs11Ref(module=SOFTHSM_MODULE, token=TOKEN, key=SIGNER, cert=cert_ref),
                         pin=SecretRef(env="CONGVAN_TEST_PIN"),
                         signature=ring.signers[f"{AUTHORITY}/{SIGNER}"].signature)
    return ring.model_copy(update={"signers": {f"{AUTHORITY}/{SIGNER}": on_token}})


def test_pkcs11_signer_on_softhsm2(ring: Keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_softhsm()
    cert = softhsm_token()
    monkeypatch.setenv("CONGVAN_TEST_PIN", PIN)
    for cert_ref in (SIGNER, str(cert)):  # the certificate read from the token, then from a file
        hsm_ring = _on_token(ring, cert_ref)
        assert ring.trust_roots is not None
        with Signing(hsm_ring, trust_roots=ring.trust_roots) as signing:
            pdf = sign(signing, fresh_pdf(tmp_path, f"hsm-{len(cert_ref)}.pdf"))
        [verdict] = verify([pdf], trust_roots=pki_folder() / "root.pem")
        assert verdict.ok and verdict.signatures[0].signer == SIGNER_NAME


def test_two_signings_on_one_token_in_one_process(ring: Keyring, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A flow's preflight opens the token, then its sign step opens it again in the same process, while the first
    is still open: PKCS#11 logs in per process, so the second must not fail with "already logged in"."""
    require_softhsm()
    softhsm_token()
    monkeypatch.setenv("CONGVAN_TEST_PIN", PIN)
    hsm_ring = _on_token(ring, SIGNER)
    assert ring.trust_roots is not None
    with Signing(hsm_ring, trust_roots=ring.trust_roots) as first:
        first.preflight(authority=AUTHORITY, signer=SIGNER, signer_name=SIGNER_NAME, at=now())
        with Signing(hsm_ring, trust_roots=ring.trust_roots) as second:
            pdf = sign(second, fresh_pdf(tmp_path, "hsm-twice.pdf"))
        pdf2 = sign(first, fresh_pdf(tmp_path, "hsm-first-still-open.pdf"))
    for signed in (pdf, pdf2):
        [verdict] = verify([signed], trust_roots=pki_folder() / "root.pem")
        assert verdict.ok and verdict.signatures[0].signer == SIGNER_NAME


def test_load_signing_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from congvan.settings import Settings

    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    assert load_signing(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    monkeypatch.setenv("CONGVAN_SIGNING_KEYS", str(pki_folder() / "keyring.yaml"))
    signing = load_signing(Settings(_env_file=None))  # type: ignore[call-arg]
    assert signing is not None and signing.trust_roots_path == pki_folder() / "root.pem"
    signing.preflight(authority=AUTHORITY, signer=SIGNER, signer_name="PHẠM  NGỌC NGHỊ", at=now())


def test_keyring_problems_are_listed(tmp_path: Path) -> None:
    from congvan.errors import ConfigError

    bad = tmp_path / "keyring.yaml"
    bad.write_text("organisations:\n  ubnd:\n    pkcs12: a.p12\n    pin: {env: X}\n    seal: s.png\n"
                   "signers:\n  no-slash:\n    pkcs12: b.p12\n    password: {env: X, secret_block: y}\n"
                   "    signature: s.png\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_keyring(bad)
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "organisations.ubnd: a pkcs12 key takes a password (and no pin)" in text
    assert "signers" in text and "exactly one of env, secret_block" in text
