"""Rendering the one-page dispatch: congvan's compiled renderer against the naive docxtpl loop.

Naive loop (how docxtpl is usually scripted): per document, open the template with DocxTemplate,
render with autoescape, save. Ours: the template compiled once per process; per document only
the Jinja render, the XML check and the zip write. Same contexts, same template, same run, one core.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from docxtpl import DocxTemplate

from congvan.config import load_campaign
from congvan.documents import dispatch_context
from congvan.register import Allocation
from congvan.render import environment, load_template
from congvan.text import sanitize

ROOT = Path(__file__).resolve().parent.parent
N = 300


def _contexts(n: int) -> list[dict[str, Any]]:
    lc = load_campaign(ROOT / "config", "par-index-2022")
    out = []
    for i in range(n):
        unit = lc.units[i % len(lc.units)]
        allocation = Allocation(number=i + 1, year=2023, register="UBND", symbol=lc.symbol,
                                issued_on=dt.date(2023, 2, 7), key=f"bench/{i}", document_id=i, created=True)
        ctx = dispatch_context(lc, allocation=allocation)
        ctx["kinh_gui"] = [unit.name]
        out.append(sanitize(ctx))
    return out


def _naive(template: Path, contexts: list[dict[str, Any]], out_dir: Path) -> float:
    env = environment()
    start = time.perf_counter()
    for i, ctx in enumerate(contexts):
        tpl = DocxTemplate(template)
        tpl.render(ctx, jinja_env=env)
        tpl.save(out_dir / f"naive-{i}.docx")
    return time.perf_counter() - start


def _ours(template: Path, contexts: list[dict[str, Any]], out_dir: Path) -> float:
    start = time.perf_counter()
    compiled = load_template(template)  # compile cost is inside the timing
    for i, ctx in enumerate(contexts):
        compiled.render_to(ctx, out_dir / f"ours-{i}.docx")
    return time.perf_counter() - start


def bench_render(n: int = N) -> dict[str, object]:
    template = ROOT / "templates" / "cong_van.docx"
    contexts = _contexts(n)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _naive(template, contexts[:5], out)  # warm imports and caches for both sides
        _ours(template, contexts[:5], out)
        naive = min(_naive(template, contexts, out) for _ in range(2))
        ours = min(_ours(template, contexts, out) for _ in range(2))
    ours_rate, naive_rate = n / ours, n / naive
    return {"name": "render one-page dispatch (docs/s, 1 core)", "ours_per_s": round(ours_rate, 1),
            "baseline_per_s": round(naive_rate, 1), "ratio": round(ours_rate / naive_rate, 2)}
