"""One converter worker's go-between: runs under the system Python that has LibreOffice's ``uno``.

Not imported by congvan: ``congvan.pdf.worker`` starts it as ``python3 -I _bridge.py PIPE`` beside a
LibreOffice listening on the UNO pipe PIPE (Debian's python3-uno works only with /usr/bin/python3,
so the project venv cannot talk UNO itself). Standard library and ``uno`` only.

Protocol, one JSON object per line:
  out  {"ready": true}                           LibreOffice answered a real request (an empty Writer document)
  in   {"src": "/a.docx", "dst": "/a.pdf.part"}
  out  {"ok": true} | {"ok": false, "error": "...", "fatal": bool}
``fatal`` means LibreOffice itself is gone or broken; the bridge exits right after saying so.
End of input (the pool closing, or dying) makes the bridge stop LibreOffice and exit.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]
from com.sun.star.connection import NoConnectException  # type: ignore[import-not-found]

# LibreOffice may ignore terminate() when it hangs; then the whole process group goes.
STOP_GRACE_S = 10.0
# Import filters by suffix: never let LibreOffice guess, or garbage is "converted" as plain text.
IMPORT_FILTERS = {".docx": "MS Word 2007 XML", ".odt": "writer8"}


def props(**values: Any) -> tuple[Any, ...]:
    out = []
    for name, value in values.items():
        prop = PropertyValue()
        prop.Name, prop.Value = name, value
        out.append(prop)
    return tuple(out)


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def connect(pipe: str) -> Any:
    """The Desktop of the LibreOffice listening on ``pipe``; waits as long as it takes (the pool times us out)."""
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    while True:
        try:
            ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            return ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        except NoConnectException:
            time.sleep(0.05)


def probe(desktop: Any) -> None:
    """Open and close an empty Writer document: proof that LibreOffice really works, not just listens."""
    doc = desktop.loadComponentFromURL("private:factory/swriter", "_blank", 0, props(Hidden=True))
    doc.close(True)


def convert(desktop: Any, src: str, dst: str) -> None:
    suffix = os.path.splitext(src)[1].lower()
    if suffix not in IMPORT_FILTERS:
        raise ValueError(f"cannot convert {suffix or 'a file without suffix'} (only {', '.join(IMPORT_FILTERS)})")
    load = props(Hidden=True, ReadOnly=True, FilterName=IMPORT_FILTERS[suffix],
                 MacroExecutionMode=0, UpdateDocMode=0)  # never run macros or update links
    doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(src), "_blank", 0, load)
    if doc is None:
        raise ValueError(f"it does not open as {suffix} (damaged, or not that format)")
    try:
        doc.storeToURL(uno.systemPathToFileUrl(dst), props(FilterName="writer_pdf_Export"))
    finally:
        doc.close(True)


def message_of(exc: BaseException) -> str:
    text = str(getattr(exc, "Message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def alive(desktop: Any) -> bool:
    try:
        desktop.getFrames().getCount()
        return True
    except Exception:  # any failure here means the UNO link or LibreOffice is gone
        return False


def serve(desktop: Any) -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            convert(desktop, request["src"], request["dst"])
        except Exception as exc:  # reported to the pool, which decides; nothing is swallowed
            fatal = not alive(desktop)
            say({"ok": False, "error": message_of(exc), "fatal": fatal})
            if fatal:
                sys.exit(3)
        else:
            say({"ok": True})


def stop(desktop: Any) -> None:
    """Ask LibreOffice to quit. Unless it agrees, kill our process group (it and us) after a grace time:
    this also covers a pool that died without cleaning up, since its death ends our input."""
    timer = threading.Timer(STOP_GRACE_S, os.killpg, (os.getpgid(0), signal.SIGKILL))
    timer.start()
    try:
        desktop.terminate()
    except Exception as exc:  # LibreOffice is gone or broken: the timer ends it
        sys.stderr.write(f"terminate: {message_of(exc)}\n")
    else:
        timer.cancel()


def main() -> None:
    desktop = connect(sys.argv[1])
    try:
        probe(desktop)
        say({"ready": True})
        serve(desktop)
    finally:  # also when the pool is gone and writing to it failed
        stop(desktop)


if __name__ == "__main__":
    main()
