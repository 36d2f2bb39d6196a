"""Every error congvan raises on purpose.

Catch ``CongVanError`` at the edges (the CLI, flows); its message is written for the person
running the tool, in one line, and names the file, row or field at fault.

    CongVanError
    ├── ConfigError            YAML missing, malformed, or rejected by validation (carries every Problem)
    ├── SourceDataError        a roster or response export cannot be read
    │   └── ImportRejected     (roster/importing.py) rows are wrong: nothing loaded; carries the report of every row
    ├── TemplateError          a .docx template is missing, malformed or will not render
    │   └── MissingFieldError  the context lacks fields the template uses
    ├── DocumentError          a .docx to check cannot be read
    │   ├── LayoutError        a generated letter breaks Decree 30: it must not be sent
    │   └── PdfError           LibreOffice is missing, failed, or produced a PDF that fails verification
    ├── StoreError             the database is unreachable, behind or ahead of this code, or refuses an operation
    │   ├── NotIssuedError     a document has no number in the register yet
    │   └── RegisterError      a register operation is refused (a number at or below one issued)
    ├── MailServerError        the SMTP server cannot be used at all (unreachable, TLS, login): nothing sent
    ├── SigningError           (signing/) a key, certificate, token, image or PDF to sign or verify is unusable
    ├── HeaderError            a value that cannot go into a mail header (also a ValueError)
    ├── MailboxError           the reply mailbox cannot be read over IMAP
    ├── UnreadableReport       a message is not a delivery report or read receipt congvan can trust: skipped
    ├── MailCatcherError       the built-in mail catcher cannot start
    ├── ApprovalError          an approval or rejection is refused: nothing awaits it, or it was decided already
    └── ScaffoldError          (congvan new) the new campaign cannot be made as asked: nothing written

A message the server refuses for one address is not an exception: it is that delivery's status in the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from congvan.i18n import _, language


class CongVanError(Exception):
    """Base class; the message is written for the person running the tool."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the configuration: where it is, and what is wrong. ``field`` is the path in the
    file as code sees it (``units[3].code``, items from 0); ``line`` and ``column`` (from 1) where the YAML
    says it, when known. Printed for people: "units.yaml: units[3].code: … (line 12, column 11)", in
    Vietnamese "units.yaml: units, mục 4, code: … (dòng 12, cột 11)"; a YAML syntax error:
    "units.yaml: line 12, column 3: …"."""

    file: str
    field: str
    message: str
    line: int | None = dc_field(default=None, compare=False)
    column: int | None = dc_field(default=None, compare=False)

    def __str__(self) -> str:
        at = None
        if self.line is not None:
            at = (_("line {line}, column {column}").format(line=self.line, column=self.column)
                  if self.column is not None else _("line {line}").format(line=self.line))
        if not self.field:  # a YAML syntax error: where it is stands in the field's place
            return ": ".join([self.file, *([at] if at else []), self.message])
        return f"{self.file}: {human_field(self.field)}: {self.message}" + (f" ({at})" if at else "")


_ITEM = re.compile(r"\[(\d+)\]")


def human_field(path: str) -> str:
    """``units[3].code`` as people count: "units, mục 4, code" in Vietnamese (English keeps the path)."""
    if language() == "en":
        return path
    text = _ITEM.sub(lambda m: ", " + _("item {n}").format(n=int(m.group(1)) + 1) + ", ", path)
    return re.sub(r",\s*,", ",", text.replace(".", ", ")).strip(", ")


class ConfigError(CongVanError):
    """The configuration is missing or invalid. ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        first = str(self.problems[0]) if self.problems else _("invalid configuration")
        more = len(self.problems) - 1
        super().__init__(first if more <= 0 else
                         _("{first} (and {more} more problem(s))").format(first=first, more=more))


class SourceDataError(CongVanError):
    """A roster or response export cannot be read."""


class TemplateError(CongVanError):
    def __init__(self, message: str, *, template: Path) -> None:
        super().__init__(f"{template}: {message}")
        self.template = template


class MissingFieldError(TemplateError):
    def __init__(self, *, template: Path, fields: Sequence[str]) -> None:
        self.fields = tuple(sorted(fields))
        super().__init__(_("the template needs field(s) the config lacks: {fields}").format(
            fields=", ".join(self.fields)), template=template)


class DocumentError(CongVanError):
    """A .docx to check or send cannot be read."""


class LayoutError(DocumentError):
    """A generated letter violates Decree 30 and must not be sent."""


class PdfError(DocumentError):
    """The PDF could not be produced, or what LibreOffice produced fails verification."""


class StoreError(CongVanError):
    """The database is unreachable or refused an operation."""


class NotIssuedError(StoreError):
    """The register holds no number for this document yet."""


class RegisterError(StoreError):
    """A register operation asked for is refused (a number at or below one issued, an unknown register)."""


class MailServerError(CongVanError):
    """The mail server cannot be used at all (unreachable, TLS, login): nothing was sent through it."""


class SigningError(CongVanError):
    """A signing identity, its certificate, key, token or images, or a PDF to sign or verify, cannot be used.

    ``subject`` names what is at fault (an identity such as ``ubnd-daklak/chu-tich``, or a file). The message is
    one line and never holds a password or PIN."""

    def __init__(self, message: str, *, subject: str) -> None:
        super().__init__(f"{subject}: {message}")
        self.subject = subject

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        # Raised in a signing process and reported by the flow's: rebuilt from its line, not prefixed twice.
        return (_signing_error, (str(self), self.subject))


def _signing_error(line: str, subject: str) -> SigningError:
    error = SigningError.__new__(SigningError)
    CongVanError.__init__(error, line)
    error.subject = subject
    return error


class HeaderError(CongVanError, ValueError):
    """A value that cannot go into a mail header (a line break, not an address): refused, never folded."""


class MailboxError(CongVanError):
    """The reply mailbox cannot be read (not configured, unreachable, login or TLS refused)."""


class UnreadableReport(CongVanError):
    """The message cannot be read as a report: skipped, with the reason as the message."""


class MailCatcherError(CongVanError):
    """The mail catcher cannot start (non-loopback host refused, port in use, bad options)."""


class ApprovalError(CongVanError):
    """An approval or rejection cannot be recorded: nothing of that campaign or unit awaits a decision,
    or someone decided it already (two approvals at once: the second is told who was first)."""


class ScaffoldError(CongVanError):
    """The new campaign cannot be made as asked (name taken, a file in the way): nothing was written."""
