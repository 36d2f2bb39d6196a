"""Start-up of the commands that run no flow: ``--help``, ``validate``, ``status``, ``check``, as a user runs them.

Ours: ``python -m congvan ARGS`` in a fresh process; the CLI imports what a command needs when it runs
(SQLAlchemy, openpyxl, docxtpl, Prefect, the LibreOffice glue stay out of ``--help`` and ``check``).
Baseline, the eager way main had, in the same run: the same command after importing at start every module
main's ``congvan/cli.py`` imported at its top (roster → openpyxl → numpy, escalation → dispatch → mail →
yagmail, the mail catcher → aiosmtpd, SQLAlchemy's ORM, the checker, docxtpl).
A third side, untuned, runs the same lazy CLI without ``congvan/__main__.py``'s tuning of the cyclic collector,
to show what that tuning is worth.
Each command runs 5 times per side, alternating, on the sample campaign (36 units, 540 officials
imported) in a temporary output folder and SQLite database; the best time of each side counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = "par-index-2022"
RUNS = 5
TARGET_S = 0.4
# What main's congvan/cli.py imported at its top before this change.
EAGER = ("sqlalchemy.engine", "congvan.compliance", "congvan.escalation", "congvan.nd30", "congvan.policy",
         "congvan.register", "congvan.roster", "congvan.config", "congvan.dispatch", "congvan.documents",
         "congvan.mail", "congvan.mailcatcher", "congvan.settings", "congvan.store.db", "congvan.validation",
         "congvan.vndate", "congvan.workdays")


def _run(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, check=False, timeout=120)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{command}: exit {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return elapsed


def bench_startup() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "CONGVAN_CONFIG_DIR": str(ROOT / "config"),
               "CONGVAN_TEMPLATES_DIR": str(ROOT / "templates"), "CONGVAN_OUTPUT_DIR": str(tmp / "out"),
               "CONGVAN_DATABASE_URL": f"sqlite:///{tmp / 'congvan.db'}"}
        ours = [sys.executable, "-m", "congvan"]
        eager = [sys.executable, "-c", f"import {', '.join(EAGER)}; from congvan.cli import main; main()"]
        untuned = [sys.executable, "-c", "from congvan.cli import main; main()"]
        # The state status reads: the sample roster (540 officials); a draft for check to read.
        subprocess.run([*ours, "roster", "import", CAMPAIGN], env=env, check=True, capture_output=True)
        draft = subprocess.run([*ours, "render", CAMPAIGN, "--draft", "--out", str(tmp / "draft")], env=env,
                               check=True, capture_output=True, text=True).stdout.strip()
        commands = {"--help": ["--help"], "validate": ["validate", CAMPAIGN],
                    "status": ["status", CAMPAIGN, "--as-of", "2023-02-27"], "check": ["check", draft]}
        sides = {"ours": ours, "eager": eager, "untuned": untuned}
        best = {name: dict.fromkeys(sides, float("inf")) for name in commands}
        for _ in range(RUNS):
            for name, args in commands.items():
                for side, command in sides.items():
                    best[name][side] = min(best[name][side], _run([*command, *args], env))
        python_s = min(_run([sys.executable, "-c", "pass"], env) for _ in range(RUNS))
    load = round(os.getloadavg()[0], 2)
    rows = []
    for name, t in best.items():
        rows.append({"name": f"startup_{name.strip('-')}", "ours_per_s": round(1 / t["ours"], 2),
                     "baseline_per_s": round(1 / t["eager"], 2), "ratio": round(t["eager"] / t["ours"], 2),
                     "seconds": round(t["ours"], 3), "baseline_seconds": round(t["eager"], 3),
                     "untuned_seconds": round(t["untuned"], 3), "target_s": TARGET_S,
                     "python_alone_s": round(python_s, 3), "load_average": load,
                     "notes": f"`congvan {' '.join(commands[name])}` in a fresh process, best of {RUNS}, whole "
                              "run (start-up and the command's work); baseline: the same after main's eager "
                              "imports; untuned: ours without the collector's tuning. Bound: imports (Python, "
                              "typer and Click for every command; the config's pydantic models; SQLAlchemy's Core "
                              "without its ORM, about 0.09 s, for status; docxtpl and jinja2 for validate, which "
                              "also reads the .xlsx roster (congvan/xlsx_reader.py, no openpyxl), 0.01 s; lxml for "
                              "check)"})
    return rows


if __name__ == "__main__":
    for row in bench_startup():
        print(row)
