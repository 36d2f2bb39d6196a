"""The command line in the user's language: help texts, Typer's and Click's own words, usage errors.

Help texts are written in English where the commands are declared (docstrings, ``help=``); they are the
msgids, looked up in the catalogue when the command tree is built to run (``localised``). Click writes a few
words itself ("Usage:", "Error:", "Try … for help."): they are put in the user's language here too, so that
``congvan`` speaks one language from the first line to the last.
"""

from __future__ import annotations

import io
import re
import sys
from typing import Any

from congvan.i18n import N_, _, language

# Typer's own words (typer.core looks them up with gettext: pointed at our catalogue below).
TYPER_WORDS = (N_("Arguments"), N_("Options"), N_("Commands"), N_("default: {default}"), N_("required"),
               N_("Aborted!"), N_("env var: {var}"), N_("Usage: "), N_("Show this message and exit."),
               N_("Error: "), N_("Try '{command}' for help."))

# Click's usage errors, as (pattern, msgid): the message in the user's language, its values kept.
USAGE_ERRORS = (
    (re.compile(r"Missing argument '(?P<name>.+)'\."), N_("Missing argument '{name}'.")),
    (re.compile(r"Missing option '(?P<name>.+)'\."), N_("Missing option '{name}'.")),
    (re.compile(r"No such option: (?P<name>\S+)"), N_("No such option: {name}")),
    (re.compile(r"No such command '(?P<name>.+)'\."), N_("No such command '{name}'.")),
    (re.compile(r"Got unexpected extra arguments? \((?P<args>.+)\)"), N_("Got unexpected extra argument(s) ({args})")),
    (re.compile(r"Option '(?P<name>.+)' requires an argument\."), N_("Option '{name}' requires an argument.")),
    (re.compile(r"Invalid value for (?P<hint>'[^']+'): (?P<message>.+)"), N_("Invalid value for {hint}: {message}")),
    (re.compile(r"Missing command\."), N_("Missing command.")),
)


def run(app: Any, argv: list[str]) -> None:
    """Run the Typer app as ``congvan``, in the user's language."""
    import typer.main

    command = typer.main.get_command(app)
    if language() == "en":
        command.main(args=argv, prog_name="congvan")
        return
    _patch_typer()
    _translate(command)
    from click.exceptions import Abort, ClickException

    try:
        code = command.main(args=argv, prog_name="congvan", standalone_mode=False)
    except Abort:
        sys.stderr.write(_("Aborted!") + "\n")
        sys.exit(1)
    except ClickException as exc:
        buffer = io.StringIO()
        exc.show(file=buffer)
        sys.stderr.write(usage_error(buffer.getvalue()))
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def usage_error(text: str) -> str:
    """Click's usage error (usage line, hint, "Error: …") in the user's language."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith("Usage: "):
            line = _("Usage: ") + line.removeprefix("Usage: ")
        elif (hint := re.fullmatch(r"Try '(.+)' for help\.\n?", line)) is not None:
            line = _("Try '{command}' for help.").format(command=hint.group(1)) + "\n"
        elif line.startswith("Error: "):
            message = line.removeprefix("Error: ").rstrip("\n")
            for pattern, msgid in USAGE_ERRORS:
                found = pattern.match(message)
                if found is not None:
                    rest = message[found.end():]
                    guess = re.fullmatch(r"\s*\(?Did you mean (?:one of: )?(?P<name>.+?)\?\)?", rest)
                    message = _(msgid).format(**found.groupdict()) + (
                        " " + _("Did you mean {name}?").format(name=guess.group("name")) if guess else rest)
                    break
            line = _("Error: ") + message + "\n"
        out.append(line)
    return "".join(out)


def _translate(command: Any) -> None:
    """Every help text of the tree, in the user's language (the English text is the msgid)."""
    if getattr(command, "help", None):
        command.help = _(command.help)
    for param in getattr(command, "params", ()):
        if getattr(param, "help", None):
            param.help = _(param.help)
    for sub in getattr(command, "commands", {}).values():
        _translate(sub)


_patched = False


def _patch_typer() -> None:
    """Typer's words through our catalogue; Click's hard-coded "Usage: " and help option too."""
    global _patched
    if _patched:
        return
    _patched = True
    import typer.core
    from click import core as click_core
    from click import formatting

    typer.core._ = _  # type: ignore[attr-defined]
    click_core._ = _  # type: ignore[attr-defined]  # its section titles ("Commands")
    write_usage = formatting.HelpFormatter.write_usage

    def localised_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        write_usage(self, prog, args, _("Usage: ") if prefix is None else prefix)

    formatting.HelpFormatter.write_usage = localised_usage  # type: ignore[method-assign]
    get_help_option = click_core.Command.get_help_option

    def localised_help_option(self: Any, ctx: Any) -> Any:
        option = get_help_option(self, ctx)
        if option is not None and option.help == "Show this message and exit.":
            option.help = _("Show this message and exit.")
        return option

    click_core.Command.get_help_option = localised_help_option  # type: ignore[method-assign]
