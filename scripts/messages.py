"""The catalogue's msgids, found in the code, and the .po kept in step with them.

``python scripts/messages.py`` adds every new msgid to congvan/locale/vi/LC_MESSAGES/congvan.po (with an empty
translation, to fill in), marks the ones no longer used as obsolete comments, and compiles the .mo.
tests/test_i18n.py fails while any msgid lacks its Vietnamese.

Msgids: the string literal given to ``_()``, ``_t()`` or ``N_()`` anywhere in congvan/ and flows/, and every
help text of the command tree (docstrings and ``help=``), which congvan/cli_i18n.py translates when it runs.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from congvan.i18n import MO_FILE, PO_FILE, compile_po, read_po  # noqa: E402

MARKERS = {"_", "_t", "N_"}


def code_msgids() -> dict[str, str]:
    """msgid → where it is first used ("congvan/cli.py:123")."""
    found: dict[str, str] = {}
    for folder in ("congvan", "flows"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKERS
                        and node.args and isinstance(node.args[0], ast.Constant)
                        and isinstance(node.args[0].value, str)):
                    found.setdefault(node.args[0].value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def help_msgids() -> dict[str, str]:
    """Every help text of ``congvan``'s command tree → the command it belongs to."""
    import typer.main

    from congvan.cli import app

    found: dict[str, str] = {}

    def walk(command: object, path: str) -> None:
        text = getattr(command, "help", None)
        if text:
            found.setdefault(text, path)
        for param in getattr(command, "params", ()):
            if getattr(param, "help", None):
                found.setdefault(param.help, f"{path} {param.name}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "congvan")
    return found


def all_msgids() -> dict[str, str]:
    return {**help_msgids(), **code_msgids()}


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    lines = escaped.split("\n")
    if len(lines) == 1:
        return f'"{escaped}"'
    parts = [line + "\\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    return '""\n' + "\n".join(f'"{p}"' for p in parts)


def write_po(translations: dict[str, str], used: dict[str, str]) -> str:
    header = translations.get("", "Content-Type: text/plain; charset=UTF-8\nLanguage: vi\n")
    out = ["# congvan: Vietnamese, the language a coordinator reads by default (see congvan/i18n.py).",
           "# Updated by scripts/messages.py; a msgid is the English in the code.",
           "msgid \"\"", f"msgstr {_quote(header)}", ""]
    for msgid in sorted(used, key=lambda m: (used[m], m)):
        out += [f"#: {used[msgid]}"]
        if "{" in msgid or "%" in msgid:
            out += ["#, python-brace-format"] if "{" in msgid else []
        out += [f"msgid {_quote(msgid)}", f"msgstr {_quote(translations.get(msgid, ''))}", ""]
    return "\n".join(out)


def main() -> None:
    used = all_msgids()
    translations = read_po(PO_FILE.read_text(encoding="utf-8")) if PO_FILE.exists() else {}
    PO_FILE.parent.mkdir(parents=True, exist_ok=True)
    text = write_po(translations, used)
    PO_FILE.write_text(text, encoding="utf-8")
    MO_FILE.write_bytes(compile_po(text))
    missing = [m for m in used if not translations.get(m)]
    print(f"{len(used)} msgid(s), {len(missing)} without Vietnamese; {PO_FILE}")


if __name__ == "__main__":
    main()
