"""The PDF stage hands each joined letter's last page, laid out, to signing (congvan/textlayout.py): what poppler
reads of the letter's own PDF, tied to its bytes; only for the letters that ask, and only where it comes from
the group's own poppler run (a letter converted alone has none)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from support import ROOT

from congvan.config import load_campaign
from congvan.documents import render_dispatch
from congvan.pdf import PdfConverter, PdfJob
from congvan.register import Allocation
from congvan.signing.layout import page_lines

LC = load_campaign(ROOT / "config", "par-index-2022")


def letter(tmp_path: Path, number: int, body_times: int = 1) -> Path:
    lc = dataclasses.replace(LC, campaign=LC.campaign.model_copy(update={"body": LC.campaign.body * body_times}))
    return render_dispatch(lc, templates_dir=ROOT / "templates", out_dir=tmp_path / f"docx-{number}",
                           allocation=Allocation(number=number, year=2023, register="UBND", symbol="UBND-KSTTHC",
                                                 issued_on=dt.date(2023, 2, 7), key=f"test/{number}",
                                                 document_id=number, created=True))


def test_joined_letters_hand_over_their_last_page_as_poppler_reads_their_pdf(tmp_path: Path) -> None:
    docs = {5: letter(tmp_path, 5), 30: letter(tmp_path, 30, body_times=6), 6: letter(tmp_path, 6)}
    jobs = [PdfJob(d, tmp_path / "pdf" / f"cv-{n}.pdf", (f"Số: {n:02d}/UBND-KSTTHC",),
                   first_page=f"Số: {n:02d}/UBND-KSTTHC", last_page_layout=n != 6) for n, d in docs.items()]
    with PdfConverter(workers=1, timeout=60) as pool:
        joined = pool.convert_joined(jobs)
        alone = pool.convert_many([dataclasses.replace(jobs[0], pdf=tmp_path / "alone.pdf")])
    assert [r.ok for r in joined] == [True, True, True] and pool.joined_groups == 1
    assert joined[1].check().pages >= 2
    for result in joined[:2]:
        handed = result.last_page
        assert handed is not None and handed.describes(result.job.pdf.read_bytes())
        assert (handed.index, handed.size, list(handed.lines)) == page_lines(result.job.pdf)
        assert handed.index == result.check().pages - 1
    assert joined[2].last_page is None  # not asked for
    assert alone[0].ok and alone[0].last_page is None  # converted alone: nothing read that signing would not
