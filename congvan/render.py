"""Rendering .docx templates with docxtpl's tag syntax, compiled once and rendered many times.

docxtpl reopens the template, re-runs its regex clean-up and recompiles Jinja on every render
(docs/design.md §4.1). Here each templated XML part is cleaned by docxtpl's own
``patch_xml`` and compiled once per process; a render only runs the compiled templates and
writes a new zip in which every other part is copied byte for byte from the template.

The Jinja environment is one per process: sandboxed (a template cannot reach Python
internals), autoescaping (``& < > " '`` in values come out exactly as given instead of being
dropped by a recovering XML parser) and StrictUndefined (a missing value is an error, never an
empty string). Every string in the context is NFC-normalised and stripped of characters XML
cannot hold.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
from docxtpl import DocxTemplate
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from lxml import etree

from congvan.content_cache import ContentCache
from congvan.errors import MissingFieldError, TemplateError
from congvan.i18n import _
from congvan.text import sanitize
from congvan.vndate import long_date, short_date

_ENV: SandboxedEnvironment | None = None
_ENV_LOCK = threading.Lock()


def _zero_pad(n: int) -> str:
    return f"{int(n):02d}"


def environment() -> SandboxedEnvironment:
    """The process's Jinja environment, built once and never mutated afterwards."""
    global _ENV
    with _ENV_LOCK:
        if _ENV is None:
            env = SandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined)
            env.filters["ngay_thang"] = long_date
            env.filters["ngay"] = short_date
            env.filters["so"] = _zero_pad
            _ENV = env
        return _ENV


_TAG_MARKERS = (b"{{", b"{%", b"{#")
_WORD_PART = re.compile(r"^word/[^/]+\.xml$")


def _docxtpl_cleaner() -> DocxTemplate:
    # patch_xml and resolve_listing use no per-document state; an unloaded instance serves them.
    return DocxTemplate(io.BytesIO())


@dataclass(frozen=True)
class _Part:
    info: zipfile.ZipInfo
    data: bytes | None  # copied as is
    template: jinja2.Template | None  # rendered
    is_word: bool


@dataclass(frozen=True)
class CompiledTemplate:
    path: Path
    parts: tuple[_Part, ...]
    fields: frozenset[str]  # top-level names the template uses
    static_zip: bytes  # the parts without tags, compressed once; each render appends the rest

    def missing(self, context: Mapping[str, Any]) -> set[str]:
        return set(self.fields) - set(context)

    def render_bytes(self, context: Mapping[str, Any]) -> bytes:
        missing = self.missing(context)
        if missing:
            raise MissingFieldError(template=self.path, fields=sorted(missing))
        ctx = sanitize(dict(context))
        cleaner = _docxtpl_cleaner()
        buf = io.BytesIO(self.static_zip)
        buf.seek(0, io.SEEK_END)
        with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as out:
            for part in self.parts:
                if part.template is not None:
                    out.writestr(part.info, self._render_part(part, ctx, cleaner))
        return buf.getvalue()

    def _render_part(self, part: _Part, ctx: Mapping[str, Any], cleaner: DocxTemplate) -> bytes:
        assert part.template is not None
        try:
            xml = part.template.render(ctx)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{part.info.filename}: {exc.message}", template=self.path) from exc
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(_("{part}: not allowed in a template: {error}").format(
                part=part.info.filename, error=exc), template=self.path) from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{part.info.filename}: {exc}", template=self.path) from exc
        except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
            # An expression in the template failed ({{ 1/0 }}, a huge range): the template's fault, one line.
            raise TemplateError(_("{part}: the template failed: {kind}: {error}").format(
                part=part.info.filename, kind=type(exc).__name__, error=exc), template=self.path) from exc
        if part.is_word:
            xml = re.sub(r"\n<w:p([ >])", r"<w:p\1", xml)
            xml = xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
            xml = cleaner.resolve_listing(xml)
        data = xml.encode("utf-8")
        try:  # strict: a broken part is an error here, not a silently truncated document later
            etree.fromstring(data)
        except etree.XMLSyntaxError as exc:
            raise TemplateError(_("{part}: rendering produced invalid XML: {error}").format(
                part=part.info.filename, error=exc), template=self.path) from exc
        return data

    def render_to(self, context: Mapping[str, Any], out: Path) -> Path:
        data = self.render_bytes(context)
        write_atomically(out, data)
        return out


def write_atomically(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a document; a file replaced keeps its
    permissions. ``durable``: on disk before the rename (a signed PDF, the units file), not just in the page cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def compile_template(path: Path) -> CompiledTemplate:
    return _compile(_read(path), path)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise TemplateError(_("template not found"), template=path) from exc
    except OSError as exc:  # a folder, a file it may not read
        raise TemplateError(_("not a .docx file ({error})").format(error=exc), template=path) from exc


def _compile(data: bytes, path: Path) -> CompiledTemplate:
    env = environment()
    cleaner = _docxtpl_cleaner()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise TemplateError(_("not a .docx file ({error})").format(error=exc), template=path) from exc
    parts: list[_Part] = []
    fields: set[str] = set()
    with archive:
        if "word/document.xml" not in archive.namelist():
            raise TemplateError(_("not a Word document (no word/document.xml)"), template=path)
        for info in archive.infolist():
            data = archive.read(info)
            if not (info.filename.endswith(".xml") and any(m in data for m in _TAG_MARKERS)):
                parts.append(_Part(info, data, None, False))
                continue
            is_word = bool(_WORD_PART.match(info.filename))
            try:
                src = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise TemplateError(_("{part} is not UTF-8").format(part=info.filename), template=path) from exc
            if is_word:
                src = cleaner.patch_xml(src)
                src = re.sub(r"<w:p([ >])", r"\n<w:p\1", src)
            try:
                tree = env.parse(src)
                fields |= meta.find_undeclared_variables(tree)
                template = env.from_string(tree)  # the tree just parsed: the same code as from the source, parsed once
            except jinja2.TemplateSyntaxError as exc:
                text = re.sub(r"<[^>]+>", "", (exc.source or src).splitlines()[max(exc.lineno - 1, 0)])
                raise TemplateError(_("{part}: {error} near {text!r}").format(part=info.filename, error=exc.message,
                                                                    text=text.strip()[:80]), template=path) from exc
            parts.append(_Part(info, None, template, is_word))
    static = io.BytesIO()
    with zipfile.ZipFile(static, "w", zipfile.ZIP_DEFLATED) as out:
        for part in parts:
            if part.data is not None:
                out.writestr(part.info, part.data)
    return CompiledTemplate(path=path, parts=tuple(parts), fields=frozenset(fields),
                            static_zip=static.getvalue())


# Compiled templates by their bytes: a copy of a template is compiled once, a changed file again.
_COMPILED: ContentCache[CompiledTemplate] = ContentCache()


def load_template(path: Path) -> CompiledTemplate:
    """The compiled template for ``path``, compiled once per process for the same bytes wherever they lie
    (hashing a template takes microseconds, compiling it 30 ms). The result names ``path`` in its errors."""
    compiled = _COMPILED.get(_read(path), lambda data: _compile(data, path))
    return compiled if compiled.path == path else replace(compiled, path=path)
