"""The user guide matches reality, mechanically: every command it shows is run, in the order it gives, in a
fresh copy of the project, and every output it quotes is compared with what the command printed.

How the guide says what is what (HTML comments, invisible when the guide is read):

- a ``sh`` block is run line by line (``cd`` into the project and activating the venv are what the walk does
  already); ``<!-- guide: background -->`` starts it and goes on (the mail catcher); ``<!-- guide: not run:
  WHY -->`` skips it, and must say why;
- a ``text`` block after a command is ``<!-- guide: output -->`` (its standard output) or ``<!-- guide:
  stderr -->``, optionally ``, exit N`` (default 0); a line ``...`` stands for any number of lines; the
  moment of a decision (dd/mm/yyyy HH:MM) and the project's own path are not compared; ``<!-- guide:
  example: WHY -->`` marks a quoted output that is not the previous command's (an error to illustrate).
  A ``text`` block without one of these fails the test, so nothing quoted escapes the comparison.

To refresh a quoted output after a deliberate change, run this test with ``CONGVAN_GUIDE_DUMP=DIR``: each
compared output is written to ``DIR/line-N.txt`` (N: the quoted block's line in the guide).

The walk runs in Vietnamese, as a coordinator reads it, on the default SQLite database under ``outputs/``.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from forkserver import cli_on_path
from support import ROOT, free_port, wait_for_port

GUIDE = ROOT / "docs" / "huong-dan-su-dung.md"
NOTE = re.compile(r"^<!-- guide: (?P<note>.*?) -->$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>\w*)\s*$")
ELLIPSIS = {"...", "…"}
MOMENT = re.compile(r"\b\d{2}/\d{2}/\d{4} \d{2}:\d{2}\b")
SETUP_LINE = re.compile(r"^(cd |\. \.venv/bin/activate$|source \.venv/bin/activate$)")
COMMAND_TIMEOUT = 600


@dataclass
class Block:
    lang: str
    lines: list[str]
    note: str | None
    line: int  # where the block starts in the guide (1-based)


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the ``guide:`` note just above it (if any)."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start, body, indent = i, [], len(m["indent"])
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i][indent:])  # a block inside a list item is indented with the item
            i += 1
        above = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        note = NOTE.match(above)
        found.append(Block(m["lang"], body, note["note"] if note else None, start + 1))
        i += 1
    return found


def problems_of_notes(found: list[Block]) -> list[str]:
    """What is wrong with the notes: a quoted output nobody compares, a skip without a reason, a note unknown."""
    problems = []
    for block in found:
        note = block.note or ""
        if block.lang == "sh":
            if note and note != "background" and not re.fullmatch(r"not run: \S.*|exit \d+", note):
                problems.append(f"line {block.line}: unknown note for a command block: {note!r}")
        elif block.lang == "text":
            if not note:
                problems.append(f"line {block.line}: a quoted output without <!-- guide: output|stderr|example: "
                                "WHY -->")
            elif not re.fullmatch(r"(output|stderr)(, exit \d+)?|example: \S.*", note):
                problems.append(f"line {block.line}: unknown note for a quoted output: {note!r}")
    return problems


def matches(quoted: list[str], printed: str, root: Path) -> bool:
    """Whether ``printed`` is what ``quoted`` shows (``...`` lines: any lines; moments and paths aside)."""
    actual = [line.rstrip() for line in _normal(printed, root).splitlines()]
    pattern = "".join(r"(?:[^\n]*\n)*?" if line.strip() in ELLIPSIS else re.escape(_normal(line, root).rstrip()) + r"\n"
                      for line in quoted)
    return re.fullmatch(pattern, "".join(line + "\n" for line in actual)) is not None


def _normal(text: str, root: Path) -> str:
    text = text.replace(f"{root}/", "").replace(str(root), ".")
    return MOMENT.sub("<dd/mm/yyyy HH:MM>", text)


@dataclass
class Ran:
    """The commands of one block, run in turn: what a reader sees in their terminal is all of their output."""

    block: Block
    commands: list[str] = field(default_factory=list)
    results: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    @property
    def command(self) -> str:
        return " && ".join(self.commands)

    @property
    def returncode(self) -> int:
        return self.results[-1].returncode

    def printed(self, stream: str) -> str:
        return "".join(r.stderr if stream == "stderr" else r.stdout for r in self.results)


@dataclass
class Walk:
    root: Path
    compared: list[tuple[Block, Ran]] = field(default_factory=list)  # each quoted output and its command
    failures: list[str] = field(default_factory=list)


def fresh_project(tmp: Path) -> Path:
    """What a fresh clone holds that the guide uses: config/, templates/, docs/ (the example files)."""
    root = tmp / "congvan"
    for folder in ("config", "templates", "docs"):
        shutil.copytree(ROOT / folder, root / folder)
    return root


def walk_guide(root: Path, prefect_api: str, text: str) -> Walk:
    """Run the guide's commands in order in ``root``; compare each quoted output with what was printed."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONGVAN_", "PREFECT_"))}
    # `congvan` forked from the tests' fork server (tests/forkserver.py), then the venv's own commands.
    commands = cli_on_path(root.parent / "bin")
    env.update(PATH=f"{commands}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               CONGVAN_LANG="vi",
               CONGVAN_SMTP_PORT=str(port), PYTHONIOENCODING="utf-8", PREFECT_API_URL=prefect_api,
               PREFECT_HOME=str(root.parent / "prefect-home"), CONGVAN_SMTP_BACKOFF="0",
               PREFECT_API_SSL_CERT_FILE=os.environ["PREFECT_API_SSL_CERT_FILE"])  # tests/conftest.py: for speed
    walk = Walk(root)
    background: list[subprocess.Popen[str]] = []
    last: Ran | None = None
    checked = True

    def settle(expected: int = 0) -> None:
        if last is not None and not checked and last.returncode != expected:
            walk.failures.append(f"line {last.block.line}: `{last.command}` ended with {last.returncode}, not "
                                 f"{expected}:\n{last.printed('stdout')}{last.printed('stderr')}")

    try:
        for block in blocks(text):
            note = block.note or ""
            if block.lang == "sh":
                settle()
                checked = True
                if note.startswith("not run:"):
                    continue  # the output quoted next belongs to the command run before it
                ran = Ran(block)
                for raw in block.lines:
                    command = re.sub(r"\s+#.*$", "", raw).strip()
                    if not command or SETUP_LINE.match(command):
                        continue
                    if note == "background":
                        process = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=root, env=env, text=True,
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                                   start_new_session=True)
                        background.append(process)
                        wait_for_port(port, process)
                        continue
                    if ran.results and ran.returncode != 0:
                        walk.failures.append(f"line {block.line}: `{ran.command}` ended with {ran.returncode}:\n"
                                             f"{ran.printed('stdout')}{ran.printed('stderr')}")
                    ran.commands.append(command)
                    ran.results.append(subprocess.run(["bash", "-c", command], cwd=root, env=env, text=True,
                                                      capture_output=True, encoding="utf-8", timeout=COMMAND_TIMEOUT,
                                                      check=False))
                    last, checked = ran, False
                if note.startswith("exit "):
                    settle(int(note.split()[1]))
                    checked = True
            elif block.lang == "text" and note and not note.startswith("example:"):
                if last is None:
                    walk.failures.append(f"line {block.line}: a quoted output with no command run before it")
                    continue
                stream, _, exit_note = note.partition(", ")
                printed = last.printed(stream)
                expected = int(exit_note.split()[1]) if exit_note else 0
                settle(expected)
                checked = True
                walk.compared.append((block, last))
                if dump := os.environ.get("CONGVAN_GUIDE_DUMP"):  # to refresh a quoted output from the real one
                    Path(dump).mkdir(parents=True, exist_ok=True)
                    (Path(dump) / f"line-{block.line}.txt").write_text(_normal(printed, root), encoding="utf-8")
                if not matches(block.lines, printed, root):
                    diff = "\n".join(difflib.unified_diff(block.lines, _normal(printed, root).splitlines(),
                                                          "guide", "printed", lineterm=""))
                    walk.failures.append(f"line {block.line}: `{last.command}` printed something else "
                                         f"({stream}):\n{diff}")
        settle()
    finally:
        for process in background:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    return walk


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> Iterator[Walk]:
    yield walk_guide(fresh_project(tmp_path_factory.mktemp("guide")), prefect_api, GUIDE.read_text(encoding="utf-8"))


def test_every_block_of_the_guide_says_what_it_is() -> None:
    found = blocks(GUIDE.read_text(encoding="utf-8"))
    assert problems_of_notes(found) == []
    assert sum(b.lang == "sh" and not (b.note or "").startswith("not run") for b in found) >= 20
    assert sum(b.lang == "text" and (b.note or "").startswith(("output", "stderr")) for b in found) >= 15


def test_the_guide_walked_from_a_fresh_copy_prints_what_it_quotes(walk: Walk) -> None:
    assert walk.compared, "no quoted output was compared"
    assert not walk.failures, "\n\n".join(walk.failures)


def test_a_changed_quoted_output_fails_the_walk(walk: Walk) -> None:
    """Each quoted output, changed in one character of one line it compares, no longer matches what was printed."""
    for block, ran in walk.compared:
        printed = ran.printed("stderr" if block.note and block.note.startswith("stderr") else "stdout")
        lines = [i for i, line in enumerate(block.lines) if line.strip() not in ELLIPSIS and line.strip()]
        assert lines, f"line {block.line}: a quoted output that compares nothing"
        i = lines[len(lines) // 2]
        changed = list(block.lines)
        changed[i] = changed[i][:-1] + ("x" if changed[i][-1:] != "x" else "y")
        assert not matches(changed, printed, walk.root), f"line {block.line}: a change went unnoticed"
        # A line dropped beside a "..." is what "..." means; elsewhere it is a change.
        fixed = [j for j in lines if all(block.lines[k].strip() not in ELLIPSIS
                                         for k in (j - 1, j + 1) if 0 <= k < len(block.lines))]
        for j in fixed[:1]:
            dropped = block.lines[:j] + block.lines[j + 1:]
            assert not matches(dropped, printed, walk.root), f"line {block.line}: a dropped line went unnoticed"


def test_the_notes_check_catches_what_escapes_the_walk() -> None:
    crafted = "\n".join([
        "```sh", "congvan validate x", "```", "", "```text", "x: OK", "```", "",
        "<!-- guide: not run -->", "```sh", "congvan reject x", "```", "",
        "<!-- guide: outptu -->", "```text", "y", "```",
    ])
    assert [p.split(":")[0] for p in problems_of_notes(blocks(crafted))] == ["line 5", "line 10", "line 15"]


def test_ellipsis_and_moments_in_quoted_outputs(tmp_path: Path) -> None:
    printed = f"A lúc 28/11/2026 09:15\nb\nc\nd {tmp_path}/outputs/x.docx\n"
    assert matches(["A lúc 01/01/2027 10:00", "...", "d outputs/x.docx"], printed, tmp_path)
    assert matches(["A lúc 01/01/2027 10:00", "b", "…", "c", "d outputs/x.docx"], printed, tmp_path)
    assert not matches(["A lúc 01/01/2027 10:00", "...", "c"], printed, tmp_path)
    assert not matches(["B lúc 28/11/2026 09:15", "..."], printed, tmp_path)


def test_the_example_files_are_what_the_script_writes(tmp_path: Path) -> None:
    """docs/vi-du/ holds what scripts/guide_examples.py writes (the exports byte for byte, the roster by cell)."""
    import openpyxl

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import guide_examples
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    for path in guide_examples.write_all(tmp_path):
        committed = ROOT / "docs" / "vi-du" / path.name
        if path.suffix == ".csv":
            assert committed.read_bytes() == path.read_bytes(), committed
        else:
            rows = [list(openpyxl.load_workbook(p).active.values) for p in (committed, path)]
            assert rows[0] == rows[1], committed
