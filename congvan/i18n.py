"""Vietnamese by default: what a coordinator reads comes from a gettext catalogue (domain ``congvan``).

Source strings (msgids) stay English in the code, wrapped in ``_()``; their Vietnamese lives in
``congvan/locale/vi/LC_MESSAGES/congvan.po`` and the ``.mo`` compiled from it (``python -m congvan.i18n``
rewrites the ``.mo``; when it is missing, the ``.po`` is compiled in memory). The language: ``CONGVAN_LANG``
(``vi`` or ``en``) first; else English when ``LANGUAGE``, ``LC_ALL`` or ``LANG`` starts with ``en``; else
Vietnamese. It is read at each call, so a test or a command can switch it through the environment.

Only the standard library here: ``congvan --help`` imports this module and stays fast.
"""

from __future__ import annotations

import ast
import gettext
import os
import struct
from functools import cache
from pathlib import Path

DOMAIN = "congvan"
LOCALE_DIR = Path(__file__).parent / "locale"
PO_FILE = LOCALE_DIR / "vi" / "LC_MESSAGES" / f"{DOMAIN}.po"
MO_FILE = PO_FILE.with_suffix(".mo")
LANGUAGES = ("vi", "en")


def language() -> str:
    """``vi`` or ``en``, from the environment (see the module's docstring)."""
    chosen = os.environ.get("CONGVAN_LANG", "").strip().lower()
    if chosen in LANGUAGES:
        return chosen
    if any(os.environ.get(name, "").lower().startswith("en") for name in ("LANGUAGE", "LC_ALL", "LANG")):
        return "en"
    return "vi"


def _(message: str) -> str:
    """``message`` in the user's language (itself in English, or when the catalogue lacks it)."""
    return _catalogue(language()).gettext(message)


def N_(message: str) -> str:
    """Marks a msgid kept in a table and translated later with ``_()``; extraction finds it."""
    return message


STATUSES = {
    "sent": N_("sent"), "failed_permanent": N_("failed_permanent"), "failed_temporary": N_("failed_temporary"),
    "pending": N_("pending"), "planned": N_("planned"), "awaiting_approval": N_("awaiting_approval"),
    "moot": N_("moot"), "held": N_("held"), "bounced": N_("bounced"), "delayed": N_("delayed"),
    "displayed": N_("displayed"), "approved": N_("approved"), "rejected": N_("rejected"), "failed": N_("failed"),
    "not_sent": N_("not_sent"), "issued": N_("issued"), "superseded": N_("superseded"),
}


def status_word(status: str) -> str:
    """A delivery or action status as the user reads it ("failed_temporary" → "lỗi tạm thời")."""
    return _(STATUSES[status]) if status in STATUSES else status


# What the system says of a connection or a socket that failed ("Connection refused"): the operating system's
# words, in English whatever the locale (Python never sets LC_MESSAGES); shown through the catalogue.
OS_WORDS = (
    N_("Connection refused"), N_("timed out"), N_("No route to host"), N_("Network is unreachable"),
    N_("Name or service not known"), N_("Temporary failure in name resolution"), N_("Connection reset by peer"),
    N_("Cannot assign requested address"), N_("Host is down"), N_("Network is down"),
    N_("Connection unexpectedly closed"), N_("Address already in use"), N_("Permission denied"),
    N_("SMTP AUTH extension not supported by server."),
)


def os_words(text: str) -> str:
    """``text`` translated when it is one of ``OS_WORDS``, else as it is."""
    return _(text) if text in OS_WORDS else text


@cache
def _catalogue(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    if MO_FILE.is_file():
        with MO_FILE.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    import io

    return gettext.GNUTranslations(io.BytesIO(compile_po(PO_FILE.read_text(encoding="utf-8"))))


# --- the catalogue file -----------------------------------------------------------------------------------

def read_po(text: str) -> dict[str, str]:
    """msgid → msgstr of a .po file (the header under ""); fuzzy and obsolete entries are left out."""
    entries: dict[str, str] = {}
    msgid: list[str] | None = None
    msgstr: list[str] | None = None
    current: list[str] | None = None
    fuzzy = False

    def flush() -> None:
        nonlocal msgid, msgstr, fuzzy
        if msgid is None:
            return
        if msgstr is not None and not fuzzy:
            entries["".join(msgid)] = "".join(msgstr)
        msgid = msgstr = None
        fuzzy = False

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("msgid "):
            flush()
            msgid = current = [ast.literal_eval(line[6:])]
        elif line.startswith("msgstr "):
            msgstr = current = [ast.literal_eval(line[7:])]
        elif line.startswith('"') and current is not None:
            current.append(ast.literal_eval(line))
        elif line.startswith("#,") and "fuzzy" in line:
            flush()
            fuzzy = True
        elif msgstr is not None:  # a blank line or a comment ends the entry
            flush()
            current = None
    flush()
    return entries


def compile_po(text: str) -> bytes:
    """The GNU .mo bytes of a .po file's text (untranslated entries left out, as msgfmt does)."""
    entries = {k: v for k, v in read_po(text).items() if v}
    keys = sorted(entries)
    ids = [k.encode("utf-8") for k in keys]
    strs = [entries[k].encode("utf-8") for k in keys]
    header = 7 * 4
    table = 2 * 8 * len(keys)
    offset = header + table
    id_table: list[int] = []
    for b in ids:
        id_table += [len(b), offset]
        offset += len(b) + 1
    str_table: list[int] = []
    for b in strs:
        str_table += [len(b), offset]
        offset += len(b) + 1
    out = struct.pack("<7I", 0x950412DE, 0, len(keys), header, header + 8 * len(keys), 0, 0)
    out += struct.pack(f"<{len(id_table)}I", *id_table) + struct.pack(f"<{len(str_table)}I", *str_table)
    return out + b"".join(b + b"\0" for b in ids) + b"".join(b + b"\0" for b in strs)


def main() -> None:
    """``python -m congvan.i18n``: write the .mo from the .po."""
    MO_FILE.write_bytes(compile_po(PO_FILE.read_text(encoding="utf-8")))
    print(MO_FILE)


if __name__ == "__main__":
    main()
