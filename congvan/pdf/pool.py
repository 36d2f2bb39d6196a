"""A pool of warm LibreOffice workers turning .docx into verified PDF.

Why a pool: one ``soffice --convert-to pdf`` per document pays LibreOffice's start-up each time (about 1.4 s),
and parallel calls sharing a profile fail silently (docs/design.md §4.4). Why not unoserver: measured
on this 2-core machine, unoserver 3.7 took 10.4 s to start (fixed sleeps) and 129 ms per document, against
0.9 s and 75 ms for a direct UNO link; it must also be installed into the system Python.

So each worker is one LibreOffice with its own profile listening on a private UNO pipe, plus ``_bridge.py``
run by the Python that has ``uno``, which the pool drives with JSON lines over its stdin and stdout. Both
processes share one process group, so a hung or crashed worker is removed whole with one SIGKILL, and a
replacement gets a fresh profile (a killed LibreOffice may leave its profile locked or half written).
A worker counts as started only when it has opened a document; nothing LibreOffice prints is trusted.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from congvan.errors import PdfError
from congvan.pdf.joined import first_pages, join_documents
from congvan.pdf.toolchain import StrPath, Toolchain, check_available
from congvan.pdf.verify import ALLOWED_FONTS, PdfInfo, normalize_text, split_pages, unite, verify_pdf, verify_text

BRIDGE = Path(__file__).with_name("_bridge.py")
SOFFICE_FLAGS = ("--headless", "--invisible", "--nocrashreport", "--nodefault", "--nologo",
                 "--nofirststartwizard", "--norestore", "--nolockcheck")
STOP_GRACE_S = 5.0  # a clean LibreOffice quits in well under a second
REAP_TIMEOUT_S = 10.0
READY_POLL_S = 0.2
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


@dataclass(frozen=True)
class PdfResult:
    """One job's outcome in a batch: ``info`` when the PDF was written and verified, else ``error``."""

    job: PdfJob
    info: PdfInfo | None
    error: PdfError | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None

    def check(self) -> PdfInfo:
        """The PDF's info, or the job's ``PdfError`` raised."""
        if self.error is not None:
            raise self.error
        assert self.info is not None
        return self.info


class _Lost(Exception):
    """The worker died or hung: it must be replaced, and the document may succeed on the replacement."""


class _Refused(Exception):
    """LibreOffice is fine but could not convert this document."""


class _Worker:
    """One LibreOffice and its bridge, in a process group of their own."""

    def __init__(self, toolchain: Toolchain, parent: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="worker-", dir=parent))
        self.jobs = 0
        self._buffer = b""
        pipe = f"congvan-{uuid.uuid4().hex}"
        env = _environment(self.dir)
        self._stderr_path = self.dir / "bridge.err"
        try:
            self._soffice = subprocess.Popen(
                [str(toolchain.soffice), f"-env:UserInstallation={(self.dir / 'profile').as_uri()}", *SOFFICE_FLAGS,
                 f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                process_group=0)  # a group of its own: not hit by the terminal's Ctrl-C, killed as one
        except OSError as exc:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise _Lost(f"cannot run {toolchain.soffice}: {exc.strerror}") from None
        self.pgid = self._soffice.pid
        try:
            with self._stderr_path.open("wb") as stderr:
                self._bridge = subprocess.Popen(
                    [str(toolchain.uno_python), "-I", str(BRIDGE), pipe], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=stderr, env=env, process_group=self.pgid)
        except OSError as exc:
            os.killpg(self.pgid, signal.SIGKILL)  # the unreaped leader still holds the group
            self._soffice.wait()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise _Lost(f"cannot run {toolchain.uno_python}: {exc.strerror}") from None

    def wait_ready(self, timeout: float) -> None:
        """Return once the bridge reports that LibreOffice opened a document; ``_Lost`` if it does not."""
        deadline = time.monotonic() + timeout
        while (reply := self._read(min(READY_POLL_S, max(0.0, deadline - time.monotonic())))) is None:
            code = self._soffice.poll()  # reaping the leader is safe: the unreaped bridge keeps the group id
            if code is not None:
                raise _Lost(f"LibreOffice exited with code {code} before answering")
            if time.monotonic() >= deadline:
                raise _Lost(f"LibreOffice did not answer within {timeout:g} s")
        if reply.get("ready") is not True:
            raise _Lost(f"unexpected first answer from the UNO bridge: {reply}")

    def convert(self, src: Path, dst: Path, timeout: float) -> None:
        self._send({"src": str(src), "dst": str(dst)})
        reply = self._read(timeout)
        if reply is None:
            raise _Lost(f"LibreOffice gave no answer within {timeout:g} s")
        self.jobs += 1
        if reply.get("ok") is True:
            return
        if reply.get("fatal"):
            raise _Lost(f"LibreOffice broke down ({reply.get('error')})")
        raise _Refused(str(reply.get("error")))

    def stop(self) -> None:
        """Let the bridge quit LibreOffice (end of input), then remove whatever is left of the group."""
        stdin = self._bridge.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError):  # the bridge is already gone: nothing to tell it
            stdin.close()
        # Waiting reaps only the group leader; the unreaped bridge keeps the group id until kill() is done.
        with contextlib.suppress(subprocess.TimeoutExpired):  # kill() below ends it either way
            self._soffice.wait(STOP_GRACE_S)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the whole group (works on stopped processes too), reap both children, delete the profile."""
        with contextlib.suppress(ProcessLookupError):  # every member has already exited
            os.killpg(self.pgid, signal.SIGKILL)
        for process in (self._bridge, self._soffice):
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(BrokenPipeError):  # unflushed bytes for a dead reader
                        stream.close()
            try:
                process.wait(REAP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise PdfError(f"LibreOffice process {process.pid} survived SIGKILL") from None
        shutil.rmtree(self.dir, ignore_errors=True)

    def _send(self, message: dict[str, str]) -> None:
        stdin = self._bridge.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(message).encode() + b"\n")
            stdin.flush()
        except BrokenPipeError:
            raise _Lost(f"the UNO bridge is gone{self._bridge_error()}") from None

    def _read(self, timeout: float) -> dict[str, Any] | None:
        """The bridge's next message, or None if none came within ``timeout``; ``_Lost`` if the bridge died."""
        stdout = self._bridge.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([stdout], [], [], left)[0]:
                return None
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                raise _Lost(f"LibreOffice or its UNO bridge died{self._bridge_error()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError:
            raise _Lost(f"the UNO bridge said {line[:200]!r}") from None
        if not isinstance(message, dict):
            raise _Lost(f"the UNO bridge said {line[:200]!r}")
        return message

    def _bridge_error(self) -> str:
        """The bridge's last stderr line (its traceback's verdict), as a suffix for a message."""
        try:
            lines = self._stderr_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:  # the message is complete without it
            return ""
        return f" ({lines[-1]})" if lines else ""


def _environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    current = env.get("HOME", "")
    if not (current and os.path.isdir(current) and os.access(current, os.W_OK)):
        env["HOME"] = str(home)  # LibreOffice writes under HOME; CI may give an unwritable one
    return env


class _Slot:
    """A place for one worker; empty after its worker was removed, until the next job starts a new one."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.worker: _Worker | None = None


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
        self._idle: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
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

    def start(self) -> None:
        """Start every worker at once and return when all of them have answered."""
        if self._executor is not None:
            raise RuntimeError("PdfConverter already started")
        began = time.monotonic()
        self._toolchain = check_available(self._soffice, self._uno_python)
        self._dir = Path(tempfile.mkdtemp(prefix="congvan-pdf-"))
        self._slots = [_Slot(i) for i in range(self.workers)]
        try:
            for slot in self._slots:
                slot.worker = _Worker(self._toolchain, self._dir)
            for slot in self._slots:
                self._wait_ready(slot)
        except _Lost as exc:
            self._stop_all()
            raise PdfError(f"LibreOffice {exc}") from None
        except BaseException:
            self._stop_all()
            raise
        for slot in self._slots:
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
        results = []
        for i, job in enumerate(jobs):
            end = starts[i + 1] if i + 1 < len(jobs) else len(pages.files)
            job.pdf.parent.mkdir(parents=True, exist_ok=True)
            job.pdf.unlink(missing_ok=True)
            part = job.pdf.with_name(job.pdf.name + ".part")
            try:
                unite(pages.files[starts[i]:end], part)
                letter = verify_text(part, job.expect_text, shown=job.pdf)
                if letter != end - starts[i]:
                    raise PdfError(f"{job.pdf}: {letter} page(s) after the split, {end - starts[i]} expected")
                os.replace(part, job.pdf)
                results.append(PdfResult(job, PdfInfo(pages=letter, fonts=info.fonts), None,
                                         time.monotonic() - began))
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
            except _Refused as exc:
                raise PdfError(f"{job.docx}: LibreOffice could not convert it: {exc}") from None
            except _Lost as exc:
                reason = str(exc)
                self._discard(slot)
                continue
            if self.recycle_after is not None and worker.jobs >= self.recycle_after:
                slot.worker = None
                worker.stop()
            return
        raise PdfError(f"{job.docx}: {reason}, and again on a fresh LibreOffice")

    def _worker_of(self, slot: _Slot) -> _Worker:
        if slot.worker is None:
            assert self._toolchain is not None and self._dir is not None
            slot.worker = _Worker(self._toolchain, self._dir)
            self._wait_ready(slot)
        return slot.worker

    def _wait_ready(self, slot: _Slot) -> None:
        assert slot.worker is not None
        try:
            slot.worker.wait_ready(self.start_timeout)
        except _Lost as exc:
            self._discard(slot, counted=False)
            raise _Lost(f"worker {slot.index} did not start: {exc}") from None

    def _discard(self, slot: _Slot, *, counted: bool = True) -> None:
        worker, slot.worker = slot.worker, None
        if worker is not None:
            worker.kill()
            if counted:
                with self._lock:
                    self._restarts += 1

    def _stop_all(self) -> None:
        self._idle = queue.SimpleQueue()
        for slot in self._slots:
            worker, slot.worker = slot.worker, None
            if worker is not None:
                worker.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def make_pdf(docx: Path, expect_text: Sequence[str] = ()) -> Path:
    """``x.docx`` -> verified ``x.pdf`` beside it, with a one-worker pool started for this document alone
    (about 1.5 s). For more than one document keep a ``PdfConverter`` open instead."""
    pdf = docx.with_suffix(".pdf")
    with PdfConverter(workers=1) as conv:
        conv.convert(docx, pdf, expect_text=expect_text)
    return pdf


def _as_job(job: PdfJob | tuple[StrPath, StrPath]) -> PdfJob:
    return job if isinstance(job, PdfJob) else PdfJob(Path(job[0]), Path(job[1]))
