"""A pool of warm LibreOffice workers turning .docx into verified PDF.

Why a pool: one ``soffice --convert-to pdf`` per document pays LibreOffice's start-up each time (about 1.4 s),
and parallel calls sharing a profile fail silently (docs/design.md §4.4). Why not unoserver: measured
on this 2-core machine, unoserver 3.7 took 10.4 s to start (fixed sleeps) and 129 ms per document, against
0.9 s and 75 ms for a direct UNO link; it must also be installed into the system Python.

So each worker (``congvan.pdf.worker``) is one LibreOffice with its own profile listening on a private UNO
pipe, plus ``_bridge.py`` run by the Python that has ``uno``. The pool hands each job to an idle worker,
replaces a worker that hung or died (a document gets one more try on the replacement), and converts the
letters of one step in joined groups (``congvan.pdf.joined``); every PDF is verified before it is kept.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from congvan.errors import PdfError
from congvan.pdf.joined import first_pages, join_documents
from congvan.pdf.toolchain import StrPath, Toolchain, check_available
from congvan.pdf.verify import ALLOWED_FONTS, PdfInfo, normalize_text, split_pages, unite, verify_pdf, verify_text
from congvan.pdf.worker import ConversionRefused, Worker, WorkerLost
from congvan.textlayout import LastPage, last_page, read_pages

# Letters per joined conversion: LibreOffice's cost per letter falls from about 140 ms of CPU alone to about
# 25 ms in groups of 20; larger groups gain little and leave a worker idle at the end of a batch.
JOIN_SIZE = 20


def default_workers() -> int:
    """One worker per core this process may use: conversion is CPU-bound."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class PdfJob:
    """Convert ``docx`` to ``pdf``; the PDF's text must contain every string of ``expect_text``.

    ``first_page``: text its first page shows and no earlier page of its batch does ("Số: 05/UBND-KSTTHC"),
    which lets ``convert_joined`` find where the letter starts in a joined conversion."""

    docx: Path
    pdf: Path
    expect_text: tuple[str, ...] = ()
    first_page: str | None = None
    last_page_layout: bool = False  # hand over the last page's text layout (for signing), when it comes cheap


@dataclass(frozen=True)
class PdfResult:
    """One job's outcome in a batch: ``info`` when the PDF was written and verified, else ``error``."""

    job: PdfJob
    info: PdfInfo | None
    error: PdfError | None
    seconds: float
    last_page: LastPage | None = None  # the PDF's last page laid out, tied to its bytes (a joined conversion's)

    @property
    def ok(self) -> bool:
        return self.error is None

    def check(self) -> PdfInfo:
        """The PDF's info, or the job's ``PdfError`` raised."""
        if self.error is not None:
            raise self.error
        assert self.info is not None
        return self.info


class _Slot:
    """A place for one worker; empty after its worker was removed, until the next job starts a new one."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.worker: Worker | None = None


class PdfConverter:
    """Warm LibreOffice workers converting .docx to PDF in parallel, each PDF verified before it is kept.

    ``with PdfConverter(workers=2) as conv: conv.convert(docx, pdf, expect_text=[...])`` or
    ``conv.convert_many([(docx, pdf), PdfJob(docx, pdf, expect_text), ...])``. A document whose conversion
    takes longer than ``timeout`` seconds (verification not included), or whose worker dies, is retried once on
    a fresh worker. A PDF is written next to its final name and renamed only once verified, so a bad or partial
    PDF is never left under that name (nor is an older one: it is deleted first). Thread-safe; ``close()``
    waits for running jobs.
    """

    def __init__(self, workers: int | None = None, *, timeout: float = 60.0, start_timeout: float = 60.0,
                 soffice: StrPath = "soffice", uno_python: StrPath | None = None,
                 recycle_after: int | None = 1000, allowed_fonts: Sequence[str] = ALLOWED_FONTS) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers or default_workers()
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.recycle_after = recycle_after  # LibreOffice grows over thousands of documents: start afresh
        self.allowed_fonts = tuple(allowed_fonts)
        self.startup_seconds = 0.0
        self._soffice, self._uno_python = soffice, uno_python
        self._toolchain: Toolchain | None = None
        self._dir: Path | None = None
        self._slots: list[_Slot] = []
        # Last in, first out: a job takes the worker that finished last, so one used one job at a time stays the
        # only one started, and a slot still empty starts its worker only when jobs run at once.
        self._idle: queue.LifoQueue[_Slot] = queue.LifoQueue()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._restarts = 0
        self.joined_groups = 0  # groups converted joined, and groups that fell back to one by one
        self.joined_fallbacks = 0

    # --- lifecycle ------------------------------------------------------------------------------------

    def __enter__(self) -> PdfConverter:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self, first: int | None = None) -> None:
        """Start ``first`` workers at once (all by default) and return when they have answered; the others start
        when jobs run at once."""
        if self._executor is not None:
            raise RuntimeError("PdfConverter already started")
        began = time.monotonic()
        self._toolchain = check_available(self._soffice, self._uno_python)
        self._dir = Path(tempfile.mkdtemp(prefix="congvan-pdf-"))
        self._slots = [_Slot(i) for i in range(self.workers)]
        eager = self._slots[:max(1, min(first or self.workers, self.workers))]
        try:
            for slot in eager:
                slot.worker = Worker(self._toolchain, self._dir)
            for slot in eager:
                self._wait_ready(slot)
        except WorkerLost as exc:
            self._stop_all()
            raise PdfError(f"LibreOffice {exc}") from None
        except BaseException:
            self._stop_all()
            raise
        for slot in reversed(self._slots):  # the started ones on top
            self._idle.put(slot)
        # Twice the workers: a thread verifying its PDF leaves the worker free for the next document.
        self._executor = ThreadPoolExecutor(2 * self.workers, thread_name_prefix="congvan-pdf")
        self.startup_seconds = time.monotonic() - began

    def close(self) -> None:
        """Finish running jobs, stop every worker and leave no LibreOffice process behind."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._stop_all()

    @property
    def restarts(self) -> int:
        """How many workers were replaced because they died or hung."""
        return self._restarts

    def process_groups(self) -> list[int]:
        """The process group of each running worker (LibreOffice and its bridge), for monitoring and tests."""
        return [slot.worker.pgid for slot in self._slots if slot.worker is not None]

    # --- converting -----------------------------------------------------------------------------------

    def convert(self, docx: StrPath, pdf: StrPath, *, expect_text: Iterable[str] = ()) -> PdfInfo:
        """Convert and verify one document; ``PdfError`` naming the file if that fails."""
        return self._run(PdfJob(Path(docx), Path(pdf), tuple(expect_text)))

    def convert_many(self, jobs: Iterable[PdfJob | tuple[StrPath, StrPath]]) -> list[PdfResult]:
        """Convert a batch over all workers in parallel; results in the jobs' order, failures included."""
        if self._executor is None:
            raise RuntimeError("PdfConverter is not started: use it in a with block or call start()")
        executor = self._executor
        futures = [executor.submit(self._result, _as_job(job)) for job in jobs]
        return [future.result() for future in futures]

    def convert_joined(self, jobs: Sequence[PdfJob], *, per_document: int = JOIN_SIZE) -> list[PdfResult]:
        """Like ``convert_many``, for letters of one template: groups of ``per_document`` are joined into one
        .docx, converted once and split per letter (``congvan.pdf.joined``); each letter's PDF is verified
        (its text and pages on its own file, the fonts once on the group's PDF, which holds every glyph of
        every letter). A group that cannot be joined or split is converted letter by letter."""
        if self._executor is None:
            raise RuntimeError("PdfConverter is not started: use it in a with block or call start()")
        executor = self._executor
        groups = [list(jobs[i:i + per_document]) for i in range(0, len(jobs), per_document)]
        futures = [executor.submit(self._joined, group) for group in groups]
        return [result for future in futures for result in future.result()]

    def _joined(self, jobs: list[PdfJob]) -> list[PdfResult]:
        began = time.monotonic()
        if len(jobs) < 2 or any(job.first_page is None or not job.docx.is_file() for job in jobs):
            return [self._result(job) for job in jobs]
        assert self._dir is not None
        work = Path(tempfile.mkdtemp(prefix="joined-", dir=self._dir))
        try:
            results = self._joined_in(jobs, work, began)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if results is None:
            with self._lock:
                self.joined_fallbacks += 1
            return [self._result(job) for job in jobs]
        with self._lock:
            self.joined_groups += 1
        return results

    def _joined_in(self, jobs: list[PdfJob], work: Path, began: float) -> list[PdfResult] | None:
        """The group's results, or None to convert its letters one by one."""
        joined_docx, joined_pdf = work / "joined.docx", work / "joined.pdf"
        if not join_documents([job.docx for job in jobs], joined_docx):
            return None
        slot = self._idle.get()
        try:
            self._convert_on(slot, PdfJob(joined_docx, joined_pdf), joined_pdf)
        except PdfError:
            return None  # one letter may be broken: converted alone, it fails alone
        finally:
            self._idle.put(slot)
        label = jobs[0].docx.parent / f"{jobs[0].docx.name}+{len(jobs) - 1} more"
        try:
            info = verify_pdf(joined_pdf, allowed_fonts=self.allowed_fonts, shown=label)
            pages = split_pages(joined_pdf, work, info.pages)
        except PdfError:
            return None
        starts = first_pages([normalize_text(p) for p in pages.texts],
                             [normalize_text(job.first_page or "") for job in jobs])
        if starts is None:
            return None
        ends = [*starts[1:], len(pages.files)]
        # Signing reads where its images go from each letter's last page: read here for the group in one
        # poppler run (58 ms for 40 pages) instead of one run a letter when it is signed (9 ms each).
        layouts = read_pages(joined_pdf, [end - 1 for job, end in zip(jobs, ends, strict=True)
                                          if job.last_page_layout])
        results = []
        for i, job in enumerate(jobs):
            end = ends[i]
            job.pdf.parent.mkdir(parents=True, exist_ok=True)
            job.pdf.unlink(missing_ok=True)
            part = job.pdf.with_name(job.pdf.name + ".part")
            try:
                unite(pages.files[starts[i]:end], part)
                letter = verify_text(part, job.expect_text, shown=job.pdf)
                if letter != end - starts[i]:
                    raise PdfError(f"{job.pdf}: {letter} page(s) after the split, {end - starts[i]} expected")
                layout = layouts.get(end - 1)
                handed = last_page(part.read_bytes(), letter - 1, layout) if layout is not None else None
                os.replace(part, job.pdf)
                results.append(PdfResult(job, PdfInfo(pages=letter, fonts=info.fonts), None,
                                         time.monotonic() - began, handed))
            except PdfError as exc:
                results.append(PdfResult(job, None, exc, time.monotonic() - began))
            finally:
                part.unlink(missing_ok=True)
        return results

    def _result(self, job: PdfJob) -> PdfResult:
        began = time.monotonic()
        try:
            return PdfResult(job, self._run(job), None, time.monotonic() - began)
        except PdfError as exc:
            return PdfResult(job, None, exc, time.monotonic() - began)

    def _run(self, job: PdfJob) -> PdfInfo:
        if self._executor is None:
            raise RuntimeError("PdfConverter is not started: use it in a with block or call start()")
        job.pdf.parent.mkdir(parents=True, exist_ok=True)
        job.pdf.unlink(missing_ok=True)  # whatever happens next, a stale PDF must not pass for this run's
        if not job.docx.is_file():
            raise PdfError(f"{job.docx}: no such file")
        part = job.pdf.with_name(job.pdf.name + ".part")
        try:
            slot = self._idle.get()
            try:
                self._convert_on(slot, job, part)
            finally:
                self._idle.put(slot)
            info = verify_pdf(part, job.expect_text, allowed_fonts=self.allowed_fonts, shown=job.pdf)
            os.replace(part, job.pdf)
            return info
        finally:
            part.unlink(missing_ok=True)

    def _convert_on(self, slot: _Slot, job: PdfJob, part: Path) -> None:
        """Convert on the slot's worker; if the worker is lost, replace it and try once more."""
        reason = ""
        for _ in range(2):
            try:
                worker = self._worker_of(slot)
                worker.convert(job.docx.resolve(), part.resolve(), self.timeout)
            except ConversionRefused as exc:
                raise PdfError(f"{job.docx}: LibreOffice could not convert it: {exc}") from None
            except WorkerLost as exc:
                reason = str(exc)
                self._discard(slot)
                continue
            if self.recycle_after is not None and worker.jobs >= self.recycle_after:
                slot.worker = None
                worker.stop()
            return
        raise PdfError(f"{job.docx}: {reason}, and again on a fresh LibreOffice")

    def _worker_of(self, slot: _Slot) -> Worker:
        if slot.worker is None:
            assert self._toolchain is not None and self._dir is not None
            slot.worker = Worker(self._toolchain, self._dir)
            self._wait_ready(slot)
        return slot.worker

    def _wait_ready(self, slot: _Slot) -> None:
        assert slot.worker is not None
        try:
            slot.worker.wait_ready(self.start_timeout)
        except WorkerLost as exc:
            self._discard(slot, counted=False)
            raise WorkerLost(f"worker {slot.index} did not start: {exc}") from None

    def _discard(self, slot: _Slot, *, counted: bool = True) -> None:
        worker, slot.worker = slot.worker, None
        if worker is not None:
            worker.kill()
            if counted:
                with self._lock:
                    self._restarts += 1

    def _stop_all(self) -> None:
        self._idle = queue.LifoQueue()
        for slot in self._slots:
            worker, slot.worker = slot.worker, None
            if worker is not None:
                worker.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _as_job(job: PdfJob | tuple[StrPath, StrPath]) -> PdfJob:
    return job if isinstance(job, PdfJob) else PdfJob(Path(job[0]), Path(job[1]))
