"""The official copy: the real dispatch through a real LibreOffice pool, every PDF read back with poppler.

No mocks: workers are killed with SIGKILL and frozen with SIGSTOP, and processes are looked up in /proc.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unicodedata
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import docx
import pytest
from support import ROOT

from congvan.config import load_campaign
from congvan.documents import render_dispatch
from congvan.errors import DocumentError, PdfError
from congvan.pdf import (
    PdfConverter,
    PdfJob,
    PdfResult,
    check_available,
    make_pdf,
    normalize_text,
    verify_pdf,
    which_missing,
)
from congvan.register import Allocation

NUMBERS = range(5, 21)  # 16 issued letters: Số 05 ... Số 20
LC = load_campaign(ROOT / "config", "par-index-2022")
VV = "V/v " + " ".join(LC.campaign.summary)  # three lines in the letter, so three lines in pdftotext's output


def so(number: int) -> str:
    return f"Số: {number:02d}/UBND-KSTTHC"


def pdftotext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True,
                          text=True).stdout


# --- processes, read from /proc -----------------------------------------------------------------------


def processes() -> list[tuple[int, int, str]]:
    """(pid, process group, command name) of every process, zombies included."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        out.append((int(entry.name), int(stat[stat.rindex(")") + 2:].split()[2]), comm))
    return out


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def soffice_bin(group: int) -> int:
    """The pid of the one LibreOffice (soffice.bin) of a worker's process group."""
    (pid,) = [pid for pid, pgid, comm in processes() if pgid == group and comm == "soffice.bin"]
    return pid


def survivors(groups: set[int], marker: str | None = None, wait_s: float = 5.0) -> list[str]:
    """Processes still in ``groups`` (or whose command line has ``marker``) after up to ``wait_s`` seconds
    (a killed grandchild is reaped by init, not by us)."""
    deadline = time.monotonic() + wait_s
    while True:
        left = [f"{pid} {comm}" for pid, pgid, comm in processes()
                if pgid in groups or (marker is not None and marker in cmdline(pid))]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def pool_dir(group: int) -> str:
    """The pool's temporary directory, as found in its LibreOffice's command line."""
    match = re.search(r"UserInstallation=file://(/\S*?/congvan-pdf-[^/]+)/", cmdline(soffice_bin(group)))
    assert match, cmdline(soffice_bin(group))
    return match.group(1)


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def letters(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Issued letters rendered from the real template, by number."""
    out = tmp_path_factory.mktemp("letters")
    return {n: render_dispatch(LC, templates_dir=ROOT / "templates", out_dir=out, allocation=Allocation(
        number=n, year=2023, register="UBND", symbol="UBND-KSTTHC", issued_on=dt.date(2023, 2, 7),
        key=f"test/{n}", document_id=n, created=True)) for n in NUMBERS}


@pytest.fixture(scope="module")
def pool() -> Iterator[PdfConverter]:
    with PdfConverter(workers=2, timeout=30) as conv:
        yield conv


@pytest.fixture
def dejavu_docx(tmp_path: Path) -> Path:
    document = docx.Document()
    run = document.add_paragraph().add_run("Kính gửi: Sở Nội vụ tỉnh Đắk Lắk")
    run.font.name = "DejaVu Sans"
    path = tmp_path / "dejavu.docx"
    document.save(str(path))
    return path


# --- converting ---------------------------------------------------------------------------------------


def test_letter_converts_to_a_verified_pdf(pool: PdfConverter, letters: dict[int, Path], tmp_path: Path) -> None:
    pdf = tmp_path / "out" / "cv-05.pdf"
    info = pool.convert(letters[5], pdf, expect_text=[so(5), VV, "Đắk Lắk, ngày 07 tháng 02 năm 2023"])
    assert info.pages >= 1
    assert info.fonts and all(f.startswith(("LiberationSerif", "TimesNewRoman")) for f in info.fonts), info.fonts
    assert sorted(p.name for p in pdf.parent.iterdir()) == ["cv-05.pdf"]  # the .part file was renamed
    raw = pdftotext(pdf)
    assert so(5) in raw and "Độc lập - Tự do - Hạnh phúc" in raw  # diacritics intact, read independently
    assert VV not in raw and VV in normalize_text(raw)  # the summary needs the whitespace collapsing


def test_joined_conversion_gives_each_letter_what_a_single_conversion_gives(pool: PdfConverter,
                                                                          letters: dict[int, Path],
                                                                          tmp_path: Path) -> None:
    """Letters converted joined and split: each letter's PDF has the pages and the text (page numbers
    included: they restart per letter) of the same letter converted alone; a letter of several pages too."""
    long_lc = dataclasses.replace(LC, campaign=LC.campaign.model_copy(update={"body": LC.campaign.body * 6}))
    long_letter = render_dispatch(long_lc, templates_dir=ROOT / "templates", out_dir=tmp_path / "long",
                                  allocation=Allocation(number=30, year=2023, register="UBND", symbol="UBND-KSTTHC",
                                                        issued_on=dt.date(2023, 2, 7), key="test/30",
                                                        document_id=30, created=True))
    docs = {n: letters[n] for n in (5, 6, 7)} | {30: long_letter} | {n: letters[n] for n in (8, 9, 10)}
    jobs = [PdfJob(d, tmp_path / "joined" / f"cv-{n}.pdf", (so(n), VV), first_page=so(n)) for n, d in docs.items()]
    groups = pool.joined_groups

    joined = pool.convert_joined(jobs, per_document=4)
    alone = pool.convert_many([PdfJob(d, tmp_path / "alone" / f"cv-{n}.pdf", (so(n),)) for n, d in docs.items()])

    assert [r.error for r in joined] == [None] * len(docs) and pool.joined_groups == groups + 2
    assert [r.check().pages for r in joined] == [r.check().pages for r in alone]
    assert joined[3].check().pages >= 2
    for one, other in zip(joined, alone, strict=True):
        assert pdftotext(one.job.pdf) == pdftotext(other.job.pdf), one.job.pdf.name
    assert sorted(p.name for p in (tmp_path / "joined").iterdir()) == sorted(f"cv-{n}.pdf" for n in docs)


def test_a_group_that_cannot_be_joined_is_converted_letter_by_letter(pool: PdfConverter, letters: dict[int, Path],
                                                                    tmp_path: Path) -> None:
    broken = tmp_path / "hỏng.docx"
    broken.write_bytes(os.urandom(4096))
    jobs = [PdfJob(letters[11], tmp_path / "cv-11.pdf", (so(11),), first_page=so(11)),
            PdfJob(broken, tmp_path / "hỏng.pdf", (), first_page="Số: 99"),
            PdfJob(letters[12], tmp_path / "cv-12.pdf", (so(12),), first_page=so(99))]  # a marker not there
    fallbacks = pool.joined_fallbacks

    results = pool.convert_joined(jobs)

    assert pool.joined_fallbacks == fallbacks + 1
    assert [r.ok for r in results] == [True, False, True]
    assert str(broken) in str(results[1].error)


def test_page_count_is_read_from_the_text_pass(pool: PdfConverter, tmp_path: Path) -> None:
    """Verification counts pages from pdftotext's form feeds (no pdfinfo run): the same count as pdfinfo,
    on a document of several pages that has an empty page."""
    document = docx.Document()
    for i in range(120):
        document.add_paragraph(f"Đoạn {i}: nội dung thử nghiệm của công văn nhiều trang.").runs[0].font.name = \
            "Liberation Serif"
    document.add_page_break()
    document.add_page_break()
    document.add_paragraph("Trang cuối").runs[0].font.name = "Liberation Serif"
    path = tmp_path / "long.docx"
    document.save(str(path))

    info = pool.convert(path, tmp_path / "long.pdf", expect_text=["Trang cuối"])

    listed = subprocess.run(["pdfinfo", str(tmp_path / "long.pdf")], capture_output=True, text=True, check=True)
    pages = int(re.search(r"^Pages:\s+(\d+)", listed.stdout, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert info.pages == pages and pages >= 4


def test_expected_text_is_compared_in_nfc(pool: PdfConverter, letters: dict[int, Path], tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", VV)
    assert decomposed != VV
    assert pool.convert(letters[6], tmp_path / "cv-06.pdf", expect_text=[decomposed]).pages >= 1


def test_batch_spreads_over_both_workers(pool: PdfConverter, letters: dict[int, Path], tmp_path: Path) -> None:
    groups = pool.process_groups()
    assert len(groups) == 2
    cpu_before = [cpu_ticks(soffice_bin(g)) for g in groups]
    jobs = [PdfJob(letters[n], tmp_path / f"cv-{n}.pdf", (so(n),)) for n in NUMBERS[:8]]
    results = pool.convert_many(jobs)
    assert [r.job for r in results] == jobs
    assert all(r.ok for r in results), [str(r.error) for r in results if r.error]
    for n in NUMBERS[:8]:
        assert so(n) in pdftotext(tmp_path / f"cv-{n}.pdf")
    assert all(cpu_ticks(soffice_bin(g)) > before for g, before in zip(groups, cpu_before, strict=True))


def cpu_ticks(pid: int) -> int:
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_a_document_libreoffice_refuses_fails_alone_and_its_worker_stays(pool: PdfConverter, letters: dict[int, Path],
                                                                        tmp_path: Path) -> None:
    """A refusal from a LibreOffice still running is the document's fault: no retry, no restart, the next document
    converts (a refusal from one that died meanwhile is a lost worker: the test below)."""
    broken = tmp_path / "hong.docx"
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("[Content_Types].xml", "<bad")
        z.writestr("word/document.xml", "<not xml")
    restarts, groups = pool.restarts, pool.process_groups()
    bad, good = pool.convert_many([PdfJob(broken, tmp_path / "hong.pdf"),
                                   PdfJob(letters[NUMBERS[0]], tmp_path / "tot.pdf", (so(NUMBERS[0]),))])
    assert isinstance(bad.error, PdfError) and "could not convert it" in str(bad.error)
    assert good.error is None and (tmp_path / "tot.pdf").is_file() and not (tmp_path / "hong.pdf").exists()
    assert (pool.restarts, pool.process_groups()) == (restarts, groups)


def test_worker_killed_mid_batch_is_replaced(pool: PdfConverter, letters: dict[int, Path], tmp_path: Path) -> None:
    restarts, victim = pool.restarts, pool.process_groups()[0]
    pdfs = {n: tmp_path / f"cv-{n}.pdf" for n in NUMBERS}
    results: list[PdfResult] = []
    batch = threading.Thread(target=lambda: results.extend(
        pool.convert_many([PdfJob(letters[n], pdfs[n], (so(n),)) for n in NUMBERS])))
    batch.start()
    deadline = time.monotonic() + 30
    while not any(p.exists() for p in pdfs.values()) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(soffice_bin(victim), signal.SIGKILL)
    batch.join(60)
    assert not batch.is_alive()
    assert len(results) == len(NUMBERS)
    assert all(p.is_file() and so(n) in pdftotext(p) for n, p in pdfs.items()), [str(r.error) for r in results]
    assert pool.restarts == restarts + 1
    assert victim not in pool.process_groups() and len(pool.process_groups()) == 2
    assert survivors({victim}) == []


def test_hung_worker_times_out_and_the_retry_succeeds(letters: dict[int, Path], tmp_path: Path) -> None:
    with PdfConverter(workers=2, timeout=3) as conv:
        first, second = conv.process_groups()
        marker = pool_dir(first)
        frozen = soffice_bin(first)
        os.kill(frozen, signal.SIGSTOP)  # the first job goes to the first idle worker: this one
        began = time.monotonic()
        info = conv.convert(letters[7], tmp_path / "cv-07.pdf", expect_text=[so(7)])
        assert time.monotonic() - began >= 3
        assert info.pages >= 1 and conv.restarts == 1
        (replacement,) = set(conv.process_groups()) - {second}
        assert replacement != first and survivors({first}) == []
    assert survivors({first, second, replacement}, marker) == []


def test_broken_docx_fails_alone(pool: PdfConverter, letters: dict[int, Path], tmp_path: Path) -> None:
    broken = tmp_path / "hỏng.docx"
    broken.write_bytes(os.urandom(4096))
    restarts = pool.restarts
    with pytest.raises(PdfError, match=re.escape(str(broken))) as caught:
        pool.convert(broken, tmp_path / "hỏng.pdf")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "hỏng.pdf").exists()
    assert pool.convert(letters[8], tmp_path / "cv-08.pdf", expect_text=[so(8)]).pages >= 1
    assert pool.restarts == restarts


def test_batch_reports_each_failure_and_converts_the_rest(pool: PdfConverter, letters: dict[int, Path],
                                                          tmp_path: Path) -> None:
    missing = tmp_path / "absent.docx"
    results = pool.convert_many([(letters[9], tmp_path / "a.pdf"), (missing, tmp_path / "b.pdf")])
    assert results[0].ok and results[0].check().pages >= 1
    assert isinstance(results[1].error, PdfError) and str(missing) in str(results[1].error)
    with pytest.raises(PdfError):
        results[1].check()


# --- verification -------------------------------------------------------------------------------------


def test_fallback_font_is_rejected(pool: PdfConverter, dejavu_docx: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "dejavu.pdf"
    with pytest.raises(PdfError, match=r"dejavu\.pdf: font DejaVuSans is not") as caught:
        pool.convert(dejavu_docx, pdf)
    assert isinstance(caught.value, DocumentError) and "\n" not in str(caught.value)
    assert not pdf.exists() and not pdf.with_name("dejavu.pdf.part").exists()


def test_missing_expected_text_is_rejected(pool: PdfConverter, letters: dict[int, Path], tmp_path: Path) -> None:
    pdf = tmp_path / "cv-10.pdf"
    with pytest.raises(PdfError, match=re.escape(f"cv-10.pdf: the PDF text lacks '{so(99)}'")):
        pool.convert(letters[10], pdf, expect_text=[so(10), so(99)])
    assert not pdf.exists()


def test_stale_pdf_is_removed_when_conversion_fails(pool: PdfConverter, tmp_path: Path) -> None:
    pdf = tmp_path / "stale.pdf"
    pdf.write_bytes(b"%PDF-1.4 from an earlier run")
    with pytest.raises(PdfError, match=r"absent\.docx: no such file"):
        pool.convert(tmp_path / "absent.docx", pdf)
    assert not pdf.exists()


@pytest.mark.parametrize(("content", "message"), [
    (None, "no PDF was produced"),
    (b"", "the PDF is empty"),
    (b"garbage, not a PDF", "not a readable PDF"),
])
def test_verify_rejects_what_is_not_a_pdf(tmp_path: Path, content: bytes | None, message: str) -> None:
    pdf = tmp_path / "x.pdf"
    if content is not None:
        pdf.write_bytes(content)
    with pytest.raises(PdfError, match=re.escape(f"{pdf}: {message}")):
        verify_pdf(pdf)


# --- LibreOffice missing ------------------------------------------------------------------------------


def test_everything_needed_is_installed_here() -> None:
    assert which_missing() == []


def test_missing_soffice_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(PdfError) as caught, PdfConverter(workers=1, soffice=tmp_path / "nowhere" / "soffice"):
        pass
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"PDF conversion needs LibreOffice ({tmp_path / 'nowhere' / 'soffice'})")
    assert message.endswith(": apt-get install libreoffice-writer-nogui")


def test_soffice_not_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert [m.package for m in which_missing()][:1] == ["libreoffice-writer-nogui"]
    with pytest.raises(PdfError, match=r"^PDF conversion needs LibreOffice \(soffice\).*: apt-get install "
                                       r"libreoffice-writer-nogui poppler-utils"):
        check_available()


def test_make_pdf_writes_the_pdf_beside_the_docx(letters: dict[int, Path], tmp_path: Path) -> None:
    docx_copy = tmp_path / "công văn.docx"
    docx_copy.write_bytes(letters[11].read_bytes())
    pdf = make_pdf(docx_copy, ["11/UBND-KSTTHC", LC.campaign.summary[0]])
    assert pdf == tmp_path / "công văn.pdf"
    assert so(11) in pdftotext(pdf)


def test_workers_do_not_outlive_a_killed_program() -> None:
    program = ("import sys, time; from congvan.pdf import PdfConverter; conv = PdfConverter(workers=1); conv.start(); "
               "print(conv.process_groups()[0], flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    group = int(child.stdout.readline())
    leftover = pool_dir(group)  # the dead program cannot delete its temporary directory: the test does
    child.kill()  # no __exit__, no atexit: only the bridge's end of input is left to stop LibreOffice
    child.wait()
    left = survivors({group})
    if left:
        os.killpg(group, signal.SIGKILL)  # do not leak them into the other tests
    shutil.rmtree(leftover)
    assert left == []


# --- the process's converter (congvan.pdf.shared) -------------------------------------------------------------


@pytest.fixture
def shared() -> Iterator[ModuleType]:
    """congvan.pdf.shared with no converter running, closed again after the test."""
    from congvan.pdf import shared

    shared.close()
    yield shared
    shared.close()


def test_runs_one_after_another_share_one_started_worker(shared: ModuleType, letters: dict[int, Path],
                                                          tmp_path: Path) -> None:
    with shared.lent() as first:
        groups = first.process_groups()
        first.convert(letters[5], tmp_path / "a.pdf", expect_text=[so(5)])
    assert len(groups) == 1  # one worker started for a run that asked for one
    with shared.lent(first=2) as second:  # already warm: nothing starts, whatever the run asks for
        assert second is first and second.process_groups() == groups
        for n in NUMBERS[:3]:  # one at a time: the started worker does them all, no other starts
            second.convert(letters[n], tmp_path / f"b-{n}.pdf", expect_text=[so(n)])
        assert second.process_groups() == groups
        results = second.convert_many([PdfJob(letters[n], tmp_path / f"c-{n}.pdf", (so(n),)) for n in NUMBERS[:6]])
        assert all(r.ok for r in results)
        assert len(second.process_groups()) == 2  # jobs at once: the second worker started for them
    shared.close()
    assert survivors(set(second.process_groups()) | set(groups)) == []


def test_an_idle_converter_closes_and_the_next_run_starts_afresh(shared: ModuleType, letters: dict[int, Path],
                                                                tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared, "IDLE_SECONDS", 0.2)
    with shared.lent() as conv:
        (group,) = conv.process_groups()
        with shared.lent() as inner:  # while a run holds it, the idle clock does not run
            assert inner is conv
        time.sleep(0.5)
        assert conv.process_groups() == [group]
    assert survivors({group}) == []  # closed by the timer once nobody held it
    assert make_pdf(Path(shutil.copy(letters[7], tmp_path / "d.docx")), [so(7)]).is_file()
