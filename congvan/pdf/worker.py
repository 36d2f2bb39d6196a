"""One warm converter worker: a LibreOffice with its own profile on a private UNO pipe, and ``_bridge.py`` run
by the Python that has ``uno``, driven with JSON lines over its stdin and stdout (docs/design.md §4.4).

Both processes share one process group, so a hung or crashed worker is removed whole with one SIGKILL, and a
replacement gets a fresh profile (a killed LibreOffice may leave its profile locked or half written).
A worker counts as started only when it has opened a document; nothing LibreOffice prints is trusted.
``congvan.pdf.pool`` keeps several and replaces the ones it loses.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from congvan.errors import PdfError
from congvan.pdf.toolchain import Toolchain

BRIDGE = Path(__file__).with_name("_bridge.py")
SOFFICE_FLAGS = ("--headless", "--invisible", "--nocrashreport", "--nodefault", "--nologo",
                 "--nofirststartwizard", "--norestore", "--nolockcheck")
STOP_GRACE_S = 5.0  # a clean LibreOffice quits in well under a second
REAP_TIMEOUT_S = 10.0
REFUSAL_GRACE_S = 0.3  # after a refused conversion: time for a LibreOffice that was killed to be seen gone
READY_POLL_S = 0.2


class WorkerLost(Exception):
    """The worker died or hung: it must be replaced, and the document may succeed on the replacement."""


class ConversionRefused(Exception):
    """LibreOffice is fine but could not convert this document."""


class Worker:
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
            raise WorkerLost(f"cannot run {toolchain.soffice}: {exc.strerror}") from None
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
            raise WorkerLost(f"cannot run {toolchain.uno_python}: {exc.strerror}") from None

    def wait_ready(self, timeout: float) -> None:
        """Return once the bridge reports that LibreOffice opened a document; ``WorkerLost`` if it does not."""
        deadline = time.monotonic() + timeout
        while (reply := self._read(min(READY_POLL_S, max(0.0, deadline - time.monotonic())))) is None:
            code = self._soffice.poll()  # reaping the leader is safe: the unreaped bridge keeps the group id
            if code is not None:
                raise WorkerLost(f"LibreOffice exited with code {code} before answering")
            if time.monotonic() >= deadline:
                raise WorkerLost(f"LibreOffice did not answer within {timeout:g} s")
        if reply.get("ready") is not True:
            raise WorkerLost(f"unexpected first answer from the UNO bridge: {reply}")

    def convert(self, src: Path, dst: Path, timeout: float) -> None:
        self._send({"src": str(src), "dst": str(dst)})
        reply = self._read(timeout)
        if reply is None:
            raise WorkerLost(f"LibreOffice gave no answer within {timeout:g} s")
        self.jobs += 1
        if reply.get("ok") is True:
            return
        if reply.get("fatal"):
            raise WorkerLost(f"LibreOffice broke down ({reply.get('error')})")
        if self._exits_within(REFUSAL_GRACE_S):  # a LibreOffice killed mid-store answers with a store error first
            raise WorkerLost(f"LibreOffice died while converting ({reply.get('error')})")
        raise ConversionRefused(str(reply.get("error")))

    def _exits_within(self, seconds: float) -> bool:
        try:
            self._soffice.wait(seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

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
            raise WorkerLost(f"the UNO bridge is gone{self._bridge_error()}") from None

    def _read(self, timeout: float) -> dict[str, Any] | None:
        """The bridge's next message, or None if none came within ``timeout``; ``WorkerLost`` if the bridge died."""
        stdout = self._bridge.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([stdout], [], [], left)[0]:
                return None
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                raise WorkerLost(f"LibreOffice or its UNO bridge died{self._bridge_error()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError:
            raise WorkerLost(f"the UNO bridge said {line[:200]!r}") from None
        if not isinstance(message, dict):
            raise WorkerLost(f"the UNO bridge said {line[:200]!r}")
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
