"""What the PDF step needs from the system, found once, and one clear line when something is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from congvan.errors import PdfError
from congvan.i18n import _

StrPath = str | os.PathLike[str]

# Debian's python3-uno works only with the system interpreter; TDF's own builds bundle program/python instead.
SYSTEM_PYTHON = Path("/usr/bin/python3")
# Vietnamese letters that Liberation v1 lacks (ơ, ư, ạ ... ỹ): only fonts-liberation2 has them.
VIETNAMESE_CHARSET = "1a1 1b0 1ea0 1ef9"
CHECK_TIMEOUT_S = 60.0


class Missing(NamedTuple):
    """Something the PDF step needs, and the Debian package that provides it."""

    what: str
    package: str


@dataclass(frozen=True)
class Toolchain:
    soffice: Path
    uno_python: Path


def find_soffice(soffice: StrPath = "soffice") -> Path | None:
    """``soffice`` as a path (searched on PATH when it is a bare name), or None when it is not there."""
    found = shutil.which(os.fspath(soffice))
    return Path(found) if found else None


def find_uno_python(soffice: Path | None, uno_python: StrPath | None = None) -> Path | None:
    """The interpreter that can ``import uno``: the one given, else LibreOffice's bundled one, else the system's."""
    candidates = [Path(uno_python)] if uno_python is not None else []
    if uno_python is None and soffice is not None:
        candidates.append(soffice.resolve().parent / "python")
    if uno_python is None:
        candidates.append(SYSTEM_PYTHON)
    for python in candidates:
        if python.is_file() and _succeeds([str(python), "-I", "-c", "import uno"]):
            return python
    return None


def which_missing(soffice: StrPath = "soffice", uno_python: StrPath | None = None) -> list[Missing]:
    """Everything the PDF step lacks on this machine; empty when it can run."""
    return _survey(soffice, uno_python)[1]


def check_available(soffice: StrPath = "soffice", uno_python: StrPath | None = None) -> Toolchain:
    """The programs to run, or ``PdfError`` with one line saying what to install."""
    toolchain, missing = _survey(soffice, uno_python)
    if toolchain is None or missing:
        packages = " ".join(dict.fromkeys(m.package for m in missing))
        raise PdfError(_("PDF conversion needs {what}: apt-get install {packages}").format(
            what=", ".join(m.what for m in missing), packages=packages))
    return toolchain


def _survey(soffice: StrPath, uno_python: StrPath | None) -> tuple[Toolchain | None, list[Missing]]:
    missing = []
    soffice_path = find_soffice(soffice)
    if soffice_path is None:
        missing.append(Missing(f"LibreOffice ({os.fspath(soffice)})", "libreoffice-writer-nogui"))
    python = find_uno_python(soffice_path, uno_python)
    if python is None:
        missing.append(Missing(_("the uno module for {python}").format(python=os.fspath(uno_python or SYSTEM_PYTHON)),
                               "python3-uno"))
    missing += [Missing(tool, "poppler-utils") for tool in ("pdfinfo", "pdftotext", "pdffonts")
                if shutil.which(tool) is None]
    if shutil.which("fc-list") is None:
        missing.append(Missing("fc-list", "fontconfig"))
    elif not _succeeds(["fc-list", "-q", f":family=Liberation Serif:charset={VIETNAMESE_CHARSET}"]):
        missing.append(Missing(_("Liberation Serif with Vietnamese letters"), "fonts-liberation2"))
    if soffice_path is None or python is None:
        return None, missing
    return Toolchain(soffice=soffice_path, uno_python=python), missing


def _succeeds(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=CHECK_TIMEOUT_S, check=False).returncode == 0
    except OSError:  # not executable: the caller reports it as missing
        return False
