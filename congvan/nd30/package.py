"""A .docx package read with zipfile and lxml (not python-docx): its main part, relationships and parts,
each read on first use, never trusting the XML (no DTDs, entities or network).
"""

from __future__ import annotations

import hashlib
import posixpath
import zipfile
from dataclasses import dataclass

from lxml import etree

from congvan.nd30.model import _Element

# No DTDs, entities or network: a .docx to check may come from anywhere.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_OFFICE_DOCUMENT = "/officeDocument"


def parse_xml(blob: bytes) -> _Element:
    return etree.fromstring(blob, _PARSER)


class PartTarget:
    """A part of the package, read (inflated) on first use."""

    def __init__(self, package: zipfile.ZipFile | None, name: str) -> None:
        self.package, self.name = package, name
        self._blob: bytes | None = None if package is not None else b""

    @property
    def blob(self) -> bytes:
        if self._blob is None:
            assert self.package is not None
            self._blob = self.package.read(self.name)
        return self._blob

    def digest(self) -> bytes:
        """A digest of the part's stored (compressed) bytes, without inflating it: equal stored bytes are
        equal content, so a part identical in every letter of a template is recognised for the cost of
        hashing its compressed form. Falls back on the inflated content when the stored bytes cannot be
        read."""
        package = self.package
        if package is None:
            return hashlib.blake2b(b"", digest_size=16).digest()
        info = package.getinfo(self.name)
        fp = package.fp
        if fp is None or info.flag_bits & 0x1:  # closed, or encrypted
            return hashlib.blake2b(self.blob, digest_size=16).digest()
        fp.seek(info.header_offset)
        local = fp.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            return hashlib.blake2b(self.blob, digest_size=16).digest()
        skip = int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
        fp.seek(info.header_offset + 30 + skip)
        stored = fp.read(info.compress_size)
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{info.compress_type}:{info.file_size}:{info.CRC}:".encode())
        h.update(stored)
        return h.digest()


@dataclass(frozen=True)
class _Rel:
    reltype: str
    is_external: bool
    target_part: PartTarget


class Part:
    """What ``_section`` needs of a part: its relationships, targets read lazily from the package."""

    def __init__(self, package: zipfile.ZipFile, name: str) -> None:
        self.rels: dict[str, _Rel] = {}
        folder, _, base = name.rpartition("/")
        rels_name = f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"
        names = set(package.namelist())
        if rels_name not in names:
            return
        for rel in parse_xml(package.read(rels_name)):
            rid, target = rel.get("Id"), rel.get("Target", "")
            external = rel.get("TargetMode") == "External"
            if rid is None:
                continue
            member = _resolve(folder, target)
            if not external and member not in names:
                raise KeyError(f"There is no item named {member!r} in the archive")
            self.rels[rid] = _Rel(rel.get("Type", ""), external, PartTarget(None if external else package, member))


def main_part(package: zipfile.ZipFile) -> str:
    for rel in parse_xml(package.read("_rels/.rels")):
        if rel.get("Type", "").endswith(_OFFICE_DOCUMENT):
            return _resolve("", rel.get("Target", ""))
    raise KeyError("no main document part")


def _resolve(folder: str, target: str) -> str:
    """A relationship target as a name in the zip ("styles.xml" from "word" -> "word/styles.xml")."""
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join(folder, target)) if folder else posixpath.normpath(target)
