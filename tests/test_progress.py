"""Something on screen within a second (issue 15): at a terminal, a command silent for a moment says it is
working, and that line is erased when the command's own output starts. Real pseudo-terminals, no timing
asserted: the delay is made long or short on purpose."""

from __future__ import annotations

import io
import os
import pty
import sys
import time
from collections.abc import Iterator

import pytest

from congvan.cli_base import visible_at_once


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A pseudo-terminal, as in a coordinator's window; yields its master end. The test puts stdout and stderr on
    it with ``_on()`` (pytest's own capture sets them again when the test body starts)."""
    master, slave = pty.openpty()
    stream = io.TextIOWrapper(os.fdopen(slave, "wb", buffering=0), encoding="utf-8", write_through=True)
    monkeypatch.setenv("CONGVAN_LANG", "vi")
    _streams.append(stream)
    yield master
    _streams.clear()
    stream.close()
    os.close(master)


_streams: list[io.TextIOWrapper] = []


def _on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", _streams[0])
    monkeypatch.setattr(sys, "stderr", _streams[0])


def _read(master: int) -> str:
    """Everything written so far (a pseudo-terminal hands it over in pieces)."""
    os.set_blocking(master, False)
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except BlockingIOError:
            time.sleep(0.05)
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                return data.decode("utf-8")
        data += chunk


def test_a_silent_command_says_it_is_working_then_erases_the_line(terminal: int,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    master = terminal
    _on(monkeypatch)
    with visible_at_once(after=0.05):
        time.sleep(0.5)  # the imports and checks of a slow command
        print("par-index-2022: ĐẠT")
    seen = _read(master)
    assert seen.startswith("Đang xử lý…\r\x1b[K"), repr(seen)
    assert seen.replace("\r\n", "\n").endswith("par-index-2022: ĐẠT\n")


def test_a_command_that_answers_at_once_shows_no_working_line(terminal: int, monkeypatch: pytest.MonkeyPatch) -> None:
    master = terminal
    _on(monkeypatch)
    with visible_at_once(after=5):
        print("par-index-2022: ĐẠT")
    assert _read(master).replace("\r\n", "\n") == "par-index-2022: ĐẠT\n"


def test_a_working_line_with_nothing_after_it_is_erased(terminal: int, monkeypatch: pytest.MonkeyPatch) -> None:
    master = terminal
    _on(monkeypatch)
    with visible_at_once(after=0.05):
        time.sleep(0.5)
    assert _read(master) == "Đang xử lý…\r\x1b[K"


def test_not_at_a_terminal_nothing_changes(capsys: pytest.CaptureFixture[str]) -> None:
    with visible_at_once(after=0):
        time.sleep(0.2)
        print("kết quả")
    assert capsys.readouterr() == ("kết quả\n", "")
