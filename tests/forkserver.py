"""The tests' fork server: `python -m congvan ARGS` as a process forked from one that has already imported
congvan, its flows and their libraries, instead of a fresh interpreter importing them again.

Why: the suite runs a few hundred commands, and a fresh process spends most of its CPU importing (about 3.5 s
for a command that runs a flow: Prefect, SQLAlchemy, pydantic, docxtpl), which was most of the suite's time.
What stays true: each command is a process of its own, with its own arguments, environment, folder, stdin,
stdout and stderr (the caller's, passed over the socket) and exit code; it starts from a state where nothing
has run but the imports and the sample campaign's validation, whose only trace is what congvan keeps by a
file's content (``_warm_caches``). What is skipped is the imports (and that work, for the sample's files), so the
tests about imports and start-up run in a fresh interpreter (``Project.command(..., fresh=True)``), as does the
SIGKILL test.

The client is ``tests/forked_cli.py`` (a few milliseconds of Python with no site packages); if it dies, even by
SIGKILL, the server kills its command, so killing the client is killing the command.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import io
import json
import os
import pkgutil
import runpy
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

# As `congvan`'s flow commands set them before Prefect is imported (congvan/cli_flow.py), so that the import
# here configures Prefect's logging and analytics as a fresh command's import would.
PREFECT_AT_IMPORT = {"PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                     "DO_NOT_TRACK": "1"}
LIBRARIES = ("prefect.main", "prefect.flow_engine", "prefect.task_engine", "prefect.client.orchestration",
             "sqlalchemy.orm", "sqlalchemy.dialects.postgresql.psycopg", "sqlalchemy.dialects.sqlite",
             "psycopg", "alembic.command", "alembic.runtime.migration", "docxtpl", "docx", "openpyxl", "yagmail",
             "aiosmtpd.controller", "pyhanko.sign.signers", "pyhanko.sign.validation", "matplotlib.pyplot", "jinja2",
             "fastapi.encoders", "graphviz", "starlette.applications", "anyio._backends._asyncio",
             "opentelemetry.metrics", "opentelemetry._logs")
SKIPPED = ("congvan.__main__", "congvan.pdf._bridge", "congvan.store.migrations")


def preload() -> None:
    os.environ.update(PREFECT_AT_IMPORT)
    for name in LIBRARIES:
        importlib.import_module(name)
    import congvan
    import flows

    for package in (congvan, flows):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.startswith(SKIPPED):
                importlib.import_module(info.name)
    _warm_caches()


def _warm_caches() -> None:
    """Validate the sample campaigns once, here: what congvan keeps by a file's bytes (compiled templates, the
    last roster sheet read, the template's measures) is then in every command forked, as in a process that read
    those files before. A command given the sample's files (most tests copy them) skips that work, 2 to 3 s of
    CPU per flow command; one given any other bytes reads them as a fresh process would."""
    from congvan.errors import CongVanError
    from congvan.validation import validate_campaign

    root = Path(__file__).resolve().parent.parent
    for campaign in sorted(p.stem for p in (root / "config" / "campaigns").glob("*.yaml")):
        with contextlib.suppress(CongVanError):
            validate_campaign(root / "config", root / "templates", campaign)


def serve(path: str) -> tuple[dict[str, Any], list[int]]:
    """Accept commands until killed; returns only in a forked child, with its request and its three fds."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    Path(f"{path}.ready").touch()  # for the clients, which wait for it (``_ready``)
    while True:
        conn, _ = listener.accept()
        request, fds = _receive(conn)
        pid = os.fork()
        if pid == 0:
            listener.close()
            conn.close()
            return request, fds
        for fd in fds:
            os.close(fd)
        conn.sendall(f"{pid}\n".encode())
        threading.Thread(target=_watch, args=(pid, conn), daemon=True).start()


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    size = int.from_bytes(data[:4], "big")
    body = bytearray(data[4:])
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("the client left mid-request")
        body += chunk
    return json.loads(body), list(fds)


def _watch(pid: int, conn: socket.socket) -> None:
    """Report the child's exit code to its client; kill the child if the client goes first."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd, conn], [], [])
        if conn in ready and pidfd not in ready:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
    finally:
        os.close(pidfd)
        conn.close()


def run_child(request: dict[str, Any], fds: list[int]) -> int:
    """Become `python -m congvan ARGS` started in the request's folder, environment and stdio."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    encoding = (os.environ.get("PYTHONIOENCODING") or "utf-8").split(":")[0] or "utf-8"
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                                 encoding=encoding)
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
                                                   encoding=encoding, line_buffering=os.isatty(1))
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
                                                   encoding=encoding, errors="backslashreplace", line_buffering=True)
    sys.path[0] = request["cwd"]  # as `python -m` puts the current folder first
    sys.argv = [sys.argv[0], *request["args"]]  # runpy puts the module's path first
    _settings_from_environment(request["imported_with"])
    try:
        runpy.run_module("congvan", run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        if exit.code is None or isinstance(exit.code, int):
            return exit.code or 0
        print(exit.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _settings_from_environment(imported_with: dict[str, str]) -> None:
    """Prefect read its settings and set up its logging at import, in the server's environment: where this
    command's differs, read them again, as its own import would have (with the logging level a flow command
    sets before importing Prefect). Only where it differs: setting up logging again costs 0.2 s."""
    from prefect.context import refresh_global_settings_context
    from prefect.logging import configuration

    def differ(prefix: str) -> bool:
        ours, theirs = ({k: v for k, v in {**PREFECT_AT_IMPORT, **env}.items() if k.startswith(prefix)}
                        for env in (os.environ, imported_with))
        return ours != theirs

    if not differ("PREFECT_"):
        return
    unset = [key for key in PREFECT_AT_IMPORT if key not in os.environ]
    os.environ.update({key: PREFECT_AT_IMPORT[key] for key in unset})
    refresh_global_settings_context()
    if differ("PREFECT_LOGGING_"):
        configuration.PROCESS_LOGGING_CONFIG.clear()
        configuration.setup_logging(incremental=False)
    for key in unset:
        del os.environ[key]


def end(code: int) -> None:
    """End as `python -m congvan` ends (threads joined, atexit handlers run, stdio flushed) without tearing
    down the 300,000 objects the server imported, which took 0.9 s a command."""
    threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter calls first at exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


# --- the client side, in the test process ---------------------------------------------------------

SHARED = "CONGVAN_TEST_FORK_SERVER"  # the socket of the run's one fork server, which the xdist controller starts


class ForkServer:
    """This process's fork server, started on first use; under pytest-xdist the controller starts one for the
    whole run (``conftest.pytest_configure``: its import, 6 s of CPU, once instead of once per worker), and the
    workers use it."""

    process: subprocess.Popen[bytes] | None = None
    socket: Path | None = None

    @classmethod
    def start(cls) -> Path:
        """Start a fork server without waiting for it (it imports for a few seconds); returns its socket."""
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="congvan-fork-"))
        cls.socket = folder / "socket"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONGVAN_")}
        cls.process = subprocess.Popen([sys.executable, __file__, str(cls.socket)], cwd=folder, env=env,
                                       stdin=subprocess.DEVNULL)
        atexit.register(cls.stop, cls.process, folder)
        return cls.socket

    @classmethod
    def path(cls) -> Path:
        shared = os.environ.get(SHARED)
        if shared:
            return _ready(Path(shared), None)
        if cls.process is None or cls.process.poll() is not None:
            cls.start()
        assert cls.socket is not None
        return _ready(cls.socket, cls.process)

    @staticmethod
    def stop(process: subprocess.Popen[bytes], folder: Path) -> None:
        import shutil

        process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _ready(path: Path, process: subprocess.Popen[bytes] | None, timeout: float = 180.0) -> Path:
    import time

    marker = Path(f"{path}.ready")
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the fork server exited {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the fork server at {path} was not ready within {timeout:.0f} s")
        time.sleep(0.05)
    return path


def cli_command(*args: str) -> list[str]:
    """The command line of ``python -m congvan ARGS`` forked from the tests' fork server; with
    ``CONGVAN_TEST_FRESH=1`` in the tests' environment, a fresh interpreter instead (to rule the fork out)."""
    if os.environ.get("CONGVAN_TEST_FRESH") == "1":
        return [sys.executable, "-m", "congvan", *args]
    return [sys.executable, "-S", "-E", str(Path(__file__).with_name("forked_cli.py")), str(ForkServer.path()),
            *args]



def cli_on_path(folder: Path) -> Path:
    """``folder`` holding a ``congvan`` that runs as cli_command does, to put first on PATH for shell commands."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "congvan"
    script.write_text("#!/bin/sh\nexec " + " ".join(f"'{part}'" for part in cli_command()) + ' "$@"\n',
                      encoding="utf-8")
    script.chmod(0o755)
    return folder


if __name__ == "__main__":
    preload()
    imported_with = dict(os.environ)
    gc.freeze()  # the imported objects stay out of every child's collections (and its copy-on-write pages)
    request, fds = serve(sys.argv[1])  # only a forked child gets past this line
    end(run_child({**request, "imported_with": imported_with}, fds))
