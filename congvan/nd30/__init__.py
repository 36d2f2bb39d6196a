"""Decree 30/2020/NĐ-CP format checker for .docx công văn."""

from congvan.nd30.formatting import DocumentModel, ParaFormat, RunFormat, SectionInfo, read_document
from congvan.nd30.rules import Violation, check, format_violation

__all__ = [
    "DocumentModel",
    "ParaFormat",
    "RunFormat",
    "SectionInfo",
    "Violation",
    "check",
    "format_violation",
    "read_document",
]
