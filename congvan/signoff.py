"""What the flows sign before a document leaves (docs/design.md §4.5): the issued PDF gets its signer's
signature, then the organisation's; a separate attachment file the organisation's alone; and every
signed PDF is verified (intact, covering the whole file, chaining to a trust root) before it is mailed.

Signing is on when ``CONGVAN_SIGNING_KEYS`` names a keyring; then nothing unsigned leaves: a campaign
that makes no PDF is refused before a number is taken, and a signature that does not verify stops that
document (``SigningError``), never the mail of an unsigned one.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from congvan.config import LoadedCampaign
from congvan.errors import SigningError
from congvan.i18n import _
from congvan.settings import Settings
from congvan.signing import Signing, load_signing, verify
from congvan.textlayout import LastPage
from congvan.vndate import VIETNAM


@dataclass(frozen=True)
class Signoff:
    """The campaign's signing: its keys, and who signs which document."""

    signing: Signing
    lc: LoadedCampaign
    trust_roots: Path

    def __enter__(self) -> Signoff:
        return self

    def __exit__(self, *exc: object) -> None:
        self.signing.close()  # a PKCS#11 token's session is logged out when its process's last one closes

    def preflight(self, signer_keys: Iterable[str]) -> None:
        """Before a number is taken: every signer this run may need, and the organisation, can sign now."""
        if not self.lc.campaign.pdf:
            raise SigningError(_("pdf: false, but signing is configured (CONGVAN_SIGNING_KEYS): the signed PDF is "
                                 "the document; set pdf: true"), subject=str(self.lc.path))
        now = signing_time()
        for key in dict.fromkeys(signer_keys):
            signer = self.lc.authority.signers[key]
            self.signing.preflight(authority=self.lc.authority_key, signer=key, signer_name=signer.name, at=now)

    def sign_issued(self, pdf: Path, *, signer_key: str, so_ky_hieu: str, last_page: LastPage | None = None) -> Path:
        """The signer's signature, then the organisation's; then verified. ``last_page``: the PDF stage's layout
        of its last page, used if it was read from these bytes."""
        signer = self.lc.authority.signers[signer_key]
        self.signing.sign_issued(pdf, authority=self.lc.authority_key, signer=signer_key,
                                 signer_title=signer.lines[-1], signer_name=signer.name, so_ky_hieu=so_ky_hieu,
                                 signed_at=signing_time(), last_page=last_page)
        self.check(pdf, signatures=2)
        return pdf

    def sign_attachment(self, pdf: Path, *, so_ky_hieu: str) -> Path:
        self.signing.sign_attachment(pdf, authority=self.lc.authority_key, so_ky_hieu=so_ky_hieu,
                                     signed_at=signing_time())
        self.check(pdf, signatures=1)
        return pdf

    def check(self, pdf: Path, *, signatures: int) -> None:
        """The flows verify every signed PDF before it is mailed."""
        (verdict,) = verify([pdf], trust_roots=self.trust_roots)
        if not verdict.ok or len(verdict.signatures) != signatures:
            problems = "; ".join(s.problem or _("{role} {signer}: not ok").format(role=s.role, signer=s.signer)
                                 for s in verdict.signatures if not s.ok) or \
                _("{count} signature(s), {expected} expected").format(count=len(verdict.signatures),
                                                                      expected=signatures)
            raise SigningError(_("the signed PDF does not verify ({problems}); not sent").format(problems=problems),
                               subject=str(pdf))


@dataclass(frozen=True)
class SignJob:
    """One issued PDF to sign (and, with it, its separate attachments), for ``sign_many``."""

    key: int  # the caller's handle (the document id)
    pdf: Path
    signer_key: str
    so_ky_hieu: str
    attachments: tuple[Path, ...] = ()
    last_page: LastPage | None = None  # the PDF stage's layout of the PDF's last page, tied to its bytes


# Below this many documents the pool's start (a process per core opening the keys and preparing the stamps,
# a few tenths of a second once its modules are loaded) costs more than it saves.
POOL_FROM = 12

# What a signing process imports, loaded once in the fork server its processes are forked from (a second a
# process otherwise, for every batch): congvan's signing and the pyHanko, asn1crypto, fontTools and Pillow
# modules it uses.
PRELOAD = ["congvan.signoff", "congvan.signing.sign", "congvan.signing.verify", "congvan.signing.stamps",
           "congvan.config", "congvan.settings", "pyhanko.sign.signers",
           "pyhanko.sign.validation", "pyhanko.sign.diff_analysis", "pyhanko.pdf_utils.incremental_writer",
           "pyhanko.pdf_utils.writer", "pyhanko.stamp", "pyhanko_certvalidator",
           "cryptography.hazmat.primitives.serialization.pkcs12", "PIL.PngImagePlugin", "fontTools.subset"]


def sign_many(signoff: Signoff, jobs: Sequence[SignJob], *, workers: int | None = None) -> dict[int, SigningError]:
    """Sign and verify many documents; the errors by job key (a document that fails is not sent, the others go).
    Signing is CPU-bound Python (pyHanko, asn1crypto): a wave of letters is spread over one process per core,
    each opening the keys once and taking small chunks in turn (a core shared with other work does fewer); a
    handful is signed here."""
    workers = min(workers or os.cpu_count() or 1, max(1, len(jobs) // 4))
    if workers < 2 or len(jobs) < POOL_FROM:
        return {job.key: error for job in jobs if (error := _sign_job(signoff, job)) is not None}
    size = max(1, -(-len(jobs) // (workers * 8)))
    chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
    # The processes run this process's environment and folder (the settings, the keys' passwords), given to
    # each: a forked process would otherwise have the fork server's, from when it started.
    with ProcessPoolExecutor(workers, mp_context=_context(), initializer=_start_worker,
                             initargs=(dict(os.environ), os.getcwd(), str(signoff.lc.path.parent.parent),
                                       signoff.lc.name)) as pool:
        found: dict[int, SigningError] = {}
        for errors in pool.map(_sign_chunk, chunks):
            found.update(errors)
    return found


def _context() -> multiprocessing.context.BaseContext:
    """A fork server where there is one (Linux, macOS), started once a process with ``PRELOAD`` imported, so a
    signing process starts in milliseconds; else spawn. Never a plain fork: the flow's process runs threads
    (Prefect, SQLite), the fork server does not."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _sign_job(signoff: Signoff, job: SignJob) -> SigningError | None:
    try:
        signoff.sign_issued(job.pdf, signer_key=job.signer_key, so_ky_hieu=job.so_ky_hieu, last_page=job.last_page)
        for attachment in job.attachments:
            signoff.sign_attachment(attachment, so_ky_hieu=job.so_ky_hieu)
    except SigningError as exc:
        return exc
    return None


_worker: Signoff | None = None


def _start_worker(environ: dict[str, str], cwd: str, config_dir: str, campaign: str) -> None:
    """In a signing process: the environment and folder of the process that started it, the settings from them,
    the campaign, the keys."""
    from congvan import gc_tuning
    from congvan.config import load_campaign
    from congvan.settings import load_settings

    global _worker
    gc_tuning.tune()
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    settings = load_settings()
    _worker = signoff_for(settings, load_campaign(Path(config_dir), campaign))
    gc_tuning.freeze_loaded()


def _sign_chunk(jobs: Sequence[SignJob]) -> dict[int, SigningError]:
    assert _worker is not None, "signing is not configured in this process"
    return {job.key: error for job in jobs if (error := _sign_job(_worker, job)) is not None}


def signoff_for(settings: Settings, lc: LoadedCampaign) -> Signoff | None:
    """The campaign's signing, or None when no keyring is configured (PDFs leave unsigned, as before)."""
    signing = load_signing(settings)
    if signing is None:
        return None
    return Signoff(signing, lc, signing.trust_roots_path)


def signer_keys(lc: LoadedCampaign) -> list[str]:
    """Every signer a run of this campaign may need: the dispatch's and each numbered step's."""
    keys = [lc.campaign.signer]
    if lc.campaign.follow_up is not None:
        keys += [s.signer or lc.campaign.signer for s in lc.campaign.follow_up.ladder if s.kind != "mail"]
    return list(dict.fromkeys(keys))


def signing_time() -> dt.datetime:
    """Now, in Vietnam's time: the time shown with the signature (ISO 8601, +07:00)."""
    return dt.datetime.now(VIETNAM).replace(microsecond=0)


__all__ = ["SignJob", "Signoff", "sign_many", "signer_keys", "signing_time", "signoff_for"]
