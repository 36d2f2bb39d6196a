"""The estimate of whether a summary line fits its header cell reads the template once per version of the file."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest
from support import ROOT

from congvan.wrap import overlong_lines, summary_cell

LINE = "tham gia điều tra xã hội học"  # about 168 pt at 13 pt: fits 173 pt, not 101


def _narrow(template: Path, by_twips: int) -> None:
    """Rewrite ``template`` in place with the "V/v" cell ``by_twips`` narrower (a new file, as Word saves)."""
    with zipfile.ZipFile(template) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    xml = parts["word/document.xml"].decode("utf-8")
    at = xml.index("V/v")
    start = xml.rindex("<w:tcW ", 0, at)
    end = xml.index(">", start)
    tag = xml[start:end]
    width = int(re.search(r'w:w="(\d+)"', tag).group(1))  # type: ignore[union-attr]
    xml = xml[:start] + tag.replace(f'w:w="{width}"', f'w:w="{width - by_twips}"') + xml[end:]
    parts["word/document.xml"] = xml.encode("utf-8")
    template.unlink()
    with zipfile.ZipFile(template, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_a_template_changed_between_two_validations_is_read_again(tmp_path: Path) -> None:
    template = tmp_path / "cong_van.docx"
    shutil.copy(ROOT / "templates" / "cong_van.docx", template)
    before = summary_cell(template)
    assert before is not None and overlong_lines(template, [LINE]) == []
    assert summary_cell(template) is before  # read once while the file stays as it is
    _narrow(template, 1440)  # an inch narrower
    after = summary_cell(template)
    assert after is not None and after.width_pt == pytest.approx(before.width_pt - 72)
    (found,) = overlong_lines(template, [LINE])
    assert found[1] == f"V/v {LINE}"


def test_a_missing_or_broken_template_has_no_cell(tmp_path: Path) -> None:
    assert summary_cell(tmp_path / "missing.docx") is None
    (tmp_path / "broken.docx").write_bytes(b"not a zip")
    assert summary_cell(tmp_path / "broken.docx") is None
