"""Real parts for the signing tests: a LibreOffice PDF of the sample dispatch, a test PKI, a SoftHSM2 token and an
RFC 3161 time-stamp authority (``openssl ts -reply`` behind a small HTTP server on loopback).

Each is made once per test process (they are slow, and SoftHSM2 reads its configuration once per process).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import ROOT, cli_command

if TYPE_CHECKING:
    from congvan.signing import Signing

AUTHORITY = "ubnd-daklak"
AUTHORITY_NAME = "Ủy ban nhân dân tỉnh Đắk Lắk"
SIGNER = "chu-tich"
SIGNER_NAME = "Phạm Ngọc Nghị"
SIGNER_TITLE = "CHỦ TỊCH"
PASSWORD = "mật-khẩu-thử-9271"
PIN = "583920"
SO_PIN = "11223344"
TOKEN = "congvan-test"
SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")


def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="congvan-signing-"))


@functools.cache
def dispatch_pdf() -> Path:
    """The sample dispatch rendered as a draft and converted by LibreOffice (made once, copy before signing)."""
    out = _workdir()
    env = {**os.environ, "CONGVAN_OUTPUT_DIR": str(out / "outputs")}
    done = subprocess.run(cli_command("render", "par-index-2022", "--draft", "--out", str(out)),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    docx = Path(done.stdout.strip().splitlines()[-1])
    from congvan.pdf import make_pdf

    return make_pdf(docx)


@functools.cache
def pki_folder() -> Path:
    """The test PKI's folder (keyring.yaml, root.pem, .p12 files, tsa.pem, images)."""
    from congvan.signing.testpki import make_test_pki

    folder = _workdir() / "pki"
    make_test_pki(folder, AUTHORITY_NAME, authority=AUTHORITY, signers={SIGNER: SIGNER_NAME}, password=PASSWORD)
    return folder


def pki_signing(monkeypatch: pytest.MonkeyPatch) -> Signing:
    """A ``Signing`` with the test PKI's keyring, its password in the environment as the keyring names it."""
    from congvan.signing import Signing
    from congvan.signing.keyring import load_keyring
    from congvan.signing.testpki import PASSWORD_ENV

    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    ring = load_keyring(pki_folder() / "keyring.yaml")
    assert ring.trust_roots is not None
    return Signing(ring, trust_roots=ring.trust_roots)


def fresh_pdf(tmp_path: Path, name: str = "cong-van.pdf") -> Path:
    target = tmp_path / name
    shutil.copyfile(dispatch_pdf(), target)
    return target


# --- SoftHSM2 ----------------------------------------------------------------------------------------------

def require_softhsm() -> None:
    missing = [tool for tool in ("softhsm2-util", "pkcs11-tool") if shutil.which(tool) is None]
    if not SOFTHSM_MODULE.is_file():
        missing.append(str(SOFTHSM_MODULE))
    if missing:
        message = f"SoftHSM2/OpenSC missing ({', '.join(missing)}): run scripts/system-deps.sh test"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@functools.cache
def softhsm_token() -> Path:
    """A SoftHSM2 token labelled TOKEN holding the signer's key and certificate (label SIGNER, id 01); the
    process's SOFTHSM2_CONF points at it. Returns the signer's certificate file (PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    pki = pki_folder()
    base = _workdir() / "softhsm"
    (base / "tokens").mkdir(parents=True)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n",
                    encoding="utf-8")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    run = functools.partial(subprocess.run, check=True, capture_output=True, text=True, timeout=60)
    run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", SO_PIN])
    key, cert, _ = pkcs12.load_key_and_certificates((pki / f"{AUTHORITY}.{SIGNER}.p12").read_bytes(),
                                                    PASSWORD.encode())
    assert key is not None and cert is not None
    key_pem = base / "signer.key.pem"
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    cert_der = base / "signer.der"
    cert_der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    run(["softhsm2-util", "--import", str(key_pem), "--token", TOKEN, "--label", SIGNER, "--id", "01",
         "--pin", PIN])
    key_pem.unlink()
    run(["pkcs11-tool", "--module", str(SOFTHSM_MODULE), "--token-label", TOKEN, "--login", "--pin", PIN,
         "--write-object", str(cert_der), "--type", "cert", "--id", "01", "--label", SIGNER])
    return pki / f"{AUTHORITY}.{SIGNER}.pem"


# --- the time-stamp authority ------------------------------------------------------------------------------

TSA_CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = {cert}
signer_key = {key}
certs = {root}
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1.1
other_policies = 1.3.6.1.4.1.99999.1.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass
class Tsa:
    url: str
    requests: list[int]


@contextmanager
def openssl_tsa(pki: Path) -> Iterator[Tsa]:
    """A real RFC 3161 responder: each POSTed query is answered by ``openssl ts -reply`` with the test TSA key."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed")
    work = Path(tempfile.mkdtemp(prefix="congvan-tsa-"))
    (work / "tsaserial").write_text("01\n", encoding="ascii")
    config = work / "tsa.cnf"
    config.write_text(TSA_CONFIG.format(dir=work, cert=pki / "tsa.pem", key=pki / "tsa.key.pem",
                                        root=pki / "root.pem"), encoding="utf-8")
    served: list[int] = []
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock, tempfile.TemporaryDirectory(dir=work) as tmp:
                q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
                q.write_bytes(query)
                done = subprocess.run(["openssl", "ts", "-reply", "-config", str(config), "-queryfile", str(q),
                                       "-out", str(r)], capture_output=True, timeout=60)
                body = r.read_bytes() if done.returncode == 0 and r.exists() else b""
                served.append(len(body))
            if not body:
                self.send_error(500, "openssl ts -reply failed")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Tsa(f"http://127.0.0.1:{server.server_address[1]}/tsa", served)
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(work, ignore_errors=True)
