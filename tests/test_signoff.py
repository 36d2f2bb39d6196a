"""The issuing path with signing on (docs/design.md §1.3, §4.5): what the flows mail is the PDF signed by its
signer and then by the organisation, verified first; the report's list of officials goes as its own PDF signed
by the organisation; bad keys stop the run before a number is taken. Real LibreOffice PDFs, real pyHanko, a
test PKI made by the code the demo uses, a real SMTP server.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support import ROOT, Project, fresh_python, run_flow

from congvan.mailcatcher import MailCatcher
from congvan.signing import verify
from congvan.signing.testpki import PASSWORD_ENV, make_test_pki
from congvan.store import init_db, make_engine
from congvan.store.models import Document

CAMPAIGN = "par-index-2022"
PASSWORD = "test-only"


@pytest.fixture
def signed_world(tmp_path: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The sample (approval off, PDFs on) with a test PKI for its authority and both its signers."""
    project = Project(tmp_path)
    pki = tmp_path / "pki"
    keyring = make_test_pki(pki, "Ủy ban nhân dân tỉnh Đắk Lắk", authority="ubnd-daklak",
                            signers={"chu-tich": "Phạm Ngọc Nghị", "pho-chu-tich": "Trần Minh Đức"},
                            titles={"chu-tich": "CHỦ TỊCH", "pho-chu-tich": "PHÓ CHỦ TỊCH"}, password=PASSWORD)
    db_url = f"sqlite:///{tmp_path / 'congvan.db'}"
    env = {"CONGVAN_CONFIG_DIR": str(project.config), "CONGVAN_TEMPLATES_DIR": str(project.root / "templates"),
           "CONGVAN_OUTPUT_DIR": str(project.out), "CONGVAN_DATABASE_URL": db_url,
           "CONGVAN_SMTP_BACKOFF": "0", "CONGVAN_SMTP_ATTEMPTS": "2",
           "CONGVAN_SIGNING_KEYS": str(keyring), "CONGVAN_TRUST_ROOTS": str(pki / "root.pem"), PASSWORD_ENV: PASSWORD}
    with MailCatcher(tmp_path / "mailbox") as catcher:
        env["CONGVAN_SMTP_PORT"] = str(catcher.port)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        project.env.update(env, PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"))
        yield {"project": project, "catcher": catcher, "db_url": db_url, "pki": pki, "tmp": tmp_path}


def test_the_dispatch_leaves_signed_by_its_signer_then_the_organisation(signed_world: dict[str, Any]) -> None:
    from flows.dispatch import dispatch

    result = run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2023, 2, 10))
    assert {d.status for d in result.deliveries} == {"sent"}
    pdf = Path(result.path).with_suffix(".pdf")
    (verdict,) = verify([pdf], trust_roots=signed_world["pki"] / "root.pem")
    assert verdict.ok, verdict.as_json()
    assert [(s.role, s.signer) for s in verdict.signatures] == [("signer", "Phạm Ngọc Nghị"),
                                                              ("organisation", "Ủy ban nhân dân tỉnh Đắk Lắk")]
    # What every unit received is that signed file, byte for byte, and only it (attach: [pdf]).
    stored = signed_world["catcher"].stored()
    for message in (s.message() for s in stored):
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_filename() == "Công văn số 01-UBND-KSTTHC ngày 10.02.2023.pdf"
        assert attachment.get_content() == pdf.read_bytes()
    # A rerun signs nothing twice: the file is what was mailed.
    before = pdf.read_bytes()
    run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2023, 2, 10))
    assert pdf.read_bytes() == before

    # `congvan verify`: exit 0 on the file, 1 once a byte of it is changed.
    project: Project = signed_world["project"]
    good = project.run("verify", str(pdf))
    assert good.returncode == 0, good.stdout + good.stderr
    tampered = signed_world["tmp"] / "tampered.pdf"
    data = bytearray(before)
    at = len(data) // 3  # inside the first revision's content: covered by both signatures
    data[at] = (data[at] + 1) % 256
    tampered.write_bytes(bytes(data))
    bad = project.run("verify", str(tampered))
    assert bad.returncode == 1, bad.stdout + bad.stderr


def test_a_wrong_password_stops_the_dispatch_before_a_number_is_taken(signed_world: dict[str, Any]) -> None:
    project: Project = signed_world["project"]
    result = project.run("dispatch", CAMPAIGN, "--as-of", "2023-02-10", **{PASSWORD_ENV: "not-the-password"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "not-the-password" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "ubnd-daklak" in line
    engine = make_engine(signed_world["db_url"])
    init_db(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Document)).scalar_one() == 0
    engine.dispose()
    assert signed_world["catcher"].stored() == []


def test_letters_and_the_report_are_signed_and_its_list_by_the_organisation(signed_world: dict[str, Any]) -> None:
    from flows.dispatch import dispatch
    from flows.escalate import escalate

    project: Project = signed_world["project"]
    run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2023, 2, 10))
    assert project.run("roster", "import", CAMPAIGN).returncode == 0
    # Nobody has answered: on 03/03 (deadline 24/02 + 5) every unit gets the Chairman's letter, and leadership
    # the report.
    result = run_flow(escalate, campaign=CAMPAIGN, as_of=dt.date(2023, 3, 3))
    sent = [a for a in result.actions if a.status == "sent"]
    not_sent = [(a.unit, a.status, a.error) for a in result.actions if a.status != "sent"]
    assert sent and not not_sent, not_sent
    root = signed_world["pki"] / "root.pem"
    letters = [Path(f) for a in sent if a.kind == "letter" for f in a.files if f.endswith(".pdf")]
    assert letters
    for verdict in verify(letters[:3], trust_roots=root):
        assert verdict.ok and [s.role for s in verdict.signatures] == ["signer", "organisation"]
        assert verdict.signatures[0].signer == "Phạm Ngọc Nghị"  # giai-trinh: the Chairman signs
    (report,) = [a for a in sent if a.kind == "report"]
    pdfs = [Path(f) for f in report.files if f.endswith(".pdf")]
    annex = [p for p in pdfs if p.stem.endswith("_danh-sach")]
    assert len(pdfs) == 2 and len(annex) == 1
    (document, listing) = verify([p for p in pdfs if p not in annex] + annex, trust_roots=root)
    assert document.ok and [s.role for s in document.signatures] == ["signer", "organisation"]
    assert listing.ok and [s.role for s in listing.signatures] == ["organisation"]
    out = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(annex[0]), "-"], capture_output=True, text=True,
                         check=True).stdout
    assert "DANH SÁCH CÁN BỘ, CÔNG CHỨC CHƯA TRẢ LỜI" in out
    assert json.loads(project.run("verify", "--json", str(annex[0])).stdout)  # readable as JSON too


def test_a_letter_cut_and_united_by_poppler_is_signed_and_verifies(signed_world: dict[str, Any]) -> None:
    """A letter of several pages from a joined conversion is put together by ``pdfunite``, whose cross-reference
    table is longer than its trailer says: signed as it is, the signature would not validate."""
    from congvan.documents import render_dispatch
    from congvan.pdf import make_pdf
    from congvan.settings import load_settings
    from congvan.signoff import signoff_for
    from congvan.validation import validate_campaign

    settings = load_settings()
    lc = validate_campaign(settings.config_dir, settings.templates_dir, CAMPAIGN).campaign
    work = signed_world["tmp"] / "united"
    pdf = make_pdf(render_dispatch(lc, templates_dir=settings.templates_dir, out_dir=work), [])
    subprocess.run(["pdfseparate", str(pdf), str(work / "page-%d.pdf")], check=True)
    pages = sorted(work.glob("page-*.pdf"))
    assert len(pages) >= 2
    united = work / "united.pdf"
    subprocess.run(["pdfunite", *map(str, pages), str(united)], check=True)
    signoff = signoff_for(settings, lc)
    assert signoff is not None
    signoff.sign_issued(united, signer_key="chu-tich", so_ky_hieu="01/UBND-KSTTHC")  # verifies, or raises
    (verdict,) = verify([united], trust_roots=signed_world["pki"] / "root.pem")
    assert verdict.ok and [s.role for s in verdict.signatures] == ["signer", "organisation"]


def test_a_wave_is_signed_across_processes_and_a_bad_file_stops_only_itself(signed_world: dict[str, Any]) -> None:
    from congvan.documents import render_dispatch
    from congvan.pdf import make_pdf
    from congvan.settings import load_settings
    from congvan.signoff import POOL_FROM, SignJob, sign_many, signoff_for
    from congvan.validation import validate_campaign

    settings = load_settings()
    lc = validate_campaign(settings.config_dir, settings.templates_dir, CAMPAIGN).campaign
    work = signed_world["tmp"] / "wave"
    source = make_pdf(render_dispatch(lc, templates_dir=settings.templates_dir, out_dir=work), [])
    pdfs = []
    for i in range(POOL_FROM):
        pdfs.append(work / f"letter-{i:02d}.pdf")
        pdfs[-1].write_bytes(source.read_bytes())
    pdfs[5].write_bytes(b"not a PDF at all")
    signoff = signoff_for(settings, lc)
    assert signoff is not None
    errors = sign_many(signoff, [SignJob(i, p, "chu-tich", f"{i + 2:02d}/UBND-KSTTHC") for i, p in enumerate(pdfs)],
                       workers=2)
    assert list(errors) == [5] and str(pdfs[5]) in str(errors[5]), {k: str(v) for k, v in errors.items()}
    verdicts = verify([p for i, p in enumerate(pdfs) if i != 5], trust_roots=signed_world["pki"] / "root.pem")
    assert all(v.ok and v.signatures[0].signer == "Phạm Ngọc Nghị" for v in verdicts)


def test_the_key_password_can_come_from_a_prefect_secret_block(signed_world: dict[str, Any],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """On a Prefect server the workers read the password from a Secret block, not from their environment."""
    import uuid

    import yaml
    from prefect.blocks.system import Secret

    from congvan.settings import load_settings
    from congvan.signoff import signer_keys, signoff_for
    from congvan.validation import validate_campaign

    block = f"congvan-test-{uuid.uuid4().hex[:8]}"
    Secret(value=PASSWORD).save(block)
    keyring = Path(str(signed_world["pki"] / "keyring.yaml"))
    ring = yaml.safe_load(keyring.read_text(encoding="utf-8"))
    for entry in [*ring["organisations"].values(), *ring["signers"].values()]:
        entry["password"] = {"secret_block": block}
    keyring.write_text(yaml.safe_dump(ring, allow_unicode=True), encoding="utf-8")
    monkeypatch.delenv(PASSWORD_ENV)
    settings = load_settings()
    lc = validate_campaign(settings.config_dir, settings.templates_dir, CAMPAIGN).campaign
    signoff = signoff_for(settings, lc)
    assert signoff is not None
    signoff.preflight(signer_keys(lc))  # opens every key with the block's value

    Secret(value="not-the-password").save(block, overwrite=True)
    again = signoff_for(settings, lc)
    assert again is not None
    from congvan.errors import SigningError

    with pytest.raises(SigningError) as refused:
        again.preflight(signer_keys(lc))
    assert "not-the-password" not in str(refused.value) and "ubnd-daklak" in str(refused.value)


def test_a_signing_process_collects_seldom_and_leaves_what_it_loaded_out() -> None:
    """A signing process (``sign_many``'s pool) tunes the collector as a command does (congvan/gc_tuning.py): its
    young generation is 20,000 allocations, and its modules and keys, loaded by its start, are frozen."""
    probe = ("import gc, os\n"
             "from congvan.signoff import _start_worker\n"
             f"_start_worker(dict(os.environ), os.getcwd(), {str(ROOT / 'config')!r}, 'par-index-2022')\n"
             "print(gc.get_threshold()[0], gc.get_freeze_count() > 0)")
    assert fresh_python(probe, cwd=ROOT)[-1] == "20000 True"
