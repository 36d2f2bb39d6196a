"""PDF conversion: congvan's warm LibreOffice pool against one ``soffice --convert-to pdf`` call per document.

Same one-page letters (the sample dispatch cut to its first two body paragraphs), same run.
Ours: ``PdfConverter(workers=2)``; its start-up is timed on its own, one document per worker warms it, then a
batch of N is timed, every PDF verified (pdfinfo, pdffonts, pdftotext for its number).
Baseline, the naive way: ``soffice --headless --convert-to pdf --outdir DIR letter.docx`` once per document,
all calls sharing one fresh temporary profile (as users do), warmed by one untimed call; nothing verified.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import tempfile
import time
from pathlib import Path

from congvan.config import load_campaign
from congvan.documents import dispatch_context
from congvan.pdf import PdfConverter, PdfJob
from congvan.register import Allocation
from congvan.render import load_template

ROOT = Path(__file__).resolve().parent.parent
N, N_BASELINE, WORKERS = 40, 8, 2
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _letters(n: int, out: Path) -> list[Path]:
    lc = load_campaign(ROOT / "config", "par-index-2022")
    template = load_template(ROOT / "templates" / lc.campaign.template)
    paths = []
    for i in range(1, n + 1):
        allocation = Allocation(number=i, year=2023, register="UBND", symbol=lc.symbol,
                                issued_on=dt.date(2023, 2, 7), key=f"bench/{i}", document_id=i, created=True)
        context = dispatch_context(lc, allocation=allocation)
        context["noi_dung"] = context["noi_dung"][:2]  # one page
        paths.append(template.render_to(context, out / f"cv-{i:02d}.docx"))
    return paths


def _group_cpu_s(groups: list[int]) -> float:
    """CPU seconds used so far by every process in the worker groups (LibreOffice and the UNO bridges)."""
    total = 0
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split() if entry.name.isdigit() else []
        except OSError:  # exited while we looked
            continue
        if fields and int(fields[2]) in groups:
            total += int(fields[11]) + int(fields[12])
    return total * TICK_S


def _machine_busy_s() -> float:
    """CPU seconds all processes on the machine have used so far (not idle, not waiting on I/O)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) * TICK_S


def _ours(letters: list[Path], out: Path) -> dict[str, float]:
    with PdfConverter(workers=WORKERS) as conv:
        warm = conv.convert_many([(d, out / f"warm-{i}.pdf") for i, d in enumerate(letters[:WORKERS])])
        assert all(r.ok for r in warm), [str(r.error) for r in warm]
        jobs = [PdfJob(d, out / f"ours-{i}.pdf", (f"Số: {i:02d}/UBND-KSTTHC",)) for i, d in enumerate(letters, 1)]
        groups = conv.process_groups()
        cpu_lo, cpu_py, cpu_tools, machine = _group_cpu_s(groups), time.process_time(), os.times(), _machine_busy_s()
        began = time.perf_counter()
        results = conv.convert_many(jobs)
        wall = time.perf_counter() - began
        after, machine = os.times(), _machine_busy_s() - machine
        errors = [str(r.error) for r in results if r.error is not None]
        if errors:
            raise RuntimeError(f"{len(errors)} conversion(s) failed: {errors[0]}")
        return {"wall": wall, "startup": conv.startup_seconds, "pages": results[0].check().pages,
                "cpu_lo": _group_cpu_s(groups) - cpu_lo, "cpu_py": time.process_time() - cpu_py, "machine": machine,
                "cpu_tools": (after.children_user + after.children_system)
                - (cpu_tools.children_user + cpu_tools.children_system)}


def _ours_joined(letters: list[Path], out: Path) -> dict[str, float]:
    """The escalation run's way: groups of 20 letters joined, converted once, split, each letter verified."""
    with PdfConverter(workers=WORKERS) as conv:
        warm = conv.convert_many([(d, out / f"warm-j{i}.pdf") for i, d in enumerate(letters[:WORKERS])])
        assert all(r.ok for r in warm), [str(r.error) for r in warm]
        jobs = [PdfJob(d, out / f"joined-{i}.pdf", (f"Số: {i:02d}/UBND-KSTTHC",),
                       first_page=f"Số: {i:02d}/UBND-KSTTHC") for i, d in enumerate(letters, 1)]
        groups = conv.process_groups()
        cpu_lo, machine = _group_cpu_s(groups), _machine_busy_s()
        began = time.perf_counter()
        results = conv.convert_joined(jobs)
        wall = time.perf_counter() - began
        errors = [str(r.error) for r in results if r.error is not None]
        if errors or conv.joined_fallbacks:
            raise RuntimeError(f"joined: {len(errors)} failed, {conv.joined_fallbacks} group(s) one by one: "
                               f"{errors[:1]}")
        return {"wall": wall, "cpu_lo": _group_cpu_s(groups) - cpu_lo, "machine": _machine_busy_s() - machine}


def _naive_once(docx: Path, profile: Path, out: Path) -> None:
    out.mkdir()
    subprocess.run(["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(out), str(docx)], capture_output=True, check=False, timeout=120)
    if not (out / docx.with_suffix(".pdf").name).is_file():  # soffice's exit code says nothing (docs/design.md §4.4)
        raise RuntimeError(f"soffice produced no PDF for {docx}")


def _naive(letters: list[Path], out: Path) -> float:
    profile = out / "profile"
    _naive_once(letters[0], profile, out / "naive-warm")
    began = time.perf_counter()
    for i, docx in enumerate(letters[:N_BASELINE]):
        _naive_once(docx, profile, out / f"naive-{i}")
    return time.perf_counter() - began


def _bound(m: dict[str, float], n: int) -> str:
    per_doc_ms = {k: 1000 * m[k] / n for k in ("wall", "cpu_lo", "cpu_py", "cpu_tools")}
    cores = os.cpu_count() or WORKERS
    ours = (m["cpu_lo"] + m["cpu_py"] + m["cpu_tools"]) / (m["wall"] * cores)
    machine = m["machine"] / (m["wall"] * cores)
    kind = "CPU-bound" if machine >= 0.85 else "not CPU-bound (waiting on IPC or I/O)"
    others = f", other processes {machine - ours:.0%}" if machine - ours >= 0.1 else ""
    return (f"{kind}: the {cores} cores were {machine:.0%} busy (this pool {ours:.0%}{others}); per document "
            f"{per_doc_ms['wall']:.0f} ms wall, LibreOffice {per_doc_ms['cpu_lo']:.0f} ms CPU, verification "
            f"tools {per_doc_ms['cpu_tools']:.0f} ms, pool threads {per_doc_ms['cpu_py']:.0f} ms")


def bench_pdf(n: int = N) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        letters = _letters(n, out)
        naive = _naive(letters, out)
        m = _ours(letters, out)
        j = _ours_joined(letters, out)
    ours_rate, naive_rate = n / m["wall"], N_BASELINE / naive
    bound = _bound(m, n)
    print(f"pdf_convert: {bound}")
    load = round(os.getloadavg()[0], 2)
    joined = {"name": "pdf_convert_joined", "ours_per_s": round(n / j["wall"], 1),
              "baseline_per_s": round(naive_rate, 2), "ratio": round(n / j["wall"] / naive_rate, 1),
              "one_by_one_per_s": round(ours_rate, 1), "ratio_vs_one_by_one": round(m["wall"] / j["wall"], 2),
              "workers": WORKERS, "n": n, "load_average": load,
              "notes": f"groups of 20 letters joined into one .docx, converted once, split per letter with "
                       f"pdfseparate; each letter's PDF verified (text and pages on its own file, fonts once per "
                       f"group). LibreOffice {1000 * j['cpu_lo'] / n:.0f} ms CPU per letter joined, against "
                       f"{1000 * m['cpu_lo'] / n:.0f} ms one by one; the cores were "
                       f"{j['machine'] / (j['wall'] * (os.cpu_count() or WORKERS)):.0%} busy"}
    return [{"name": "pdf_convert", "ours_per_s": round(ours_rate, 1), "baseline_per_s": round(naive_rate, 2),
            "ratio": round(ours_rate / naive_rate, 1), "workers": WORKERS, "n": n, "n_baseline": N_BASELINE,
            "pages_per_doc": int(m["pages"]), "startup_s": round(m["startup"], 2),
            "ours_with_startup_per_s": round(n / (m["startup"] + m["wall"]), 1),
            "load_average": load, "notes": f"ours verifies every PDF, the baseline nothing; {bound}"}, joined]


if __name__ == "__main__":
    print(bench_pdf())
