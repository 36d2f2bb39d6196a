"""Vietnamese text as data to protect: NFC, XML-safe, header-safe."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

# Characters XML 1.0 forbids (tab, LF and CR are allowed). docxtpl's recovering parser silently
# drops them, and they can truncate a document, so they are removed before rendering.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Anything that would end or fold a mail header line: every line boundary of str.splitlines(),
# which parts of the email package use (so \x1c-\x1e count too).
_HEADER_BREAKS = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def clean(text: str) -> str:
    """NFC-normalise and strip characters XML cannot hold."""
    return _XML_INVALID.sub("", nfc(text))


def has_header_break(text: str) -> bool:
    return _HEADER_BREAKS.search(text) is not None


# What each header break is called, for a message that names the character a user cannot see.
_BREAK_NAMES = {"\r": "CR", "\n": "LF", "\x0b": "VT", "\x0c": "FF", "\x1c": "FS", "\x1d": "GS", "\x1e": "RS",
                "\x85": "NEL", "\u2028": "LINE SEPARATOR", "\u2029": "PARAGRAPH SEPARATOR"}


def header_break(text: str) -> str | None:
    """The first header break in ``text`` described for a person ("U+2028 LINE SEPARATOR at character 9"),
    or None when there is none."""
    found = _HEADER_BREAKS.search(text)
    if found is None:
        return None
    char = found.group()
    return f"U+{ord(char):04X} {_BREAK_NAMES[char]} at character {found.start() + 1}"


def one_line(text: str) -> str:
    """A name from a file or the command line as a one-line message shows it: as written, or quoted with
    escapes when it holds what one line cannot (a line break, a control character)."""
    return text if text.isprintable() else repr(text)


def sanitize(value: Any) -> Any:
    """Clean every string in a rendering context, recursively (lists, tuples, mappings)."""
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return clean(value)
    if isinstance(value, Mapping):
        return {k: sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize(v) for v in value]
    return value
