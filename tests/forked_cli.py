"""`python -m congvan ARGS` for the tests, forked from the fork server (tests/forkserver.py):
``python -S -E tests/forked_cli.py SOCKET ARGS``. This process hands the server its folder, environment,
stdin, stdout and stderr, forwards SIGINT and SIGTERM, and ends as the command ends (its exit code, or killed by
the same signal). Standard library only, no site packages: it starts in a few milliseconds."""

import json
import os
import signal
import socket
import sys


def main() -> None:
    path, args = sys.argv[1], sys.argv[2:]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    payload = json.dumps({"args": args, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    socket.send_fds(conn, [len(payload).to_bytes(4, "big") + payload], [0, 1, 2])
    replies = conn.makefile("r")
    pid = int(replies.readline())
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: os.kill(pid, received))
    code = int(replies.readline() or "1")
    if code < 0:  # killed by a signal: so is this process, as the caller of a fresh command would see
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


main()
