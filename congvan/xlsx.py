"""openpyxl, imported without numpy where that is safe: the start-up of ``validate`` (which reads the roster).

openpyxl imports numpy when it is installed (matplotlib brings it) only to accept numpy numbers as cell values,
which congvan never writes; numpy costs a command 0.1 s and its threads' start-up. In a process with one
thread, openpyxl is first imported with numpy hidden, then numpy is visible again for whoever needs it; a
process with more threads (a flow's task runner) imports openpyxl the ordinary way, since another thread
could be importing numpy at that moment.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType


def openpyxl() -> ModuleType:
    """The openpyxl module, imported on first use."""
    if "openpyxl" not in sys.modules and "numpy" not in sys.modules and threading.active_count() == 1:
        sys.modules["numpy"] = None  # type: ignore[assignment]  # None here makes `import numpy` fail
        try:
            return importlib.import_module("openpyxl")
        finally:
            if sys.modules.get("numpy", sys) is None:
                del sys.modules["numpy"]
    return importlib.import_module("openpyxl")
