"""Signing: congvan's in-process signer against one ``pyhanko sign addsig`` process per signature.

Same PDFs (the sample dispatch converted by LibreOffice, copied N times), same keys (a test PKI's PKCS#12
files), same run. Each document gets both signatures, the signer's then the organisation's, as Decree 30 asks.
Ours: one ``Signing`` for the run (keys opened and checked once, by a warm-up document), each document signed in
place with both images placed from its text layout; ``signed_and_verified_per_s`` adds the verification the flows
run on each signed letter before it is mailed (not in the baseline, which does not verify). Baseline, the naive
way: ``pyhanko sign addsig --use-pades --field PAGE/BOX/NAME pkcs12 IN OUT KEY.p12 --passfile F`` twice per
document (signer, then organisation), at the same boxes, with pyHanko's default text stamp. Both produce PAdES B-B.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N, N_BASELINE = 20, 6
VN = dt.timezone(dt.timedelta(hours=7))
PASSWORD = "bench-password"


def _source_pdf(work: Path) -> Path:
    env = {**os.environ, "CONGVAN_OUTPUT_DIR": str(work / "outputs")}
    done = subprocess.run([sys.executable, "-m", "congvan", "render", "par-index-2022", "--draft", "--out", str(work)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=300)
    from congvan.pdf import make_pdf

    return make_pdf(Path(done.stdout.strip().splitlines()[-1]))


def bench_sign(n: int = N, n_baseline: int = N_BASELINE) -> list[dict[str, object]]:
    from congvan.signing import Signing, verify
    from congvan.signing.keyring import load_keyring
    from congvan.signing.layout import find_signature_block, seal_box, signature_box
    from congvan.signing.testpki import PASSWORD_ENV, make_test_pki

    work = Path(tempfile.mkdtemp(prefix="congvan-bench-sign-"))
    try:
        source = _source_pdf(work)
        pki = work / "pki"
        keyring = make_test_pki(pki, "Ủy ban nhân dân tỉnh Đắk Lắk", signers={"chu-tich": "Phạm Ngọc Nghị"},
                                password=PASSWORD)
        os.environ[PASSWORD_ENV] = PASSWORD
        ring = load_keyring(keyring)
        docs = []
        for i in range(n + 1):
            docs.append(work / f"ours-{i:02d}.pdf")
            shutil.copyfile(source, docs[-1])
        at = dt.datetime.now(VN).replace(microsecond=0)
        kwargs = dict(authority="ubnd-daklak", signer="chu-tich", signer_title="CHỦ TỊCH",
                      signer_name="Phạm Ngọc Nghị", signed_at=at)
        with Signing(ring, trust_roots=pki / "root.pem") as signing:
            began = time.perf_counter()
            signing.sign_issued(docs[0], so_ky_hieu="00/UBND-KSTTHC", **kwargs)  # type: ignore[arg-type]
            warm = time.perf_counter() - began
            began = time.perf_counter()
            for i, doc in enumerate(docs[1:], 1):
                signing.sign_issued(doc, so_ky_hieu=f"{i:02d}/UBND-KSTTHC", **kwargs)  # type: ignore[arg-type]
            ours = time.perf_counter() - began
        began = time.perf_counter()  # what the flows do next with each letter: verify it before it is mailed
        verdicts = verify(docs[1:], trust_roots=pki / "root.pem")
        checked = time.perf_counter() - began
        assert all(v.ok and len(v.signatures) == 2 for v in verdicts)

        # the baseline: the same boxes, computed once, then two pyhanko processes per document
        block = find_signature_block(source, title="CHỦ TỊCH", name="Phạm Ngọc Nghị")
        sig_box = signature_box(block, 2.0)
        org_box, _ = seal_box(sig_box, 38)
        page = block.page + 1

        def spec(box: tuple[float, ...], name: str) -> str:
            return f"{page}/{','.join(str(round(v)) for v in box)}/{name}"

        passfile = work / "pass.txt"
        passfile.write_text(PASSWORD, encoding="utf-8")
        pyhanko = shutil.which("pyhanko", path=str(Path(sys.executable).parent)) or "pyhanko"
        began = time.perf_counter()
        for i in range(n_baseline):
            mid, out = work / f"base-{i}-1.pdf", work / f"base-{i}.pdf"
            for src, dst, box, field, p12 in ((source, mid, sig_box, "NguoiKy", "ubnd-daklak.chu-tich.p12"),
                                              (mid, out, org_box, "CoQuan", "ubnd-daklak.p12")):
                subprocess.run([pyhanko, "sign", "addsig", "--use-pades", "--field", spec(box, field), "pkcs12",
                                "--passfile", str(passfile), str(src), str(dst), str(pki / p12)],
                               check=True, capture_output=True, timeout=120)
        baseline = time.perf_counter() - began
        base_verdicts = verify([work / f"base-{i}.pdf" for i in range(n_baseline)], trust_roots=pki / "root.pem")
        assert all(len(v.signatures) == 2 and all(s.intact for s in v.signatures) for v in base_verdicts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours_rate, base_rate = n / ours, n_baseline / baseline
    return [{"name": "sign_pdf", "ours_per_s": round(ours_rate, 2), "baseline_per_s": round(base_rate, 2),
             "ratio": round(ours_rate / base_rate, 1), "seconds": round(ours, 2), "warm_up_s": round(warm, 2),
             "signed_and_verified_per_s": round(n / (ours + checked), 2),
             "documents": n, "baseline_documents": n_baseline, "load_average": round(os.getloadavg()[0], 2)}]


if __name__ == "__main__":
    for entry in bench_sign():
        print(entry)
