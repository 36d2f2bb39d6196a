"""Decree 30/2020/NĐ-CP format checker for .docx công văn (and báo cáo: ``check(path, kind="bao_cao")``)."""

from congvan.nd30.formatting import read_document
from congvan.nd30.layout import DocumentKind
from congvan.nd30.model import DocumentModel, ParaFormat, RunFormat, SectionInfo
from congvan.nd30.rules import Checker, check
from congvan.nd30.violation import Violation, format_violation

__all__ = [
    "Checker",
    "DocumentKind",
    "DocumentModel",
    "ParaFormat",
    "RunFormat",
    "SectionInfo",
    "Violation",
    "check",
    "format_violation",
    "read_document",
]
