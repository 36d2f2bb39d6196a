"""openpyxl imported without numpy and Pillow (congvan/openpyxl_lean.py): what congvan reads and writes is the
same, the two are hidden from the importing thread only, and they still import afterwards."""

from __future__ import annotations

import threading

import pytest
from support import ROOT, fresh_python

from congvan.openpyxl_lean import _Hidden


def test_the_optional_libraries_are_hidden_from_the_importing_thread_only() -> None:
    hidden = _Hidden()
    for name in ("numpy", "numpy.core", "PIL", "PIL.Image"):
        with pytest.raises(ModuleNotFoundError):
            hidden.find_spec(name, None)
    assert hidden.find_spec("openpyxl", None) is None and hidden.find_spec("numpydoc", None) is None
    seen: list[object] = []
    other = threading.Thread(target=lambda: seen.append(hidden.find_spec("numpy", None)))
    other.start()
    other.join()
    assert seen == [None]  # another thread is told nothing: the usual finders answer it


def test_a_roster_is_read_and_a_workbook_written_without_numpy_which_still_imports_after() -> None:
    probe = """
import io, sys
from pathlib import Path
from congvan.config import load_campaign
from congvan import roster
from congvan.openpyxl_lean import openpyxl
config = Path("config")
campaign = load_campaign(config, "par-index-2022")
parsed = roster.read_roster(campaign, roster.roster_path(config, campaign))
print("rows", parsed.rows, "numpy" in sys.modules, "PIL" in sys.modules)
assert openpyxl() is sys.modules["openpyxl"]
import numpy, PIL.Image  # matplotlib's imports still work
wb = openpyxl().Workbook()
wb.active["A1"], wb.active["B1"] = "Sở Tài nguyên & Môi trường", 3
buffer = io.BytesIO()
wb.save(buffer)
sheet = openpyxl().load_workbook(buffer).active
print(sheet["A1"].value, sheet["B1"].value)
"""
    assert fresh_python(probe, cwd=ROOT) == ["rows 540 False False", "Sở Tài nguyên & Môi trường 3"]
