"""openpyxl, imported without the optional libraries congvan never asks it to use.

When numpy and Pillow are installed (matplotlib needs both, for the report's chart), ``import openpyxl`` loads
them too: numpy to accept numpy scalars as cell values, Pillow to put pictures in sheets. congvan writes Python
values and no pictures, and the two cost 50 ms of the 0.4 s a command such as ``validate`` may take
(bench/bench_startup.py). Hidden from the importing thread only, for the time of the import: another thread
importing numpy meanwhile gets it, and a later ``import numpy`` (the chart) works as usual.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

OPTIONAL = ("numpy", "PIL")  # what openpyxl tries to import, and does without


class _Hidden(importlib.abc.MetaPathFinder):
    """Says OPTIONAL is not installed, to one thread."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None,
                  ) -> ModuleSpec | None:
        if threading.get_ident() == self.thread and fullname.partition(".")[0] in OPTIONAL:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def openpyxl() -> ModuleType:
    """The ``openpyxl`` module, imported (once per process) without OPTIONAL unless something loaded them first."""
    loaded = sys.modules.get("openpyxl")
    if loaded is not None:
        return loaded
    hidden = _Hidden()
    sys.meta_path.insert(0, hidden)
    try:
        module = importlib.import_module("openpyxl")
    finally:
        sys.meta_path.remove(hidden)
    return module
